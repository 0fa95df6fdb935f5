package writer

import (
	"context"
	"errors"
	"fmt"

	strand "github.com/strand-run/strand"
	"github.com/strand-run/strand/broker"
	"github.com/strand-run/strand/codec"
)

// checkFlow refuses flow options that cannot work together or with the
// task's other options.
func (w *Writer) checkFlow(o *submitOpts) error {
	if o.unique != "" && o.debounce > 0 {
		return errors.New("Unique and Debounce exclude each other")
	}
	if o.uniqueFor > o.resultTTL {
		return fmt.Errorf("uniqueness window %v is beyond the result TTL %v: the task holding the key would be forgotten first", o.uniqueFor, o.resultTTL)
	}
	if o.debounce > o.resultTTL {
		return fmt.Errorf("debounce window %v is beyond the result TTL %v", o.debounce, o.resultTTL)
	}
	if o.fair && o.key == "" {
		return errors.New("Fair needs a key (Key, Unique or Debounce)")
	}
	return nil
}

// lane is the lane a task with options o waits in: its priority's, else
// the fair lane of its key, else the normal lane ("").
func (o *submitOpts) lane() string {
	switch {
	case o.priority == codec.PriorityHigh || o.priority == codec.PriorityLow:
		return o.priority
	case o.fair:
		return broker.FairLane(o.key)
	}
	return ""
}

// submitFlow submits t under its uniqueness or debounce key. A key held
// by another task returns a handle to that task (and strand.ErrDuplicate);
// a debounce replaces the pending task that held its key.
func (w *Writer) submitFlow(ctx context.Context, t *broker.Task, o *submitOpts) (*Handle, error) {
	if o.unique != "" {
		ttl := o.uniqueFor
		if o.unique == broker.UniqueUntilFinished {
			ttl = w.cfg.TaskTTL + o.resultTTL // released by the worker when the task ends
		}
		holder, err := w.b.ClaimUnique(ctx, t.Queue, o.key, t.ID, ttl)
		if err == nil && holder != "" && o.unique == broker.UniqueUntilFinished {
			// A holder that has finished (its worker died before it released
			// the key) holds it no more: free it and claim again.
			if done, oerr := w.b.Outcome(ctx, t.Queue, holder); oerr == nil && done != nil {
				if err = w.b.ReleaseUnique(ctx, t.Queue, o.key, holder); err == nil {
					holder, err = w.b.ClaimUnique(ctx, t.Queue, o.key, t.ID, ttl)
				}
			}
		}
		if err != nil {
			return nil, err
		}
		if holder != "" {
			h := &Handle{w: w, id: holder, queue: t.Queue}
			return h, fmt.Errorf("%w: key %s is held by task %s", strand.ErrDuplicate, o.key, holder)
		}
		if err := w.b.Submit(ctx, t)[0]; err != nil {
			_ = w.b.ReleaseUnique(context.WithoutCancel(ctx), t.Queue, o.key, t.ID)
			return nil, err
		}
		return nil, nil
	}
	if err := w.b.Submit(ctx, t)[0]; err != nil {
		return nil, err
	}
	replaced, err := w.b.Debounce(ctx, t.Queue, o.key, t.ID, o.debounce)
	if err != nil {
		return nil, err
	}
	if replaced != "" && replaced != t.ID {
		reason := fmt.Sprintf("replaced by %s (debounce %s)", t.ID, o.key)
		err := w.b.CancelBecause(ctx, t.Queue, replaced, o.resultTTL, reason, true)
		if err != nil && !errors.Is(err, strand.ErrFinished) && !errors.Is(err, strand.ErrNotFound) {
			w.log.Warn().Err(err).Str("task_id", replaced).Msg("debounce: cancel the replaced task")
		}
	}
	return nil, nil
}
