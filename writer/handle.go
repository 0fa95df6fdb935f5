package writer

import (
	"context"
	"fmt"
	"sync"
	"time"

	strand "github.com/strand-run/strand"
	"github.com/strand-run/strand/broker"
	"github.com/strand-run/strand/codec"
)

// Handle is the caller's hold on one task: its status, its result when it
// has one, and a way to cancel it. A Handle is cheap; Open rebuilds one from
// an id in any process.
type Handle struct {
	w     *Writer
	id    string
	fn    string
	early *waiter // registered before the task was submitted; nil for Open

	mu    sync.Mutex
	queue string // "" until known, for a handle from Open
}

// ID is the task's id.
func (h *Handle) ID() string { return h.id }

// Queue is the task's queue when the handle knows it: always for a handle
// from Submit, for one from Open once it has read any record of the task.
func (h *Handle) Queue() string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.queue
}

// Locate returns the task's queue, reading it from the server once if the
// handle was opened without one: "" when the server holds nothing of the task.
func (h *Handle) Locate(ctx context.Context) (string, error) { return h.located(ctx) }

func (h *Handle) located(ctx context.Context) (string, error) {
	if q := h.Queue(); q != "" {
		return q, nil
	}
	q, err := h.w.b.Locate(ctx, h.id)
	if err != nil {
		return "", fmt.Errorf("task %s: %w", h.id, err)
	}
	if q != "" {
		h.mu.Lock()
		h.queue = q
		h.mu.Unlock()
	}
	return q, nil
}

// Info is what is known of a task: its status and the metadata of its run.
type Info struct {
	ID       string
	Queue    string
	Func     string
	Status   strand.Status
	Attempt  int
	Worker   string
	Created  time.Time
	Started  time.Time
	Finished time.Time
	Progress *codec.Progress
	// Err is the task's error (a *strand.TaskError) once it failed, was
	// cancelled, or while it waits to retry.
	Err   error
	Meta  map[string]string
	Items int64
	// RunAt is when a delayed task (status scheduled) becomes due.
	RunAt time.Time
	// Waiting says why a pending task has not started, when the server
	// knows a reason: "paused" (its queue is paused), "limit: …" or
	// "rate: …" (a worker holds it for a limit), "priority" (a low task),
	// "" otherwise.
	Waiting string
	// Priority is a queued task's priority lane: "high", "low", or "" (normal).
	Priority string
}

func ms(t int64) time.Time {
	if t == 0 {
		return time.Time{}
	}
	return time.UnixMilli(t)
}

// Status is the task's status now: from its outcome if it has one, else its
// state, else its queued envelope; strand.StatusUnknown when none exists.
func (h *Handle) Status(ctx context.Context) (strand.Status, error) {
	info, err := h.Info(ctx)
	if err != nil {
		return strand.StatusUnknown, err
	}
	return info.Status, nil
}

// Ready reports whether the task has reached a terminal status.
func (h *Handle) Ready(ctx context.Context) (bool, error) {
	o, _, err := h.outcome(ctx)
	if err != nil {
		return false, err
	}
	return o != nil, nil
}

// Metadata is Info: the task's status, function, queue, times, worker,
// attempt and the submitter's metadata.
func (h *Handle) Metadata(ctx context.Context) (*Info, error) { return h.Info(ctx) }

// fromOutcome fills info from the task's outcome record.
func (info *Info) fromOutcome(o *codec.Outcome) *Info {
	info.Status, info.Attempt, info.Worker, info.Items = o.Status, o.Attempt, o.Worker, o.Items
	info.Started, info.Finished, info.Err = ms(o.Started), ms(o.Finished), o.Error.Err()
	info.Created, info.Meta = ms(o.Created), o.Meta
	if o.Func != "" {
		info.Func = o.Func
	}
	if o.Queue != "" {
		info.Queue = o.Queue
	}
	return info
}

// Info reads the task's records in the protocol's order (docs/protocol.md,
// "Status"): its outcome, else its queued envelope and its state.
func (h *Handle) Info(ctx context.Context) (*Info, error) {
	info := &Info{ID: h.id, Queue: h.Queue(), Func: h.fn, Status: strand.StatusUnknown}
	q, err := h.located(ctx)
	if err != nil || q == "" {
		return info, err
	}
	l, err := h.w.b.Look(ctx, q, h.id)
	if err != nil {
		return nil, fmt.Errorf("task %s: %w", h.id, err)
	}
	info.Queue = q
	if l.Outcome != nil {
		return info.fromOutcome(l.Outcome.Outcome), nil
	}
	if env := l.Task; env != nil {
		info.Status, info.Func = strand.StatusPending, env.Func
		info.Created, info.Meta = ms(env.Created), env.Meta
		if l.Scheduled {
			info.Status, info.RunAt = strand.StatusScheduled, l.RunAt
		}
		info.Priority = l.Lane
	}
	if st := l.State; st != nil && l.Task != nil {
		info.Status, info.Attempt, info.Worker = st.Status, st.Attempt, st.Worker
		info.Started, info.Progress, info.Err = ms(st.Started), st.Progress, st.LastError.Err()
		if st.Func != "" {
			info.Func = st.Func
		}
		info.Waiting = st.Waiting
	}
	if info.Status == strand.StatusPending && info.Waiting == "" {
		if p, err := h.w.b.Paused(ctx, q); err == nil && p != nil {
			info.Waiting = WaitPaused
		} else if l.Lane == codec.PriorityLow {
			info.Waiting = WaitPriority
		}
	}
	return info, nil
}

