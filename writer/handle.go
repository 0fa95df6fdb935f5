package writer

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	strand "github.com/strand-run/strand"
	"github.com/strand-run/strand/codec"
)

// headerKVOperation marks KV delete and purge markers.
const headerKVOperation = "KV-Operation"

// Handle is the caller's hold on one task: its status, its result when it
// has one, and a way to cancel it. A Handle is cheap; Open rebuilds one from
// an id in any process.
type Handle struct {
	w     *Writer
	id    string
	queue string
	fn    string
}

// ID is the task's id.
func (h *Handle) ID() string { return h.id }

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

// Info reads the task's records, the outcome first.
func (h *Handle) Info(ctx context.Context) (*Info, error) {
	info := &Info{ID: h.id, Queue: h.queue, Func: h.fn, Status: strand.StatusUnknown}
	o, _, err := h.outcome(ctx)
	if err != nil {
		return nil, err
	}
	if o != nil {
		info.Status, info.Attempt, info.Worker, info.Items = o.Status, o.Attempt, o.Worker, o.Items
		info.Started, info.Finished, info.Err = ms(o.Started), ms(o.Finished), o.Error.Err()
		info.Created, info.Meta = ms(o.Created), o.Meta
		if o.Func != "" {
			info.Func = o.Func
		}
		if o.Queue != "" {
			info.Queue = o.Queue
		}
		return info, nil
	}
	env, _, err := h.envelope(ctx)
	if err != nil {
		return nil, err
	}
	if env != nil {
		info.Status, info.Func, info.Queue = strand.StatusPending, env.Func, env.Queue
		info.Created, info.Meta = ms(env.Created), env.Meta
	}
	st, err := h.state(ctx)
	if err != nil {
		return nil, err
	}
	if st != nil {
		info.Status, info.Attempt, info.Worker = st.Status, st.Attempt, st.Worker
		info.Started, info.Progress, info.Err = ms(st.Started), st.Progress, st.LastError.Err()
		if st.Func != "" {
			info.Func = st.Func
		}
		if st.Queue != "" {
			info.Queue = st.Queue
		}
	}
	return info, nil
}

func (h *Handle) get(ctx context.Context, key string) ([]byte, error) {
	e, err := h.w.b.KV().Get(ctx, key)
	if errors.Is(err, jetstream.ErrKeyNotFound) || errors.Is(err, jetstream.ErrKeyDeleted) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("task %s: get %s: %w", h.id, key, err)
	}
	return e.Value(), nil
}

func (h *Handle) outcome(ctx context.Context) (*codec.Outcome, codec.Format, error) {
	b, err := h.get(ctx, h.w.names.ResultKey(h.id))
	if err != nil || b == nil {
		return nil, 0, err
	}
	return codec.DecodeOutcome(b)
}

func (h *Handle) state(ctx context.Context) (*codec.State, error) {
	b, err := h.get(ctx, h.w.names.StateKey(h.id))
	if err != nil || b == nil {
		return nil, err
	}
	return codec.DecodeState(b)
}

// envelope reads the queued task; it finds the queue by a wildcard lookup
// when the handle does not know it.
func (h *Handle) envelope(ctx context.Context) (*codec.Envelope, codec.Format, error) {
	n := h.w.names
	var data []byte
	var hdr nats.Header
	if h.queue != "" {
		b, err := h.get(ctx, n.TaskKey(h.queue, h.id))
		if err != nil || b == nil {
			return nil, 0, err
		}
		data = b
	} else {
		s, err := h.w.b.JetStream().Stream(ctx, n.Stream())
		if err != nil {
			return nil, 0, err
		}
		m, err := s.GetLastMsgForSubject(ctx, n.TaskSubject("*", h.id))
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			return nil, 0, nil
		}
		if err != nil {
			return nil, 0, fmt.Errorf("task %s: find its queue: %w", h.id, err)
		}
		if m.Header.Get(headerKVOperation) != "" {
			return nil, 0, nil
		}
		if q, _, ok := n.ParseTaskSubject(m.Subject); ok {
			h.queue = q
		}
		data, hdr = m.Data, m.Header
	}
	if len(data) == 0 {
		return nil, 0, nil
	}
	f := codec.Sniff(data)
	if ct := hdr.Get(codec.HeaderContentType); ct != "" {
		if pf, err := codec.ParseContentType(ct); err == nil {
			f = pf
		}
	}
	env, err := codec.DecodeEnvelope(f, data)
	if err != nil {
		return nil, f, fmt.Errorf("task %s: %w", h.id, err)
	}
	return env, f, nil
}

// Wait blocks until the task has an outcome, or ctx ends, and returns the
// outcome record. It is push-based: the writer's one shared subscription to
// outcome events wakes it; nothing polls.
func (h *Handle) Wait(ctx context.Context) (*codec.Outcome, codec.Format, error) {
	ch, err := h.w.await(h.id)
	if err != nil {
		return nil, 0, err
	}
	defer h.w.unawait(h.id, ch)
	// The subscription is live, so an outcome written from now on reaches
	// ch; one written before is found by the read.
	o, f, err := h.outcome(ctx)
	if err != nil || o != nil {
		return o, f, err
	}
	for {
		select {
		case data := <-ch:
			o, f, err := codec.DecodeOutcome(data)
			if err != nil {
				return nil, 0, fmt.Errorf("task %s: %w", h.id, err)
			}
			return o, f, nil
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
// task already had an outcome, strand.ErrNotFound if no record of it exists.
func (h *Handle) Cancel(ctx context.Context) error {
	n := h.w.names
	env, f, err := h.envelope(ctx)
	if err != nil {
		return err
	}
	if env == nil {
		o, _, err := h.outcome(ctx)
		if err != nil {
			return err
		}
		if o != nil {
			return fmt.Errorf("cancel %s: %w (%s)", h.id, strand.ErrFinished, o.Status)
		}
		return fmt.Errorf("cancel %s: %w", h.id, strand.ErrNotFound)
	}
	ttl := time.Duration(env.ResultTTLMS) * time.Millisecond
	if ttl <= 0 {
		ttl = h.w.cfg.ResultTTL
	}
	now := time.Now().UnixMilli()
	o := &codec.Outcome{
		Status: strand.StatusCancelled, Func: env.Func, Queue: env.Queue, Created: env.Created, Meta: env.Meta,
		Error:    &codec.ErrorInfo{Kind: strand.KindCancelled, Message: env.Func + ": cancelled by caller"},
		Finished: now,
	}
	data, err := f.Marshal(o)
	if err != nil {
		return err
	}
	if _, err := h.w.b.KV().Create(ctx, n.ResultKey(h.id), data, jetstream.KeyTTL(ttl)); err != nil {
		if errors.Is(err, jetstream.ErrKeyExists) {
			return fmt.Errorf("cancel %s: %w", h.id, strand.ErrFinished)
		}
		return fmt.Errorf("cancel %s: %w", h.id, err)
	}
	if err := h.w.b.KV().Purge(ctx, n.TaskKey(env.Queue, h.id), jetstream.PurgeTTL(ttl)); err != nil {
		h.w.log.Warn().Err(err).Str("task_id", h.id).Msg("cancel: purge task record")
	}
	if err := h.w.b.Conn().Publish(n.Cancel(h.id), nil); err != nil {
		return fmt.Errorf("cancel %s: notify workers: %w", h.id, err)
	}
	return nil
}
