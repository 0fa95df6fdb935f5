package dispatch

import (
	"context"
	"errors"
	"fmt"
	"sync"

	strand "github.com/strand-run/strand"
	"github.com/strand-run/strand/codec"
	"github.com/strand-run/strand/writer"
)

// Dispatcher submits groups of tasks through one writer.
type Dispatcher struct {
	w *writer.Writer
}

// New returns a dispatcher that submits through w.
func New(w *writer.Writer) *Dispatcher { return &Dispatcher{w: w} }

// Submit queues every call in one pipeline and returns the group of their
// tasks, in call order. A call the server refuses (a duplicate id, too
// large) does not stop the others: it is a failed member of the group, its
// error in Errors. Submit fails only when no call could be submitted.
func (d *Dispatcher) Submit(ctx context.Context, calls []writer.Call) (*Group, error) {
	hs, errs := d.w.SubmitBatch(ctx, calls)
	g := &Group{
		calls:    calls,
		handles:  hs,
		outcomes: make([]*codec.Outcome, len(calls)),
		formats:  make([]codec.Format, len(calls)),
		errs:     make([]error, len(calls)),
		changed:  make(chan struct{}, 1),
	}
	submitted := 0
	for i, err := range errs {
		if err != nil {
			g.errs[i] = err
			continue
		}
		submitted++
	}
	if submitted == 0 && len(calls) > 0 {
		return nil, fmt.Errorf("dispatch: %w", errors.Join(errs...))
	}
	return g, nil
}

// Group is the set of tasks of one Submit. Its methods are safe for
// concurrent use, and may be called from a WaitUntil predicate.
type Group struct {
	calls   []writer.Call
	handles []*writer.Handle // nil where the submission failed

	mu       sync.Mutex
	outcomes []*codec.Outcome // nil until the task's outcome is known
	formats  []codec.Format
	errs     []error // submission errors
	changed  chan struct{}
}

// Len is the number of tasks in the group, refused submissions included.
func (g *Group) Len() int { return len(g.calls) }

// IDs returns the task ids in call order ("" where the submission failed).
func (g *Group) IDs() []string {
	ids := make([]string, len(g.handles))
	for i, h := range g.handles {
		if h != nil {
			ids[i] = h.ID()
		}
	}
	return ids
}

// Handle returns the handle of task i (nil where the submission failed).
func (g *Group) Handle(i int) *writer.Handle { return g.handles[i] }

// done reports whether task i needs no more waiting: refused, or with an outcome.
func (g *Group) done(i int) bool { return g.errs[i] != nil || g.outcomes[i] != nil }

// Wait blocks until every task of the group has a terminal status, or ctx ends.
func (g *Group) Wait(ctx context.Context) error { return g.WaitUntil(ctx, nil) }

// WaitUntil blocks until every task has a terminal status, or until pred
// returns true, or ctx ends. pred is called once at the start and after
// each outcome that arrives, with no lock held, so it may call the group's
// methods (Completed, Failed, Statuses, …). A predicate that stops early
// leaves the other tasks running: CancelRest cancels them.
func (g *Group) WaitUntil(ctx context.Context, pred func(*Group) bool) error {
	if pred != nil && pred(g) {
		return nil
	}
	wctx, stop := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer func() { stop(); wg.Wait() }() // the watchers end with the wait
	g.mu.Lock()
	for i, h := range g.handles {
		if g.done(i) {
			continue
		}
		wg.Go(func() {
			o, f, err := h.Wait(wctx)
			if err != nil {
				return
			}
			g.mu.Lock()
			if g.outcomes[i] == nil {
				g.outcomes[i], g.formats[i] = o, f
			}
			g.mu.Unlock()
			select {
			case g.changed <- struct{}{}:
			default:
			}
		})
	}
	g.mu.Unlock()
	for {
		if g.Pending() == 0 || (pred != nil && pred(g)) {
			return nil
		}
		select {
		case <-g.changed:
		case <-ctx.Done():
			return fmt.Errorf("dispatch: %d of %d tasks pending: %w", g.Pending(), g.Len(), ctx.Err())
		}
	}
}

