package reader

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/strand-run/strand/internal/handler"

	strand "github.com/strand-run/strand"
	"github.com/strand-run/strand/internal/broker"
	"github.com/strand-run/strand/internal/codec"
)

// errItemsClosed stops an iterator that yields after its task has ended
// (an abandoned handler).
var errItemsClosed = errors.New("items closed: the task has ended")

// itemStream sends an iterator handler's items to the items stream, in
// order (one connection, sequential async publishes), and its end marker
// once the outcome is known. See docs/protocol.md, "Streamed items".
type itemStream struct {
	r *Reader
	t *task

	mu     sync.Mutex
	closed bool
	count  int64
	futs   []*broker.Write
}

func (r *Reader) newItems(t *task) *itemStream { return &itemStream{r: r, t: t} }

// invoke runs the handler: for an iterator handler it ranges over the
// sequence, sending each item as it comes and stopping when ctx ends; the
// task's result is then nil and its items are counted in the outcome.
func (r *Reader) invoke(ctx context.Context, t *task, fn *handler.Func, f codec.Format) (any, error) {
	env := t.env
	if !fn.Iterator() || t.items == nil {
		return fn.Call(ctx, f, env.Args, env.Kwargs)
	}
	s := t.items
	if t.attempt > 1 {
		// An earlier attempt's items are dropped, so that a late reader
		// sees only the attempt that ends the task.
		if err := s.purge(ctx); err != nil {
			return nil, err
		}
	}
	seq, err := fn.Call(ctx, f, env.Args, env.Kwargs)
	if err != nil {
		return nil, err
	}
	var stop error
	perr := fn.Each(seq, func(item any, err error) bool {
		switch {
		case err != nil:
			stop = err
		case ctx.Err() != nil:
			stop = ctx.Err()
		default:
			stop = s.send(item)
		}
		return stop == nil
	})
	if perr != nil {
		return nil, perr
	}
	if stop == nil && ctx.Err() != nil {
		stop = ctx.Err()
	}
	return nil, stop
}

func (s *itemStream) purge(ctx context.Context) error {
	if err := s.r.b.PurgeItems(ctx, s.t.queue, s.t.id); err != nil {
		return fmt.Errorf("%s: drop the items of earlier attempts: %w", s.t.env.Func, err)
	}
	return nil
}

// send publishes one item without waiting for the server; end waits.
func (s *itemStream) send(item any) error {
	t := s.t
	data, err := t.format.Marshal(item)
	if err != nil {
		return strand.Permanent(fmt.Errorf("%s: encode item %T: %w", t.env.Func, item, err))
	}
	if int64(len(data)) > s.r.b.MaxRecord() {
		return &strand.TaskError{Kind: strand.ErrTooLarge, Message: fmt.Sprintf(
			"%s: item is %d bytes, the server accepts %d", t.env.Func, len(data), s.r.b.MaxRecord())}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return errItemsClosed
	}
	fut, err := s.r.b.WriteItem(t.queue, t.id, s.count, t.attempt, data, t.format)
	if err != nil {
		return fmt.Errorf("%s: send item %d: %w", t.env.Func, s.count, err)
	}
	s.futs = append(s.futs, fut)
	s.count++
	return nil
}

// end closes the stream to further items, waits until every item is
// stored, then stores the end marker: the count, and the task's error if
// it has one. It returns the count, or an error when the items or the
// marker were not confirmed (the task is then handed back to run again).
func (s *itemStream) end(info *codec.ErrorInfo) (int64, error) {
	s.mu.Lock()
	s.closed = true
	count, futs := s.count, s.futs
	s.futs = nil
	s.mu.Unlock()

	ctx, cancel := context.WithTimeout(context.Background(), s.r.cfg.AckWait/2)
	defer cancel()
	for i, fut := range futs {
		select {
		case <-fut.Ok():
		case err := <-fut.Err():
			return 0, fmt.Errorf("item %d not stored: %w", i, err)
		case <-ctx.Done():
			return 0, fmt.Errorf("item %d not confirmed: %w", i, ctx.Err())
		}
	}
	if err := s.r.b.EndItems(ctx, s.t.queue, s.t.id, count, s.t.attempt, s.t.format, info); err != nil {
		return 0, fmt.Errorf("end marker not stored: %w", err)
	}
	return count, nil
}
