package writer

import (
	"context"
	"fmt"
	"sync"
	"time"

	strand "github.com/strand-run/strand"
	"github.com/strand-run/strand/internal/broker"
	"github.com/strand-run/strand/internal/codec"
)

// handle is the caller's hold on one task (a strand.Handle): its status,
// its result when it has one, and a way to cancel it. A handle is cheap;
// Open rebuilds one from an id in any process.
type handle struct {
	w     *Writer
	id    string
	fn    string
	early *waiter // registered before the task was submitted; nil for Open

	mu    sync.Mutex
	queue string // "" until known, for a handle from Open
}

// ID is the task's id.
func (h *handle) ID() string { return h.id }

// Queue is the task's queue when the handle knows it: always for a handle
// from Submit, for one from Open once it has read any record of the task.
func (h *handle) Queue() string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.queue
}

func (h *handle) located(ctx context.Context) (string, error) {
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

func report(p *codec.Progress) *strand.Report {
	if p == nil {
		return nil
	}
	return &strand.Report{Done: p.Done, Total: p.Total, Note: p.Note}
}

// outcomeOf is the user's view of an outcome record.
func (h *handle) outcomeOf(o *codec.Outcome, f codec.Format) *strand.Outcome {
	out := &strand.Outcome{
		ID: h.id, Status: o.Status, Err: o.Error.Err(), Attempt: o.Attempt, Worker: o.Worker,
		Started: ms(o.Started), Ended: ms(o.Finished), Items: o.Items,
	}
	switch {
	case o.Status == strand.StatusCompleted:
		out.Err = nil
		if !o.Result.IsNil() {
			out.Result = codec.Value{F: f, Raw: o.Result, What: "the result of task " + h.id}
		}
	case out.Err == nil:
		out.Err = &strand.TaskError{Kind: strand.Kind(o.Status), Message: fmt.Sprintf("task %s %s", h.id, o.Status)}
	}
	return out
}

// infoOf fills info from the task's outcome record.
func infoOf(info *strand.Info, o *codec.Outcome) *strand.Info {
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

// Status is the task's status now: from its outcome if it has one, else its
// state, else its queued envelope; strand.StatusUnknown when none exists.
func (h *handle) Status(ctx context.Context) (strand.Status, error) {
	info, err := h.Info(ctx)
	if err != nil {
		return strand.StatusUnknown, err
	}
	return info.Status, nil
}

// Info reads the task's records in the protocol's order (docs/protocol.md,
// "Status"): its outcome, else its queued envelope and its state.
func (h *handle) Info(ctx context.Context) (*strand.Info, error) {
	info := &strand.Info{ID: h.id, Queue: h.Queue(), Func: h.fn, Status: strand.StatusUnknown}
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
		return infoOf(info, l.Outcome.Outcome), nil
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
		info.Started, info.Progress, info.Err = ms(st.Started), report(st.Progress), st.LastError.Err()
		info.NextAttempt = ms(st.NextAttempt)
		if st.Func != "" {
			info.Func = st.Func
		}
		info.Waiting = st.Waiting
	}
	if info.Status == strand.StatusPending && info.Waiting == "" {
		if p, err := h.w.b.Paused(ctx, q); err == nil && p != nil {
			info.Waiting = waitPaused
		} else if l.Lane == codec.PriorityLow {
			info.Waiting = waitPriority
		}
	}
	return info, nil
}

// Reasons a pending task waits (strand.Info.Waiting).
const (
	waitPaused   = "paused"   // its queue is paused
	waitPriority = "priority" // a low task, which starts once no normal task waits
)

// outcome returns the task's outcome record without waiting: nil while the
// task has none.
func (h *handle) outcome(ctx context.Context) (*codec.Outcome, codec.Format, error) {
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

func (h *handle) state(ctx context.Context) (*codec.State, error) {
	q, err := h.located(ctx)
	if err != nil || q == "" {
		return nil, err
	}
	return h.w.b.State(ctx, q, h.id)
}

// Wait blocks until the task has an outcome, or ctx ends, or the writer
// closes (strand.ErrClosed), and returns the outcome. It is push-based: the
// writer's one subscription per queue to outcome events wakes it; it reads
// only when the broker's Resync says events may have been lost.
func (h *handle) Wait(ctx context.Context) (*strand.Outcome, error) {
	o, f, err := h.wait(ctx)
	if err != nil {
		return nil, err
	}
	return h.outcomeOf(o, f), nil
}

func (h *handle) wait(ctx context.Context) (*codec.Outcome, codec.Format, error) {
	wt := h.early
	read := wt == nil
	if wt == nil {
		q, err := h.located(ctx)
		for q == "" && err == nil {
			// Nothing of the task exists yet: it may be on its way.
			select {
			case <-ctx.Done():
				return nil, 0, fmt.Errorf("task %s: %w", h.id, ctx.Err())
			case <-h.w.done:
				return nil, 0, fmt.Errorf("task %s: %w", h.id, strand.ErrClosed)
			case <-time.After(250 * time.Millisecond):
			}
			q, err = h.located(ctx)
		}
		if err != nil {
			return nil, 0, err
		}
		if wt, err = h.w.await(q, h.id); err != nil {
			return nil, 0, fmt.Errorf("task %s: %w", h.id, err)
		}
		defer h.w.unawait(q, h.id, wt)
	}
	var again <-chan time.Time
	for {
		// Events may have been lost (a reconnect, a leader election, a
		// stale replica's answer): read the outcome again.
		resync, gen := h.w.b.Resync()
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
		case <-resync:
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
func (h *handle) Result(ctx context.Context, out any) error {
	o, err := h.Wait(ctx)
	if err != nil {
		return err
	}
	return o.Decode(out)
}

// Cancel stops the task: a pending task will never run, a running one has
// its ctx cancelled on whichever worker runs it. The outcome becomes
// cancelled at once and durably. Cancel returns strand.ErrFinished if the
// task already had an outcome, strand.ErrNotFound if no record of it exists;
// either way it changes nothing.
func (h *handle) Cancel(ctx context.Context) error {
	q, err := h.located(ctx)
	if err != nil {
		return err
	}
	if q == "" {
		return fmt.Errorf("cancel %s: %w", h.id, strand.ErrNotFound)
	}
	return h.w.b.Cancel(ctx, q, h.id, h.w.cfg.ResultTTL)
}
