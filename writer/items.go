package writer

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"sync"

	"github.com/nats-io/nats.go"

	strand "github.com/strand-run/strand"
	"github.com/strand-run/strand/broker"
	"github.com/strand-run/strand/codec"
)

// Item is one item streamed by an iterator task: its number (from 0) and
// its value as encoded by the worker.
type Item struct {
	N      int64
	Data   codec.Raw
	Format codec.Format
}

// Decode decodes the item into out, a pointer.
func (it Item) Decode(out any) error {
	if err := codec.DecodeValue(it.Format, it.Data, out, false); err != nil {
		return fmt.Errorf("decode item %d into %T: %w", it.N, out, err)
	}
	return nil
}

// Items returns the items of an iterator task (a handler returning
// iter.Seq or iter.Seq2) as they are produced, from the first one, however
// late the caller attaches. The sequence ends after the last item; if the
// task failed (its iterator yielded an error, panicked, timed out, was
// cancelled) the last pair carries the task's error (a *strand.TaskError),
// after the items produced before it. A task that streams nothing (not an
// iterator handler, or one that failed before it started) ends the
// sequence when its outcome is written, with the outcome's error if any.
// Breaking out of the range stops reading. Items of a task that was retried
// restart at 0 with each attempt.
func (h *Handle) Items(ctx context.Context) iter.Seq2[Item, error] {
	return func(yield func(Item, error) bool) {
		stopped := false
		err := h.readItems(ctx, func(it Item) bool {
			stopped = !yield(it, nil)
			return !stopped
		})
		if err != nil && !stopped {
			yield(Item{}, err)
		}
	}
}

// Items is Handle.Items with each item decoded into a T.
func Items[T any](ctx context.Context, h *Handle) iter.Seq2[T, error] {
	return func(yield func(T, error) bool) {
		for it, err := range h.Items(ctx) {
			var v T
			if err == nil {
				err = it.Decode(&v)
			}
			if !yield(v, err) || err != nil {
				return
			}
		}
	}
}

// Callbacks are the original strand's callbacks: OnIter for each item as it
// comes, then OnEnd with the outcome of a completed task, or OnError with
// the error of one that did not complete. Each may be nil.
type Callbacks struct {
	OnIter  func(Item)
	OnEnd   func(*codec.Outcome)
	OnError func(error)
}

// Stream calls cb's callbacks for the task's items and its end, and
// returns when the task has ended (or ctx has): nil for a completed task,
// else the error it also passed to OnError.
func (h *Handle) Stream(ctx context.Context, cb Callbacks) error {
	fail := func(err error) error {
		if cb.OnError != nil {
			cb.OnError(err)
		}
		return err
	}
	for it, err := range h.Items(ctx) {
		if err != nil {
			var te *strand.TaskError
			if !errors.As(err, &te) {
				return fail(err)
			}
			break // the task's error: its outcome says it too
		}
		if cb.OnIter != nil {
			cb.OnIter(it)
		}
	}
	o, _, err := h.Wait(ctx)
	switch {
	case err != nil:
		return fail(err)
	case o.Status != strand.StatusCompleted:
		if o.Error != nil {
			return fail(o.Error.Err())
		}
		return fail(&strand.TaskError{Kind: strand.Kind(o.Status), Message: fmt.Sprintf("task %s %s", h.id, o.Status)})
	}
	if cb.OnEnd != nil {
		cb.OnEnd(o)
	}
	return nil
}

type outcomeEvent struct {
	o   *codec.Outcome
	err error
}

