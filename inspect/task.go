package inspect

import (
	"context"
	"errors"
	"fmt"
	"time"

	strand "github.com/strand-run/strand"
	"github.com/strand-run/strand/internal/broker"
	"github.com/strand-run/strand/internal/codec"
)

// ErrWrongState is the error of an action on a task whose state does not
// allow it (Act): a delete of a task that has not finished, a retry of one
// that did not fail or whose outcome keeps no envelope.
var ErrWrongState = errors.New("strand: the task's state does not allow it")

// resubmitOf is the meta key that links a resubmitted task to the one it
// runs again.
const resubmitOf = "resubmit_of"

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

func (in *Inspector) purge(ctx context.Context, queue, id string) error {
	l, err := in.look(ctx, queue, id)
	if err != nil {
		return fmt.Errorf("purge %s: %w", id, err)
	}
	if l.Outcome == nil {
		if l.Task == nil {
			return fmt.Errorf("purge %s: %w", id, strand.ErrNotFound)
		}
		return fmt.Errorf("purge %s: %w (not finished)", id, ErrWrongState)
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
			return fmt.Errorf("purge %s: %w (%s, still in its queue)", id, ErrWrongState, o.Status)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("purge %s: %w", id, ctx.Err())
		case <-time.After(wait):
		}
	}
	return in.b.Purge(ctx, l.Queue, id)
}

func (in *Inspector) resubmit(ctx context.Context, queue, id string) (*newTask, error) {
	l, err := in.look(ctx, queue, id)
	if err != nil {
		return nil, fmt.Errorf("resubmit %s: %w", id, err)
	}
	o := l.Outcome
	if o == nil {
		return nil, fmt.Errorf("resubmit %s: %w (not finished)", id, ErrWrongState)
	}
	if o.Status != strand.StatusFailed && o.Status != strand.StatusDead {
		return nil, fmt.Errorf("resubmit %s: %w (%s)", id, ErrWrongState, o.Status)
	}
	if o.Status == strand.StatusDead {
		t, err := in.replayOne(ctx, id)
		if err == nil || !errors.Is(err, strand.ErrNotFound) {
			return t, err
		}
	}
	if o.Task.IsNil() {
		return nil, fmt.Errorf("resubmit %s: %w (its outcome keeps no envelope)", id, ErrWrongState)
	}
	env, err := codec.DecodeEnvelope(o.Format, o.Task)
	if err != nil {
		return nil, fmt.Errorf("resubmit %s: %w", id, err)
	}
	env.Queue = l.Queue
	t, err := in.again(ctx, env, o.Format, resubmitOf, id)
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
