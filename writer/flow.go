package writer

import (
	"context"
	"time"
)

// Pause pauses queue across the fleet: its workers start none of its tasks
// until Resume, while producers may go on submitting and running tasks
// finish. The pause is a record on the server: it survives restarts of
// workers and servers.
func (w *Writer) Pause(ctx context.Context, queue string) error {
	return w.b.Pause(ctx, queue, w.cfg.Caller)
}

// Resume lets queue's workers start its tasks again.
func (w *Writer) Resume(ctx context.Context, queue string) error {
	return w.b.Resume(ctx, queue)
}

// Paused reports whether queue is paused, and since when.
func (w *Writer) Paused(ctx context.Context, queue string) (paused bool, since time.Time, err error) {
	p, err := w.b.Paused(ctx, queue)
	if err != nil || p == nil {
		return false, time.Time{}, err
	}
	return true, time.UnixMilli(p.Since), nil
}
