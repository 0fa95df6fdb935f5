package inspect

import (
	"context"
	"fmt"
	"slices"
	"sync"

	strand "github.com/strand-run/strand"
	"github.com/strand-run/strand/broker"
	"github.com/strand-run/strand/codec"
)

// Action is what Act does to each task it is given.
type Action string

// The actions, and the statuses each one applies to.
const (
	// ActionRetry resubmits failed and dead tasks (Resubmit).
	ActionRetry Action = "retry"
	// ActionCancel cancels pending, running and retrying tasks.
	ActionCancel Action = "cancel"
	// ActionDelete removes finished tasks' records (Purge).
	ActionDelete Action = "delete"
)

// statuses are the statuses of the tasks the action applies to; nil for
// an unknown action.
func (a Action) statuses() []strand.Status {
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

// Check refuses an unknown action with an error wrapping strand.ErrBadOption.
func (a Action) Check() error {
	if a.statuses() == nil {
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

// MaxSelect is the most tasks Select returns, and its default.
const MaxSelect = 10_000

// Select lists the tasks that match f among those the action applies to
// (f.Status, when set, must be one of them), newest first, at most max
// (MaxSelect when 0 or more), reading every page of Tasks. more is set
// when more tasks matched than max.
func (in *Inspector) Select(ctx context.Context, a Action, f Filter, max int) (targets []Target, more bool, err error) {
	if err := a.Check(); err != nil {
		return nil, false, err
	}
	if max <= 0 || max > MaxSelect {
		max = MaxSelect
	}
	statuses := a.statuses()
	if f.Status != "" {
		if !slices.Contains(statuses, f.Status) {
			return nil, false, fmt.Errorf("%w: %s applies to %v tasks, not %s", strand.ErrBadOption, a, statuses, f.Status)
		}
		statuses = []strand.Status{f.Status}
	}
	bf := f.broker()
	for _, st := range statuses {
		bf.Status = st
		cursor := ""
		for {
			p, err := in.b.Browse(ctx, bf, broker.MaxPageSize, cursor, broker.MaxScan)
			if err != nil {
				return nil, false, fmt.Errorf("select: %w", err)
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
// completed task, a cancel of a finished one) gets its error
// (ErrNotRetryable, strand.ErrFinished, ErrNotFinished, strand.ErrNotFound),
// and the others go on. Only an unknown action fails Act itself.
func (in *Inspector) Act(ctx context.Context, a Action, targets []Target) ([]ActResult, error) {
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
			out[i] = in.act(ctx, a, t)
		})
	}
	wg.Wait()
	return out, nil
}

func (in *Inspector) act(ctx context.Context, a Action, t Target) ActResult {
	res := ActResult{Target: t}
	if err := codec.ValidID(t.ID); err != nil {
		res.Err = fmt.Errorf("%s %s: %w", a, t.ID, err)
		return res
	}
	if res.Queue == "" {
		q, err := in.b.Locate(ctx, t.ID)
		if err != nil {
			res.Err = fmt.Errorf("%s %s: %w", a, t.ID, err)
			return res
		}
		if q == "" {
			res.Err = fmt.Errorf("%s %s: %w", a, t.ID, strand.ErrNotFound)
			return res
		}
		res.Queue = q
	}
	switch a {
	case ActionRetry:
		nt, err := in.resubmit(ctx, res.Queue, t.ID)
		if nt != nil {
			res.NewID = nt.ID
		}
		res.Err = err
	case ActionCancel:
		_, res.Err = in.cancel(ctx, res.Queue, t.ID)
	case ActionDelete:
		res.Err = in.purge(ctx, res.Queue, t.ID)
	}
	return res
}