// Reasons a pending task waits (Info.Waiting).
const (
	// WaitPaused: the task's queue is paused (inspect.Inspector.Pause).
	WaitPaused = "paused"
	// WaitPriority: a low task, which starts once no normal task waits.
	WaitPriority = "priority"
)

// Outcome returns the task's outcome record without waiting: nil while the
// task has none.
func (h *Handle) Outcome(ctx context.Context) (*codec.Outcome, codec.Format, error) {
	return h.outcome(ctx)
}

func (h *Handle) outcome(ctx context.Context) (*codec.Outcome, codec.Format, error) {
	q, err := h.located(ctx)
	if err != nil || q == "" {
		return nil, 0, err
	}
	o, err := h.w.b.Outcome(ctx, q, h.id)
	if err != nil || o == nil {
		return nil, 0, err
	}
	return o.Outcome, o.Format, nil
}

func (h *Handle) state(ctx context.Context) (*codec.State, error) {
	q, err := h.located(ctx)
	if err != nil || q == "" {
		return nil, err
	}
	return h.w.b.State(ctx, q, h.id)
}

// Wait blocks until the task has an outcome, or ctx ends, and returns the
// outcome record. It is push-based: the writer's one subscription per queue to
// outcome events wakes it; nothing polls.
func (h *Handle) Wait(ctx context.Context) (*codec.Outcome, codec.Format, error) {
	wt := h.early
	read := wt == nil
	if wt == nil {
		q, err := h.located(ctx)
		for q == "" && err == nil {
			// Nothing of the task exists yet: it may be on its way.
			select {
			case <-ctx.Done():
				return nil, 0, fmt.Errorf("task %s: %w", h.id, ctx.Err())
			case <-time.After(250 * time.Millisecond):
			}
			q, err = h.located(ctx)
		}
		if err != nil {
			return nil, 0, err
		}
		if wt, err = h.w.await(q, h.id); err != nil {
			return nil, 0, err
		}
		defer h.w.unawait(q, h.id, wt)
	}
	var again <-chan time.Time
	for {
		// Events sent while the connection was down are lost: after a
		// reconnect, read the outcome again.
		reconnected, gen := h.w.b.Reconnected()
		if gen != wt.gen {
			read = true
		}
		if read {
			// The subscription is live, so an outcome written from now on
			// reaches wt; one written before is found by the read.
			o, f, err := h.outcome(ctx)
			switch {
			case err != nil && broker.Transient(err) && ctx.Err() == nil:
				// A cluster failing over answers no reads for a moment.
				again = time.After(100 * time.Millisecond)
			case err != nil || o != nil:
				return o, f, err
			}
		}
		select {
		case <-again:
			read = true
		case <-wt.done:
			if wt.err != nil {
				return nil, 0, fmt.Errorf("task %s: %w", h.id, wt.err)
			}
			o, err := h.w.b.DecodeOutcome(wt.subject, wt.data, 0)
			if err != nil {
				return nil, 0, err
			}
			return o.Outcome, o.Format, nil
		case <-reconnected:
			read = true
		case <-ctx.Done():
			return nil, 0, fmt.Errorf("task %s: %w", h.id, ctx.Err())
		}
	}
}

// Result waits for the task to end and decodes its result into out (a
// pointer, or nil to discard it). A task that did not complete returns its
// error: a *strand.TaskError matching strand.ErrCancelled, ErrTimeout,
// ErrUnknownFunc, ErrBadArgs, … with errors.Is.
func (h *Handle) Result(ctx context.Context, out any) error {
	o, f, err := h.Wait(ctx)
	if err != nil {
		return err
	}
	if o.Status != strand.StatusCompleted {
		if o.Error != nil {
			return o.Error.Err()
		}
		return &strand.TaskError{Kind: string(o.Status), Message: fmt.Sprintf("task %s %s", h.id, o.Status)}
	}
	if out == nil || o.Result.IsNil() {
		return nil
	}
	if err := codec.DecodeValue(f, o.Result, out, false); err != nil {
		return fmt.Errorf("task %s: decode result into %T: %w", h.id, out, err)
	}
	return nil
}

// Cancel stops the task: a pending task will never run, a running one has
// its ctx cancelled on whichever worker runs it. The outcome becomes
// cancelled at once and durably. Cancel returns strand.ErrFinished if the
// task already had an outcome, strand.ErrNotFound if no record of it exists;
// either way it changes nothing.
func (h *Handle) Cancel(ctx context.Context) error {
	q, err := h.located(ctx)
	if err != nil {
		return err
	}
	if q == "" {
		return fmt.Errorf("cancel %s: %w", h.id, strand.ErrNotFound)
	}
	return h.w.b.Cancel(ctx, q, h.id, h.w.cfg.ResultTTL)
}
