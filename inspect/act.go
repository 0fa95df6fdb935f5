package inspect

import (
	"context"
	"fmt"
	"sync"

	strand "github.com/strand-run/strand"
	"github.com/strand-run/strand/internal/admin"
	"github.com/strand-run/strand/internal/codec"
)

// ActResult is what an action did to one task.
type ActResult struct {
	ID    string // the task's id
	Queue string // its queue ("" when it was not found)
	NewID string // the new task of a retry or a replay
	Err   error  // nil when it was done
}

// actReplay is the action of Act that replays dead letters; the gateway's
// and CLI's bulk actions (internal/admin) are the other three.
const actReplay = "replay"

// actAtOnce bounds the tasks Act works on at once.
const actAtOnce = 16

// Act does action ("retry", "cancel", "delete" or "replay") to each task
// (of which only ID, and Queue when known, are read: a Task of Tasks or
// DeadLetters, or inspect.Task{ID: id}), and says what it did to each, in
// order:
//   - "retry" runs a failed or dead task again: a new task under a new id,
//     in the same queue, with the same call and options, and meta
//     resubmit_of = the old id. The envelope is the one the task's outcome
//     keeps; a dead task that still has its dead letter is replayed from it
//     (as "replay" does, meta replay_of), which deletes the dead letter. The
//     old outcome stays.
//   - "cancel" cancels a pending, running or retrying task, as a writer's
//     Handle.Cancel does.
//   - "delete" removes a finished task's records now instead of when their
//     TTLs end: its outcome or cancellation, its state and its streamed
//     items; the id is free again at once.
//   - "replay" submits dead tasks again from their dead letters, read
//     once for them all (so it works after their outcomes expired): the
//     same call and options under a new id, with meta replay_of = the old
//     id, and removes their dead letters. A task with no dead letter gets an
//     error wrapping strand.ErrNotFound. To replay every dead letter, give
//     Act what DeadLetters lists.
//
// A task the action does not apply to gets its error and the others go on:
// ErrWrongState for a retry of a task that did not fail (or whose outcome
// keeps no envelope) and for a delete of one without an outcome, or
// cancelled and still waiting in its queue to be skipped (cancel it
// first); strand.ErrFinished for a cancel of a finished task;
// strand.ErrNotFound for an unknown one. Only an unknown action fails Act
// itself, with an error wrapping strand.ErrBadOption (and, for "replay", a
// failure to read the dead letters).
func (in *Inspector) Act(ctx context.Context, action string, tasks ...Task) ([]ActResult, error) {
	if action == actReplay {
		ids := make([]string, len(tasks))
		for i, t := range tasks {
			ids[i] = t.ID
		}
		return in.replayIDs(ctx, ids)
	}
	if err := admin.CheckAction(action); err != nil {
		return nil, fmt.Errorf("%w (or replay)", err)
	}
	out := make([]ActResult, len(tasks))
	sem := make(chan struct{}, actAtOnce)
	var wg sync.WaitGroup
	for i, t := range tasks {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			out[i] = in.act(ctx, action, t.Queue, t.ID)
		})
	}
	wg.Wait()
	return out, nil
}

func (in *Inspector) act(ctx context.Context, action, queue, id string) ActResult {
	res := ActResult{ID: id, Queue: queue}
	if err := codec.ValidID(id); err != nil {
		res.Err = fmt.Errorf("%s %s: %w", action, id, err)
		return res
	}
	if res.Queue == "" {
		q, err := in.b.Locate(ctx, id)
		if err != nil {
			res.Err = fmt.Errorf("%s %s: %w", action, id, err)
			return res
		}
		if q == "" {
			res.Err = fmt.Errorf("%s %s: %w", action, id, strand.ErrNotFound)
			return res
		}
		res.Queue = q
	}
	switch action {
	case admin.Retry:
		nt, err := in.resubmit(ctx, res.Queue, id)
		if nt != nil {
			res.NewID = nt.ID
		}
		res.Err = err
	case admin.Cancel:
		_, res.Err = in.cancel(ctx, res.Queue, id)
	case admin.Delete:
		res.Err = in.purge(ctx, res.Queue, id)
	}
	return res
}
