package writer

import (
	"context"
	"fmt"
	"slices"
	"sync"

	strand "github.com/strand-run/strand"
	"github.com/strand-run/strand/broker"
)

// Action is what Act does to each task it is given.
type Action string

// The actions, and the statuses each one applies to.
const (
	// ActionRetry resubmits failed and dead tasks (Handle.Resubmit).
	ActionRetry Action = "retry"
	// ActionCancel cancels pending, running and retrying tasks (Handle.Cancel).
	ActionCancel Action = "cancel"
	// ActionDelete removes finished tasks' records (Handle.Purge).
	ActionDelete Action = "delete"
)

// Statuses are the statuses of the tasks the action applies to.
func (a Action) Statuses() []strand.Status {
	switch a {
	case ActionRetry:
		return []strand.Status{strand.StatusFailed, strand.StatusDead}
	case ActionCancel:
		return []strand.Status{strand.StatusPending, strand.StatusRunning, strand.StatusRetrying}
	case ActionDelete:
		return []strand.Status{strand.StatusCompleted, strand.StatusFailed, strand.StatusDead, strand.StatusCancelled}
	}
	return nil
}

// Check refuses an unknown action.
func (a Action) Check() error {
	if a.Statuses() == nil {
		return fmt.Errorf("%w: action %q: want retry, cancel or delete", strand.ErrBadOption, a)
	}
	return nil
}

// Target is one task to act on; Queue may be "" (it is looked up).
type Target struct {
	Queue string `json:"queue,omitempty"`
	ID    string `json:"id"`
}

// ActResult is what an action did to one task.
type ActResult struct {
	Target
	NewID string // the new task of a retry
	Err   error  // nil when it was done
}

// DefaultSelectMax is how many tasks Select returns at most unless asked.
const DefaultSelectMax = 10_000

// Select lists the tasks that match f among those the action applies to
// (f.Status, when set, must be one of them), newest first, at most max
// (DefaultSelectMax when 0), reading every page of broker.Browse. more is
// set when more tasks matched than max.
func (w *Writer) Select(ctx context.Context, a Action, f broker.TaskFilter, max int) (targets []Target, more bool, err error) {
	if err := a.Check(); err != nil {
		return nil, false, err
	}
	if max <= 0 {
		max = DefaultSelectMax
	}
	statuses := a.Statuses()
	if f.Status != "" {
		if !slices.Contains(statuses, f.Status) {
			return nil, false, fmt.Errorf("%w: %s applies to %v tasks, not %s", strand.ErrBadOption, a, statuses, f.Status)
		}
		statuses = []strand.Status{f.Status}
	}
	for _, st := range statuses {
		f.Status = st
		cursor := ""
		for {
			p, err := w.b.Browse(ctx, f, broker.MaxPageSize, cursor, broker.MaxScan)
			if err != nil {
				return nil, false, err
			}
			for _, t := range p.Tasks {
				if len(targets) == max {
					return targets, true, nil
				}
				targets = append(targets, Target{Queue: t.Queue, ID: t.ID})
			}
			if p.Next == "" {
				break
			}
			cursor = p.Next
		}
	}
	return targets, false, nil
}

// actAtOnce bounds the tasks Act works on at once.
const actAtOnce = 16

// Act does the action to each target, a few at once, and says what it did
// to each, in order. A task the action does not apply to (a retry of a
// completed task, a cancel of a finished one) gets its error, and the
// others go on.
func (w *Writer) Act(ctx context.Context, a Action, targets []Target) ([]ActResult, error) {
	if err := a.Check(); err != nil {
		return nil, err
	}
	out := make([]ActResult, len(targets))
	sem := make(chan struct{}, actAtOnce)
	var wg sync.WaitGroup
	for i, t := range targets {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			out[i] = w.act(ctx, a, t)
		})
	}
	wg.Wait()
	return out, nil
}

func (w *Writer) act(ctx context.Context, a Action, t Target) ActResult {
	res := ActResult{Target: t}
	var opts []strand.Option
	if t.Queue != "" {
		opts = append(opts, strand.Queue(t.Queue))
	}
	h, err := w.open(t.ID, opts)
	if err != nil {
		res.Err = err
		return res
	}
	switch a {
	case ActionRetry:
		nh, err := h.Resubmit(ctx)
		if nh != nil {
			res.NewID = nh.ID()
		}
		res.Err = err
	case ActionCancel:
		res.Err = h.Cancel(ctx)
	case ActionDelete:
		res.Err = h.Purge(ctx)
	}
	if res.Queue == "" {
		res.Queue = h.Queue()
	}
	return res
}
