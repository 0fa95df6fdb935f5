package runner

import (
	"context"
	"fmt"
	"iter"
	"sync"
	"time"

	strand "github.com/strand-run/strand"
	"github.com/strand-run/strand/internal/codec"
)

// handle is the caller's hold on a call made through a local runner. Its
// outcome is written once, so a cancel racing the end of the call cannot
// change it.
type handle struct {
	c      *call
	worker string // "inline", "pool" or "process"
	done   chan struct{}

	mu       sync.Mutex
	status   strand.Status
	created  time.Time
	started  time.Time
	ended    time.Time
	result   codec.Raw
	err      error
	cancel   context.CancelCauseFunc // set while running
	items    []codec.Raw
	progress *strand.Report
	reports  int64         // how many progress reports were made
	more     chan struct{} // closed at the next item, report or the end
}

var _ strand.Handle = (*handle)(nil)

func newHandle(c *call, worker string) *handle {
	return &handle{c: c, worker: worker, done: make(chan struct{}), status: strand.StatusPending,
		created: time.Now(), more: make(chan struct{})}
}

// changed wakes those waiting for the next change; h.mu is held.
func (h *handle) changed() {
	close(h.more)
	h.more = make(chan struct{})
}

// report records a progress report of the running call.
func (h *handle) report(done, total int64, note string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.progress = &strand.Report{Done: done, Total: total, Note: note, At: time.Now()}
	h.reports++
	h.changed()
}

// ID is the call's id.
func (h *handle) ID() string { return h.c.id }

// Status is the call's status now: pending, running, or terminal.
func (h *handle) Status(context.Context) (strand.Status, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.status, nil
}

// Info is what the runner knows of the call now.
func (h *handle) Info(context.Context) (*strand.Info, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	in := &strand.Info{ID: h.c.id, Func: h.c.fn, Status: h.status, Worker: h.worker, Created: h.created,
		Started: h.started, Finished: h.ended, Err: h.err, Items: int64(len(h.items))}
	if h.status != strand.StatusPending {
		in.Attempt = 1
	}
	if h.progress != nil {
		p := *h.progress
		in.Progress = &p
	}
	if h.c.meta != nil {
		in.Meta = make(map[string]string, len(h.c.meta))
		for k, v := range h.c.meta {
			in.Meta[k] = v
		}
	}
	return in, nil
}

// Progress is the call's last progress report, nil before the first.
func (h *handle) Progress(context.Context) (*strand.Report, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.progress == nil {
		return nil, nil
	}
	p := *h.progress
	return &p, nil
}

// WatchProgress calls fn with the call's progress reports until it ends:
// the last one made before the watch began, then each one made since
// (reports made faster than fn returns are coalesced into the last).
func (h *handle) WatchProgress(ctx context.Context, fn func(strand.Report)) (*strand.Outcome, error) {
	var seen int64
	for {
		h.mu.Lock()
		var p *strand.Report
		if h.reports > seen && h.progress != nil {
			seen, p = h.reports, h.progress
		}
		more, over := h.more, h.status.Terminal()
		h.mu.Unlock()
		if p != nil && fn != nil {
			fn(*p)
			continue // a report made during fn, or the end
		}
		if over {
			return h.outcome(), nil
		}
		select {
		case <-more:
		case <-ctx.Done():
			return nil, fmt.Errorf("task %s: %w", h.c.id, ctx.Err())
		}
	}
}

// Wait blocks until the call has an outcome, or ctx ends.
func (h *handle) Wait(ctx context.Context) (*strand.Outcome, error) {
	select {
	case <-h.done:
	case <-ctx.Done():
		return nil, fmt.Errorf("task %s: %w", h.c.id, ctx.Err())
	}
	return h.outcome(), nil
}

// outcome is the call's outcome; the call has ended.
func (h *handle) outcome() *strand.Outcome {
	h.mu.Lock()
	defer h.mu.Unlock()
	o := &strand.Outcome{ID: h.c.id, Status: h.status, Err: h.err, Worker: h.worker, Started: h.started,
		Ended: h.ended, Items: int64(len(h.items))}
	if !h.started.IsZero() {
		o.Attempt = 1
	}
	if h.result != nil && !h.result.IsNil() {
		o.Result = codec.Value{F: h.c.format, Raw: h.result, What: "the result"}
	}
	return o
}

// Result waits for the call to end and decodes its result into out (a
// pointer, or nil to discard it). A call that did not complete returns its
// error, a *strand.TaskError.
func (h *handle) Result(ctx context.Context, out any) error {
	o, err := h.Wait(ctx)
	if err != nil {
		return err
	}
	if err := o.Decode(out); err != nil {
		if o.Status == strand.StatusCompleted {
			return fmt.Errorf("task %s: %w", h.c.id, err)
		}
		return err
	}
	return nil
}

// Cancel ends the call as cancelled: a pending call never runs, a running
// one has its ctx cancelled (a child process is killed). It returns
// strand.ErrFinished if the call already had an outcome.
func (h *handle) Cancel(context.Context) error {
	h.mu.Lock()
	cancel := h.cancel
	h.mu.Unlock()
	if !h.finish(nil, &strand.TaskError{Kind: strand.ErrCancelled, Message: h.c.fn + ": cancelled by caller"}) {
		st, _ := h.Status(context.Background())
		return fmt.Errorf("cancel %s: %w (%s)", h.c.id, strand.ErrFinished, st)
	}
	if cancel != nil {
		cancel(errCancelledByCaller)
	}
	return nil
}

// start moves a pending call to running; false if it already ended
// (cancelled while it waited).
func (h *handle) start(cancel context.CancelCauseFunc) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.status.Terminal() {
		return false
	}
	h.status, h.cancel, h.started = strand.StatusRunning, cancel, time.Now()
	h.changed()
	return true
}

// finish records the outcome, once: false if the call already had one.
func (h *handle) finish(result codec.Raw, err error) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.status.Terminal() {
		return false
	}
	h.status, h.result, h.err, h.cancel, h.ended = strand.StatusCompleted, result, err, nil, time.Now()
	if err != nil {
		h.status = strand.StatusFailed
		if strand.KindOf(err) == strand.ErrCancelled {
			h.status = strand.StatusCancelled
		}
	}
	close(h.done)
	h.changed()
	return true
}

// emit records the next item of an iterator function; an item after the
// outcome (a cancelled call) stops the function.
func (h *handle) emit(raw codec.Raw) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.status.Terminal() {
		return errCancelledByCaller
	}
	h.items = append(h.items, raw)
	h.changed()
	return nil
}

// Items yields the items of an iterator function as they are produced,
// from the first, however late the caller asks; after the last one, a call
// that did not complete yields its error. The same contract as the NATS
// handle's Items.
func (h *handle) Items(ctx context.Context) iter.Seq2[strand.Value, error] {
	return func(yield func(strand.Value, error) bool) {
		for n := 0; ; {
			h.mu.Lock()
			if n < len(h.items) {
				v := codec.Value{F: h.c.format, Raw: h.items[n], I: int64(n), What: fmt.Sprintf("item %d", n)}
				h.mu.Unlock()
				n++
				if !yield(v, nil) {
					return
				}
				continue
			}
			more, err, over := h.more, h.err, h.status.Terminal()
			h.mu.Unlock()
			if over {
				if err != nil {
					yield(nil, err)
				}
				return
			}
			select {
			case <-more:
			case <-ctx.Done():
				yield(nil, fmt.Errorf("task %s: %w", h.c.id, ctx.Err()))
				return
			}
		}
	}
}
