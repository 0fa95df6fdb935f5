package dispatch

import (
	"context"
	"errors"
	"fmt"
	"sync"

	strand "github.com/strand-run/strand"
	"github.com/strand-run/strand/writer"
)

// batcher is a runner that submits many calls at once: *writer.Writer.
type batcher interface {
	SubmitBatch(ctx context.Context, calls []writer.Call) ([]strand.Handle, []error)
}

// Submit submits every call to r and returns the group of their tasks, in
// call order. On a *writer.Writer the calls go in one pipeline (about one
// round trip, writer.SubmitBatch); on another runner (runner.Pool, …) one
// by one. A call the runner refuses (a bad option, a duplicate id, too
// large) does not stop the others: it is a failed member of the group,
// whose outcome has the refusal as its Err. Submit fails only when no call
// could be submitted.
func Submit(ctx context.Context, r strand.Runner, calls []writer.Call) (*Group, error) {
	var hs []strand.Handle
	var errs []error
	if b, ok := r.(batcher); ok {
		hs, errs = b.SubmitBatch(ctx, calls)
	} else {
		hs, errs = make([]strand.Handle, len(calls)), make([]error, len(calls))
		for i, c := range calls {
			hs[i], errs[i] = r.Submit(ctx, c.Func, c.Args, c.Opts...)
		}
	}
	g := &Group{handles: make([]strand.Handle, len(calls)), outcomes: make([]*strand.Outcome, len(calls)),
		changed: make(chan struct{}, 1)}
	submitted := 0
	for i, err := range errs {
		if err != nil {
			g.outcomes[i] = &strand.Outcome{Status: strand.StatusFailed, Err: err}
			continue
		}
		g.handles[i] = hs[i]
		submitted++
	}
	if submitted == 0 && len(calls) > 0 {
		return nil, fmt.Errorf("dispatch: %w", errors.Join(errs...))
	}
	return g, nil
}

// Group is the set of tasks of one Submit. Its methods are safe for
// concurrent use, and may be called from a Wait predicate.
type Group struct {
	handles []strand.Handle // nil where the submission failed

	mu       sync.Mutex
	outcomes []*strand.Outcome // nil until the task's outcome is known
	changed  chan struct{}
}

// Handles returns the tasks' handles in call order, nil where the
// submission was refused: each task's live status, progress, items.
func (g *Group) Handles() []strand.Handle { return append([]strand.Handle(nil), g.handles...) }

// Outcomes returns each task's outcome in call order, as far as the group
// knows it: nil for a task whose outcome has not arrived, a failed outcome
// whose Err is the refusal for a refused submission. An outcome's Decode
// gives its result, or its error.
func (g *Group) Outcomes() []*strand.Outcome {
	g.mu.Lock()
	defer g.mu.Unlock()
	return append([]*strand.Outcome(nil), g.outcomes...)
}

// Count is how many tasks have one of the statuses; a task whose outcome
// has not arrived counts as pending.
func (g *Group) Count(statuses ...strand.Status) int {
	g.mu.Lock()
	defer g.mu.Unlock()
	n := 0
	for _, o := range g.outcomes {
		st := strand.StatusPending
		if o != nil {
			st = o.Status
		}
		for _, s := range statuses {
			if s == st {
				n++
				break
			}
		}
	}
	return n
}

// pending is how many tasks have no outcome yet.
func (g *Group) pending() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	n := 0
	for _, o := range g.outcomes {
		if o == nil {
			n++
		}
	}
	return n
}

// record keeps task i's outcome, the first one known.
func (g *Group) record(i int, o *strand.Outcome) {
	g.mu.Lock()
	if g.outcomes[i] == nil {
		g.outcomes[i] = o
	}
	g.mu.Unlock()
	select {
	case g.changed <- struct{}{}:
	default:
	}
}

// Wait blocks until every task of the group has an outcome, or until
// until (if not nil) returns true, or ctx ends:
//
//	err := g.Wait(ctx, nil) // all of them
//	err = g.Wait(ctx, func(g *dispatch.Group) bool { return g.Count(strand.StatusFailed) > 0 })
//
// until is called once at the start and after each outcome that arrives,
// with no lock held, so it may call the group's methods (Count, Outcomes).
// A predicate that stops early leaves the other tasks running: CancelRest
// cancels them.
func (g *Group) Wait(ctx context.Context, until func(*Group) bool) error {
	pred := until
	if pred != nil && pred(g) {
		return nil
	}
	wctx, stop := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer func() { stop(); wg.Wait() }() // the watchers end with the wait
	for i, o := range g.Outcomes() {
		if o != nil {
			continue
		}
		h := g.handles[i]
		wg.Go(func() {
			if o, err := h.Wait(wctx); err == nil {
				g.record(i, o)
			}
		})
	}
	for {
		n := g.pending()
		if n == 0 || (pred != nil && pred(g)) {
			return nil
		}
		select {
		case <-g.changed:
		case <-ctx.Done():
			return fmt.Errorf("dispatch: %d of %d tasks pending: %w", n, len(g.handles), ctx.Err())
		}
	}
}

// CancelRest cancels every task without an outcome yet: pending ones never
// run, running ones have their ctx cancelled. A task that finished in the
// meantime keeps its outcome. It returns how many tasks it cancelled.
func (g *Group) CancelRest(ctx context.Context) (int, error) {
	var (
		wg        sync.WaitGroup
		mu        sync.Mutex
		cancelled int
		errs      []error
	)
	sem := make(chan struct{}, 32)
	for i, o := range g.Outcomes() {
		if o != nil {
			continue
		}
		h := g.handles[i]
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			err := h.Cancel(ctx)
			if err != nil && !errors.Is(err, strand.ErrFinished) {
				mu.Lock()
				errs = append(errs, err)
				mu.Unlock()
				return
			}
			if err == nil {
				mu.Lock()
				cancelled++
				mu.Unlock()
			}
			// Either way the task has an outcome now: read it.
			if o, werr := h.Wait(ctx); werr == nil {
				g.record(i, o)
			}
		})
	}
	wg.Wait()
	return cancelled, errors.Join(errs...)
}
