package writer

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"

	strand "github.com/strand-run/strand"
	"github.com/strand-run/strand/codec"
)

// ResubmitOf is the meta key that links a resubmitted task to the one it
// runs again.
const ResubmitOf = "resubmit_of"

// ErrNotRetryable: only a failed or dead task can be resubmitted, and only
// when its envelope was kept.
var ErrNotRetryable = errors.New("strand: task cannot be resubmitted")

// Resubmit runs a failed or dead task again: a new task under a new id, in
// the same queue, with the same function, arguments and options, and meta
// ResubmitOf = the old id. The envelope is the one the task's outcome
// keeps; a dead task that still has its dead letter is replayed from it
// instead (Replay), which deletes the dead letter. The old task's outcome
// stays as it is. A task that has not failed, or whose outcome keeps no
// envelope (written by a worker older than this field, or too large), is
// refused with ErrNotRetryable.
func (h *handle) Resubmit(ctx context.Context) (strand.Handle, error) {
	o, f, err := h.outcome(ctx)
	if err != nil {
		return nil, fmt.Errorf("resubmit %s: %w", h.id, err)
	}
	if o == nil {
		return nil, fmt.Errorf("resubmit %s: %w (not finished, or unknown)", h.id, ErrNotRetryable)
	}
	if o.Status != strand.StatusFailed && o.Status != strand.StatusDead {
		return nil, fmt.Errorf("resubmit %s: %w (%s)", h.id, ErrNotRetryable, o.Status)
	}
	if o.Status == strand.StatusDead {
		nh, err := h.w.Replay(ctx, h.id)
		if err == nil {
			return nh, nil
		}
		if !errors.Is(err, strand.ErrNotFound) {
			return nil, err
		}
	}
	if o.Task.IsNil() {
		return nil, fmt.Errorf("resubmit %s: %w (its outcome keeps no envelope)", h.id, ErrNotRetryable)
	}
	env, err := codec.DecodeEnvelope(f, o.Task)
	if err != nil {
		return nil, fmt.Errorf("resubmit %s: %w", h.id, err)
	}
	id, err := uuid.NewV7()
	if err != nil {
		return nil, err
	}
	env.Queue = h.Queue()
	meta := make(map[string]string, len(env.Meta)+1)
	for k, v := range env.Meta {
		meta[k] = v
	}
	meta[ResubmitOf] = h.id
	env.ID, env.Meta, env.Created = id.String(), meta, time.Now().UnixMilli()
	if err := h.w.submitEnvelope(ctx, env, f); err != nil {
		return nil, fmt.Errorf("resubmit %s: %w", h.id, err)
	}
	return &handle{w: h.w, id: env.ID, queue: env.Queue, fn: env.Func}, nil
}
