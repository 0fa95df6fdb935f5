package writer

import (
	"context"
	"errors"
	"fmt"
	"time"

	strand "github.com/strand-run/strand"
)

// ErrNotFinished: the task has no outcome yet, so its records cannot be purged.
var ErrNotFinished = errors.New("strand: task not finished")

// Purge removes a finished task's records now instead of when their TTLs
// end: its outcome or cancellation, its state and its streamed items; the
// id is free again at once. A task without an outcome, or cancelled and
// still waiting in its queue to be skipped, is refused with ErrNotFinished
// (cancel it first), an unknown one with strand.ErrNotFound.
func (h *handle) Purge(ctx context.Context) error {
	o, _, err := h.outcome(ctx)
	if err != nil {
		return err
	}
	if o == nil {
		st, err := h.Status(ctx)
		if err != nil {
			return err
		}
		if st != strand.StatusUnknown {
			return fmt.Errorf("purge %s: %w", h.id, ErrNotFinished)
		}
		return fmt.Errorf("purge %s: %w", h.id, strand.ErrNotFound)
	}
	// The outcome stays until the task has left its queue: the worker
	// answers it just after writing the outcome, and a task cancelled while
	// queued waits there until a worker skips it. Purged sooner, the task
	// would read pending, and a redelivery would run it again.
	for wait := time.Millisecond; ; wait *= 2 {
		rec, err := h.w.b.Queued(ctx, h.Queue(), h.id)
		if err != nil {
			return fmt.Errorf("purge %s: %w", h.id, err)
		}
		if rec == nil {
			break
		}
		if o.Status == strand.StatusCancelled || wait > time.Second {
			return fmt.Errorf("purge %s: %w (%s, still in its queue)", h.id, ErrNotFinished, o.Status)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("purge %s: %w", h.id, ctx.Err())
		case <-time.After(wait):
		}
	}
	return h.w.b.Purge(ctx, h.Queue(), h.id)
}
