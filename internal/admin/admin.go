// Package admin holds what inspect, the gateway and the CLI share about
// the bulk actions on tasks: the actions' names, the statuses each one
// applies to, and the most tasks one selection holds.
package admin

import (
	"context"
	"fmt"
	"slices"

	strand "github.com/strand-run/strand"
	"github.com/strand-run/strand/internal/broker"
)

// The bulk actions (inspect.Inspector.Act, `strand tasks retry|cancel|delete`,
// POST /v1/tasks/actions).
const (
	Retry  = "retry"  // resubmit failed and dead tasks
	Cancel = "cancel" // cancel pending, running and retrying tasks
	Delete = "delete" // remove finished tasks' records
)

// MaxSelect is the most tasks one selection (Select)
// returns, and its default.
const MaxSelect = 10_000

// Statuses are the statuses of the tasks action applies to; nil for an
// unknown action.
func Statuses(action string) []strand.Status {
	switch action {
	case Retry:
		return []strand.Status{strand.StatusFailed, strand.StatusDead}
	case Cancel:
		return []strand.Status{strand.StatusPending, strand.StatusRunning, strand.StatusRetrying}
	case Delete:
		return []strand.Status{strand.StatusCompleted, strand.StatusFailed, strand.StatusDead, strand.StatusCancelled}
	}
	return nil
}

// CheckAction refuses an unknown action with an error wrapping
// strand.ErrBadOption.
func CheckAction(action string) error {
	if Statuses(action) == nil {
		return fmt.Errorf("%w: action %q: want retry, cancel or delete", strand.ErrBadOption, action)
	}
	return nil
}

// Select lists the tasks that match f among those action applies to,
// newest first, reading every page: what `strand tasks ACTION` and POST
// /v1/tasks/actions act on when given a filter. f.Status, when set, must be
// one of the action's statuses. It returns at most max tasks (MaxSelect
// when 0 or more); more is set when more matched. An unknown action or a
// bad filter is refused with an error wrapping strand.ErrBadOption.
func Select(ctx context.Context, b *broker.Broker, action string, f broker.TaskFilter, max int) (tasks []broker.TaskSummary, more bool, err error) {
	if err := CheckAction(action); err != nil {
		return nil, false, err
	}
	if max <= 0 || max > MaxSelect {
		max = MaxSelect
	}
	statuses := Statuses(action)
	if f.Status != "" {
		if !slices.Contains(statuses, f.Status) {
			return nil, false, fmt.Errorf("%w: %s applies to %v tasks, not %s", strand.ErrBadOption, action, statuses, f.Status)
		}
		statuses = []strand.Status{f.Status}
	}
	for _, st := range statuses {
		f.Status = st
		cursor := ""
		for {
			p, err := b.Browse(ctx, f, broker.MaxPageSize, cursor, broker.MaxScan)
			if err != nil {
				return nil, false, fmt.Errorf("select: %w", err)
			}
			for _, t := range p.Tasks {
				if len(tasks) == max {
					return tasks, true, nil
				}
				tasks = append(tasks, t)
			}
			if p.Next == "" {
				break
			}
			cursor = p.Next
		}
	}
	return tasks, false, nil
}
