package writer

import (
	"context"
	"errors"
	"fmt"

	strand "github.com/strand-run/strand"
)

// ErrNotFinished: the task has no outcome yet, so its records cannot be purged.
var ErrNotFinished = errors.New("strand: task not finished")

// Purge removes a finished task's records now instead of when their TTLs
// end: its outcome or cancellation, its state and its streamed items; the
// id is free again at once. A task without an outcome, or cancelled and
// still waiting in its queue to be skipped, is refused with ErrNotFinished
// (cancel it first), an unknown one with strand.ErrNotFound.
func (h *Handle) Purge(ctx context.Context) error {
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
	// A task cancelled while queued has its cancellation, but waits in its
	// queue until a worker skips it: its records stay until then.
	if rec, err := h.w.b.Queued(ctx, h.Queue(), h.id); err != nil || rec != nil {
		if err != nil {
			return fmt.Errorf("purge %s: %w", h.id, err)
		}
		return fmt.Errorf("purge %s: %w (cancelled, still in its queue)", h.id, ErrNotFinished)
	}
	return h.w.b.Purge(ctx, h.Queue(), h.id)
}
