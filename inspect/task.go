package inspect

import (
	"context"
	"errors"
	"fmt"
	"time"

	strand "github.com/strand-run/strand"
	"github.com/strand-run/strand/broker"
	"github.com/strand-run/strand/codec"
)

// ErrNotFinished is returned by Purge for a task that has no outcome yet:
// its records cannot be purged.
var ErrNotFinished = errors.New("strand: task not finished")

// ErrNotRetryable is returned by Resubmit: only a failed or dead task can be
// resubmitted, and only when its envelope was kept.
var ErrNotRetryable = errors.New("strand: task cannot be resubmitted")

// ResubmitOf is the meta key that links a resubmitted task to the one it
// runs again.
const ResubmitOf = "resubmit_of"

// look reads what the server holds of task id, in queue ("": located).
func (in *Inspector) look(ctx context.Context, queue, id string) (*broker.Lookup, error) {
	if err := codec.ValidID(id); err != nil {
		return nil, err
	}
	if queue != "" {
		if err := codec.ValidQueue(queue); err != nil {
			return nil, err
		}
	}
	l, err := in.b.Look(ctx, queue, id)
	if err != nil {
		return nil, err
	}
	if l.Queue == "" {
		return nil, strand.ErrNotFound
	}
	return l, nil
}

// Purge removes a finished task's records now instead of when their TTLs
// end: its outcome or cancellation, its state and its streamed items; the
// id is free again at once. A task without an outcome, or cancelled and
// still waiting in its queue to be skipped, is refused with ErrNotFinished
// (cancel it first), an unknown one with strand.ErrNotFound.
func (in *Inspector) Purge(ctx context.Context, id string) error {
	return in.purge(ctx, "", id)
}

func (in *Inspector) purge(ctx context.Context, queue, id string) error {
	l, err := in.look(ctx, queue, id)
	if err != nil {
		return fmt.Errorf("purge %s: %w", id, err)
	}
	if l.Outcome == nil {
		if l.Task == nil {
			return fmt.Errorf("purge %s: %w", id, strand.ErrNotFound)
		}
		return fmt.Errorf("purge %s: %w", id, ErrNotFinished)
	}
	o := l.Outcome
	// The outcome stays until the task has left its queue: the worker
	// answers it just after writing the outcome, and a task cancelled while
	// queued waits there until a worker skips it. Purged sooner, the task
	// would read pending, and a redelivery would run it again.
	for wait := time.Millisecond; ; wait *= 2 {
		rec, err := in.b.Queued(ctx, l.Queue, id)
		if err != nil {
			return fmt.Errorf("purge %s: %w", id, err)
		}
		if rec == nil {
			break
		}
		if o.Status == strand.StatusCancelled || wait > time.Second {
			return fmt.Errorf("purge %s: %w (%s, still in its queue)", id, ErrNotFinished, o.Status)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("purge %s: %w", id, ctx.Err())
		case <-time.After(wait):
		}
	}
	return in.b.Purge(ctx, l.Queue, id)
}

// Resubmit runs a failed or dead task again: a new task under a new id, in
// the same queue, with the same function, arguments and options, and meta
// ResubmitOf = the old id. The envelope is the one the task's outcome
// keeps; a dead task that still has its dead letter is replayed from it
// instead (Replay, meta ReplayOf), which deletes the dead letter. The old
// task's outcome stays as it is. A task that has not failed, or whose
// outcome keeps no envelope (written by an older worker, or too large), is
// refused with ErrNotRetryable; an unknown one with strand.ErrNotFound.
func (in *Inspector) Resubmit(ctx context.Context, id string) (*NewTask, error) {
	return in.resubmit(ctx, "", id)
}

func (in *Inspector) resubmit(ctx context.Context, queue, id string) (*NewTask, error) {
	l, err := in.look(ctx, queue, id)
	if err != nil {
		return nil, fmt.Errorf("resubmit %s: %w", id, err)
	}
	o := l.Outcome
	if o == nil {
		return nil, fmt.Errorf("resubmit %s: %w (not finished)", id, ErrNotRetryable)
	}
	if o.Status != strand.StatusFailed && o.Status != strand.StatusDead {
		return nil, fmt.Errorf("resubmit %s: %w (%s)", id, ErrNotRetryable, o.Status)
	}
	if o.Status == strand.StatusDead {
		t, err := in.Replay(ctx, id)
		if err == nil || !errors.Is(err, strand.ErrNotFound) {
			return t, err
		}
	}
	if o.Task.IsNil() {
		return nil, fmt.Errorf("resubmit %s: %w (its outcome keeps no envelope)", id, ErrNotRetryable)
	}
	env, err := codec.DecodeEnvelope(o.Format, o.Task)
	if err != nil {
		return nil, fmt.Errorf("resubmit %s: %w", id, err)
	}
	env.Queue = l.Queue
	t, err := in.again(ctx, env, o.Format, ResubmitOf, id)
	if err != nil {
		return nil, fmt.Errorf("resubmit %s: %w", id, err)
	}
	return t, nil
}

// cancel cancels task id (in queue, "" to locate it), as a writer's
// Handle.Cancel does.
func (in *Inspector) cancel(ctx context.Context, queue, id string) (string, error) {
	if queue == "" {
		q, err := in.b.Locate(ctx, id)
		if err != nil {
			return "", fmt.Errorf("cancel %s: %w", id, err)
		}
		if q == "" {
			return "", fmt.Errorf("cancel %s: %w", id, strand.ErrNotFound)
		}
		queue = q
	}
	return queue, in.b.Cancel(ctx, queue, id, in.cfg.ResultTTL)
}
