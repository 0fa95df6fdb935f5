package runner

import (
	"context"
	"fmt"
	"iter"
	"sync"

	strand "github.com/strand-run/strand"
	"github.com/strand-run/strand/codec"
)

// Handle is the caller's hold on a call made through Inline, Pool or
// Process: the same API as the NATS writer's handle. Its outcome is
// written once, so a cancel racing the end of the call cannot change it.
type Handle struct {
	id, fn string
	format codec.Format
	done   chan struct{}
	c      *call

	mu       sync.Mutex
	status   strand.Status
	result   codec.Raw
	err      error
	cancel   context.CancelCauseFunc // set while running
	items    []Item
	progress *codec.Progress
	more     chan struct{} // closed at the next item or the end
	ended    bool          // the callbacks have run
}

// Item is one item of an iterator function: its number (from 0) and its
// value, encoded in the call's format.
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

var _ strand.Handle = (*Handle)(nil)

func newHandle(c *call) *Handle {
	return &Handle{id: c.id, fn: c.fn, format: c.format, done: make(chan struct{}), c: c,
		status: strand.StatusPending, more: make(chan struct{})}
}

// report records a progress report of the running call and passes it to
// the OnProgress callback.
func (h *Handle) report(done, total int64, note string) {
	p := codec.Progress{Done: done, Total: total, Note: note}
	h.mu.Lock()
	h.progress = &p
	h.mu.Unlock()
	if h.c.onProgress != nil {
		h.c.onProgress(p)
	}
}

// Progress is the call's last progress report, nil before the first.
func (h *Handle) Progress(context.Context) (*codec.Progress, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.progress == nil {
		return nil, nil
	}
	p := *h.progress
	return &p, nil
}

// ID is the call's id.
func (h *Handle) ID() string { return h.id }

// Status is the call's status now: pending, running, or terminal.
func (h *Handle) Status(context.Context) (strand.Status, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.status, nil
}

// Ready reports whether the call has an outcome.
func (h *Handle) Ready(context.Context) (bool, error) {
	select {
	case <-h.done:
		return true, nil
	default:
		return false, nil
	}
}

// Done is closed once the call has an outcome.
func (h *Handle) Done() <-chan struct{} { return h.done }

// Wait blocks until the call has an outcome, or ctx ends, and returns the
// call's error (nil when it completed).
func (h *Handle) Wait(ctx context.Context) error {
	select {
	case <-h.done:
	case <-ctx.Done():
		return fmt.Errorf("task %s: %w", h.id, ctx.Err())
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.err
}

// Result waits for the call to end and decodes its result into out (a
// pointer, or nil to discard it). A call that did not complete returns its
// error, a *strand.TaskError.
func (h *Handle) Result(ctx context.Context, out any) error {
	if err := h.Wait(ctx); err != nil {
		return err
	}
	if out == nil || h.result.IsNil() {
		return nil
	}
	if err := codec.DecodeValue(h.format, h.result, out, false); err != nil {
		return fmt.Errorf("task %s: decode result into %T: %w", h.id, out, err)
	}
	return nil
}

// Cancel ends the call as cancelled: a pending call never runs, a running
// one has its ctx cancelled (a child process is killed). It returns
// strand.ErrFinished if the call already had an outcome.
func (h *Handle) Cancel(context.Context) error {
	h.mu.Lock()
	cancel := h.cancel
	h.mu.Unlock()
	if !h.finish(nil, &strand.TaskError{Kind: strand.ErrCancelled, Message: h.fn + ": cancelled by caller"}) {
		return fmt.Errorf("cancel %s: %w (%s)", h.id, strand.ErrFinished, h.statusNow())
	}
	if cancel != nil {
		cancel(errCancelledByCaller)
	}
	return nil
}

func (h *Handle) statusNow() strand.Status {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.status
}

// start moves a pending call to running; false if it already ended
// (cancelled while it waited).
func (h *Handle) start(cancel context.CancelCauseFunc) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.status.Terminal() {
		return false
	}
	h.status, h.cancel = strand.StatusRunning, cancel
	return true
}

// finish records the outcome, once: false if the call already had one.
func (h *Handle) finish(result codec.Raw, err error) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.status.Terminal() {
		return false
	}
	h.status, h.result, h.err, h.cancel = strand.StatusCompleted, result, err, nil
	if err != nil {
		h.status = strand.StatusFailed
		if strand.KindOf(err) == strand.ErrCancelled {
			h.status = strand.StatusCancelled
		}
	}
	close(h.done)
	close(h.more)
	return true
}

// emit records the next item of an iterator function and passes it to
// OnIter; an item after the outcome (a cancelled call) stops the function.
func (h *Handle) emit(raw codec.Raw) error {
	h.mu.Lock()
	if h.status.Terminal() {
		h.mu.Unlock()
		return errCancelledByCaller
	}
	it := Item{N: int64(len(h.items)), Data: raw, Format: h.format}
	h.items = append(h.items, it)
	close(h.more)
	h.more = make(chan struct{})
	h.mu.Unlock()
	if h.c.onIter != nil {
		h.c.onIter(it)
	}
	return nil
}

// end runs OnEnd or OnError once the call has its outcome.
func (h *Handle) end() {
	h.mu.Lock()
	if h.ended || !h.status.Terminal() {
		h.mu.Unlock()
		return
	}
	h.ended = true
	err := h.err
	h.mu.Unlock()
	switch {
	case err != nil && h.c.onError != nil:
		h.c.onError(err)
	case err == nil && h.c.onEnd != nil:
		h.c.onEnd(h)
	}
}

// Items returns the items of an iterator function as they are produced,
// from the first, however late the caller asks; after the last one, a call
// that did not complete yields its error. The same contract as the NATS
// handle's Items.
func (h *Handle) Items(ctx context.Context) iter.Seq2[Item, error] {
	return func(yield func(Item, error) bool) {
		for n := 0; ; {
			h.mu.Lock()
			if n < len(h.items) {
				it := h.items[n]
				h.mu.Unlock()
				n++
				if !yield(it, nil) {
					return
				}
				continue
			}
			more, err, over := h.more, h.err, h.status.Terminal()
			h.mu.Unlock()
			if over {
				if err != nil {
					yield(Item{}, err)
				}
				return
			}
			select {
			case <-more:
			case <-ctx.Done():
				yield(Item{}, fmt.Errorf("task %s: %w", h.id, ctx.Err()))
				return
			}
		}
	}
}