// CancelRest cancels every task without an outcome yet: pending ones never
// run, running ones have their ctx cancelled. A task that finished in the
// meantime keeps its outcome. It returns how many tasks it cancelled.
func (g *Group) CancelRest(ctx context.Context) (int, error) {
	g.mu.Lock()
	var rest []int
	for i := range g.handles {
		if !g.done(i) {
			rest = append(rest, i)
		}
	}
	g.mu.Unlock()
	var (
		wg        sync.WaitGroup
		mu        sync.Mutex
		cancelled int
		errs      []error
	)
	sem := make(chan struct{}, 32)
	for _, i := range rest {
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
			// Either way the task has an outcome now: read it.
			o, f, oerr := h.Outcome(ctx)
			if oerr != nil || o == nil {
				return
			}
			g.mu.Lock()
			if g.outcomes[i] == nil {
				g.outcomes[i], g.formats[i] = o, f
			}
			g.mu.Unlock()
			if err == nil {
				mu.Lock()
				cancelled++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	return cancelled, errors.Join(errs...)
}

// status is task i's status as known to the group; g.mu is held.
func (g *Group) status(i int) strand.Status {
	switch {
	case g.errs[i] != nil:
		return strand.StatusFailed
	case g.outcomes[i] != nil:
		return g.outcomes[i].Status
	}
	return strand.StatusPending
}

// Statuses returns each task's status as known to the group, in call order:
// the terminal status of a task whose outcome arrived, pending for the
// others (ask the task's Handle for its live state), failed for a refused
// submission.
func (g *Group) Statuses() []strand.Status {
	g.mu.Lock()
	defer g.mu.Unlock()
	st := make([]strand.Status, len(g.calls))
	for i := range st {
		st[i] = g.status(i)
	}
	return st
}

// Errors returns each task's error in call order: the submission's error,
// or the outcome's (a *strand.TaskError), nil for completed and unfinished tasks.
func (g *Group) Errors() []error {
	g.mu.Lock()
	defer g.mu.Unlock()
	errs := make([]error, len(g.calls))
	for i := range errs {
		errs[i] = g.err(i)
	}
	return errs
}

func (g *Group) err(i int) error {
	if g.errs[i] != nil {
		return g.errs[i]
	}
	o := g.outcomes[i]
	if o == nil || o.Status == strand.StatusCompleted {
		return nil
	}
	if o.Error != nil {
		return o.Error.Err()
	}
	return &strand.TaskError{Kind: strand.Kind(o.Status), Message: fmt.Sprintf("task %s %s", g.handles[i].ID(), o.Status)}
}

// Results returns each completed task's result decoded into plain Go values
// (as codec.ToAny), in call order; nil for the other tasks and for results
// that cannot be decoded. Result decodes one into a typed value.
func (g *Group) Results() []any {
	g.mu.Lock()
	defer g.mu.Unlock()
	rs := make([]any, len(g.calls))
	for i, o := range g.outcomes {
		if o != nil && o.Status == strand.StatusCompleted {
			rs[i], _ = codec.ToAny(g.formats[i], o.Result)
		}
	}
	return rs
}

// Result decodes task i's result into out (a pointer). It returns the
// task's error if it did not complete, and an error wrapping
// strand.ErrNotFound while its outcome is not known to the group.
func (g *Group) Result(i int, out any) error {
	g.mu.Lock()
	o, f, err := g.outcomes[i], g.formats[i], g.err(i)
	g.mu.Unlock()
	switch {
	case err != nil:
		return err
	case o == nil:
		return fmt.Errorf("task %d: no outcome yet: %w", i, strand.ErrNotFound)
	case out == nil || o.Result.IsNil():
		return nil
	}
	return codec.DecodeValue(f, o.Result, out, false)
}

func (g *Group) count(match func(strand.Status) bool) int {
	g.mu.Lock()
	defer g.mu.Unlock()
	n := 0
	for i := range g.calls {
		if match(g.status(i)) {
			n++
		}
	}
	return n
}

// Completed is how many tasks completed.
func (g *Group) Completed() int {
	return g.count(func(s strand.Status) bool { return s == strand.StatusCompleted })
}

// Failed is how many tasks ended failed or dead (refused submissions included).
func (g *Group) Failed() int {
	return g.count(func(s strand.Status) bool { return s == strand.StatusFailed || s == strand.StatusDead })
}

// Cancelled is how many tasks ended cancelled.
func (g *Group) Cancelled() int {
	return g.count(func(s strand.Status) bool { return s == strand.StatusCancelled })
}

// Pending is how many tasks have no outcome yet (queued, running or retrying).
func (g *Group) Pending() int {
	return g.count(func(s strand.Status) bool { return !s.Terminal() })
}