// readItems reads the task's items subject from its start and hands each
// item to fn until the end marker, fn returns false, or the task's outcome
// shows that no more will come.
func (h *Handle) readItems(ctx context.Context, fn func(Item) bool) error {
	q, err := h.located(ctx)
	if err != nil {
		return err
	}
	if q == "" {
		q = h.w.cfg.Queue // nothing of it yet: wait for it where it would be
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	msgs, err := h.w.b.ReadItems(ctx, q, h.id)
	if err != nil {
		return fmt.Errorf("task %s: %w", h.id, err)
	}
	var wg sync.WaitGroup
	defer wg.Wait()
	defer msgs.Stop()
	defer cancel()

	type next struct {
		it  *broker.Item
		err error
	}
	in := make(chan next)
	wg.Go(func() {
		for {
			it, err := msgs.Next(ctx)
			select {
			case in <- next{it, err}:
			case <-ctx.Done():
				return
			}
			if err != nil {
				return
			}
		}
	})
	ended := make(chan outcomeEvent, 1)
	wg.Go(func() {
		o, _, err := h.Wait(ctx)
		ended <- outcomeEvent{o, err}
	})

	var (
		seen     uint64 // stream sequence of the last message read
		stopAt   uint64 // the outcome is known and no end marker is stored: stop after this sequence
		final    error  // returned at stopAt
		stopping bool   // stopAt is set
	)
	for {
		select {
		case <-ctx.Done():
			return fmt.Errorf("task %s: %w", h.id, ctx.Err())
		case e := <-ended:
			if e.err != nil {
				if ctx.Err() != nil {
					return fmt.Errorf("task %s: %w", h.id, ctx.Err())
				}
				return e.err
			}
			last, isEnd, err := h.w.b.LastItem(ctx, q, h.id)
			if err != nil {
				return fmt.Errorf("task %s: read items: %w", h.id, err)
			}
			if isEnd {
				continue // the end marker is on its way
			}
			stopping, stopAt, final = true, last, e.o.Error.Err()
			if seen >= stopAt {
				return final
			}
		case x := <-in:
			if x.err != nil {
				return fmt.Errorf("task %s: read items: %w", h.id, x.err)
			}
			m := x.it
			if m.Seq != 0 {
				seen = m.Seq
			}
			if m.End {
				return m.Error.Err()
			}
			if !fn(Item{N: m.N, Data: m.Data, Format: m.Format}) {
				return nil
			}
			if stopping && seen >= stopAt {
				return final
			}
		}
	}
}

// Progress returns the task's last progress report: nil while it has
// reported none (or after its state record is gone).
func (h *Handle) Progress(ctx context.Context) (*codec.Progress, error) {
	st, err := h.state(ctx)
	if err != nil || st == nil {
		return nil, err
	}
	return st.Progress, nil
}

// WatchProgress calls fn with each progress report of the task, live (the
// last one stored first, if any), until the task ends; it returns the
// outcome, as Wait does. Reports are throttled by the worker (at most one
// every 100 ms); fn runs on the caller's goroutine.
func (h *Handle) WatchProgress(ctx context.Context, fn func(codec.Progress)) (*codec.Outcome, codec.Format, error) {
	q, err := h.located(ctx)
	if err != nil {
		return nil, 0, err
	}
	if q == "" {
		q = h.w.cfg.Queue
	}
	ch := make(chan *nats.Msg, 64)
	sub, err := h.w.b.ChanSubscribe(h.w.names.Event(h.w.names.StateKey(q, h.id)), ch) // flushed, refusal checked
	if err != nil {
		return nil, 0, fmt.Errorf("task %s: watch progress: %w", h.id, err)
	}
	defer func() { _ = sub.Unsubscribe() }()
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel()
	type result struct {
		o   *codec.Outcome
		f   codec.Format
		err error
	}
	done := make(chan result, 1)
	wg.Go(func() {
		o, f, err := h.Wait(ctx)
		done <- result{o, f, err}
	})
	var last *codec.Progress
	report := func(p *codec.Progress) {
		if p != nil && (last == nil || *p != *last) {
			last = p
			fn(*p)
		}
	}
	if p, err := h.Progress(ctx); err == nil {
		report(p)
	}
	for {
		select {
		case m := <-ch:
			if st, err := codec.DecodeState(m.Data); err == nil {
				report(st.Progress)
			}
		case r := <-done:
			// Reports that arrived with the outcome come first.
			for len(ch) > 0 {
				if st, err := codec.DecodeState((<-ch).Data); err == nil {
					report(st.Progress)
				}
			}
			return r.o, r.f, r.err
		}
	}
}
