package writer

import (
	"context"
	"errors"
	"fmt"

	strand "github.com/strand-run/strand"
	"github.com/strand-run/strand/internal/broker"
)

// submitFlow submits t under its uniqueness or debounce key. A key held
// by another task returns a handle to that task (and strand.ErrDuplicate);
// a debounce replaces the pending task that held its key.
func (w *Writer) submitFlow(ctx context.Context, t *broker.Task, o *call) (*handle, error) {
	if o.Unique != "" {
		ttl := o.UniqueFor
		if o.Unique == broker.UniqueUntilFinished {
			ttl = w.cfg.TaskTTL + o.ResultTTL // released by the worker when the task ends
		}
		holder, err := w.b.ClaimUnique(ctx, t.Queue, o.Key, t.ID, ttl)
		if err == nil && holder != "" && o.Unique == broker.UniqueUntilFinished {
			// A holder that has finished (its worker died before it released
			// the key) holds it no more: free it and claim again.
			if done, oerr := w.b.Outcome(ctx, t.Queue, holder); oerr == nil && done != nil {
				if err = w.b.ReleaseUnique(ctx, t.Queue, o.Key, holder); err == nil {
					holder, err = w.b.ClaimUnique(ctx, t.Queue, o.Key, t.ID, ttl)
				}
			}
		}
		if err != nil {
			return nil, err
		}
		if holder != "" {
			h := &handle{w: w, id: holder, queue: t.Queue}
			return h, fmt.Errorf("%w: key %s is held by task %s", strand.ErrDuplicate, o.Key, holder)
		}
		if err := w.b.Submit(ctx, t)[0]; err != nil {
			_ = w.b.ReleaseUnique(context.WithoutCancel(ctx), t.Queue, o.Key, t.ID)
			return nil, err
		}
		return nil, nil
	}
	if err := w.b.Submit(ctx, t)[0]; err != nil {
		return nil, err
	}
	replaced, err := w.b.Debounce(ctx, t.Queue, o.Key, t.ID, o.Debounce)
	if err != nil {
		return nil, err
	}
	if replaced != "" && replaced != t.ID {
		reason := fmt.Sprintf("replaced by %s (debounce %s)", t.ID, o.Key)
		err := w.b.CancelBecause(ctx, t.Queue, replaced, o.ResultTTL, reason, true)
		if err != nil && !errors.Is(err, strand.ErrFinished) && !errors.Is(err, strand.ErrNotFound) {
			w.log.Warn().Err(err).Str("task_id", replaced).Msg("debounce: cancel the replaced task")
		}
	}
	return nil, nil
}
