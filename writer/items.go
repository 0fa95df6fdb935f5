package writer

import (
	"context"
	"fmt"
	"iter"
	"sync"

	"github.com/nats-io/nats.go"

	strand "github.com/strand-run/strand"
	"github.com/strand-run/strand/internal/broker"
	"github.com/strand-run/strand/internal/codec"
)

// Items yields the items of an iterator task (a handler returning
// iter.Seq or iter.Seq2) as they are produced, from the first one, however
// late the caller attaches. The sequence ends after the last item; if the
// task failed (its iterator yielded an error, panicked, timed out, was
// cancelled) the last pair carries the task's error (a *strand.TaskError),
// after the items produced before it. A task that streams nothing (not an
// iterator handler, or one that failed before it started) ends the
// sequence when its outcome is written, with the outcome's error if any.
// Breaking out of the range stops reading. Items of a task that was retried
// restart at 0 with each attempt.
func (h *handle) Items(ctx context.Context) iter.Seq2[strand.Value, error] {
	return func(yield func(strand.Value, error) bool) {
		stopped := false
		err := h.readItems(ctx, func(v codec.Value) bool {
			stopped = !yield(v, nil)
			return !stopped
		})
		if err != nil && !stopped {
			yield(nil, err)
		}
	}
}

type outcomeEvent struct {
	o   *codec.Outcome
	err error
}

// readItems reads the task's items subject from its start and hands each
// item to fn until the end marker, fn returns false, or the task's outcome
// shows that no more will come.
func (h *handle) readItems(ctx context.Context, fn func(codec.Value) bool) error {
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
		o, _, err := h.wait(ctx)
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
			if !fn(codec.Value{F: m.Format, Raw: m.Data, I: m.N, What: fmt.Sprintf("item %d of task %s", m.N, h.id)}) {
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
func (h *handle) Progress(ctx context.Context) (*strand.Report, error) {
	st, err := h.state(ctx)
	if err != nil || st == nil {
		return nil, err
	}
	return report(st.Progress), nil
}

// WatchProgress calls fn with each progress report of the task, live (the
// last one stored first, if any), until the task ends; it returns the
// outcome, as Wait does. Reports are throttled by the worker (at most one
// every 100 ms); fn runs on the caller's goroutine.
func (h *handle) WatchProgress(ctx context.Context, fn func(strand.Report)) (*strand.Outcome, error) {
	q, err := h.located(ctx)
	if err != nil {
		return nil, err
	}
	if q == "" {
		q = h.w.cfg.Queue
	}
	ch := make(chan *nats.Msg, 64)
	sub, err := h.w.b.ChanSubscribe(h.w.names.Event(h.w.names.StateKey(q, h.id)), ch) // flushed, refusal checked
	if err != nil {
		return nil, fmt.Errorf("task %s: watch progress: %w", h.id, err)
	}
	defer func() { _ = sub.Unsubscribe() }()
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel()
	type result struct {
		o   *strand.Outcome
		err error
	}
	done := make(chan result, 1)
	wg.Go(func() {
		o, err := h.Wait(ctx)
		done <- result{o, err}
	})
	var last *codec.Progress
	send := func(p *codec.Progress) {
		if p != nil && (last == nil || *p != *last) {
			last = p
			fn(*report(p))
		}
	}
	if st, err := h.state(ctx); err == nil && st != nil {
		send(st.Progress)
	}
	for {
		select {
		case m := <-ch:
			if st, err := codec.DecodeState(m.Data); err == nil {
				send(st.Progress)
			}
		case r := <-done:
			// Reports that arrived with the outcome come first.
			for len(ch) > 0 {
				if st, err := codec.DecodeState((<-ch).Data); err == nil {
					send(st.Progress)
				}
			}
			return r.o, r.err
		}
	}
}
