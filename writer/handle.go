package writer

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	strand "github.com/strand-run/strand"
	"github.com/strand-run/strand/broker"
	"github.com/strand-run/strand/codec"
)

// Headers of markers: KV deletes and purges, and the server's TTL expiries.
const (
	headerKVOperation  = "KV-Operation"
	headerMarkerReason = "Nats-Marker-Reason"
)

// Handle is the caller's hold on one task: its status, its result when it
// has one, and a way to cancel it. A Handle is cheap; Open rebuilds one from
// an id in any process.
type Handle struct {
	w     *Writer
	id    string
	queue string
	fn    string
	early *waiter // registered before the task was submitted; nil for Open
}

// ID is the task's id.
func (h *Handle) ID() string { return h.id }

// Queue is the task's queue when the handle knows it: always for a handle
// from Submit, for one from Open only if Queue(q) was passed.
func (h *Handle) Queue() string { return h.queue }

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

// Info reads the task's records, the outcome first.
func (h *Handle) Info(ctx context.Context) (*Info, error) {
	info := &Info{ID: h.id, Queue: h.queue, Func: h.fn, Status: strand.StatusUnknown}
	o, _, err := h.outcome(ctx)
	if err != nil {
		return nil, err
	}
	if o != nil {
		return info.fromOutcome(o), nil
	}
	tr, err := h.task(ctx)
	if err != nil {
		return nil, err
	}
	if tr != nil {
		env := tr.env
		info.Status, info.Func, info.Queue = strand.StatusPending, env.Func, env.Queue
		info.Created, info.Meta = ms(env.Created), env.Meta
	}
	st, err := h.state(ctx)
	if err != nil {
		return nil, err
	}
	if st == nil && tr != nil {
		// Task records outlive outcomes: one the queue has acknowledged
		// ran, and its outcome has expired.
		done, err := h.handled(ctx, tr.env.Queue, tr.seq)
		if err != nil {
			return nil, err
		}
		if done {
			// It may have finished between the first read and now.
			if o, _, err := h.outcome(ctx); err != nil || o != nil {
				if err != nil {
					return nil, err
				}
				return info.fromOutcome(o), nil
			}
			info.Status = strand.StatusUnknown
		}
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

// Outcome returns the task's outcome record without waiting: nil while the
// task has none.
func (h *Handle) Outcome(ctx context.Context) (*codec.Outcome, codec.Format, error) {
	return h.outcome(ctx)
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

// taskRecord is a queued task as stored: its envelope and stream sequence.
type taskRecord struct {
	env    *codec.Envelope
	format codec.Format
	seq    uint64
}

// task reads the queued task; a wildcard finds it when the handle does not
// know its queue. It returns nil when no envelope is stored (never
// submitted, cancelled, or expired).
func (h *Handle) task(ctx context.Context) (*taskRecord, error) {
	n := h.w.names
	q := h.queue
	if q == "" {
		q = "*"
	}
	s, err := h.w.b.JetStream().Stream(ctx, n.Stream())
	if err != nil {
		return nil, fmt.Errorf("task %s: %w", h.id, err)
	}
	m, err := s.GetLastMsgForSubject(ctx, n.TaskSubject(q, h.id))
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("task %s: read its envelope: %w", h.id, err)
	}
	if m.Header.Get(headerKVOperation) != "" || len(m.Data) == 0 {
		return nil, nil
	}
	f := codec.Sniff(m.Data)
	if ct := m.Header.Get(codec.HeaderContentType); ct != "" {
		if pf, err := codec.ParseContentType(ct); err == nil {
			f = pf
		}
	}
	env, err := codec.DecodeEnvelope(f, m.Data)
	if err != nil {
		return nil, fmt.Errorf("task %s: %w", h.id, err)
	}
	if queue, _, ok := n.ParseTaskSubject(m.Subject); ok {
		env.Queue = queue
	}
	return &taskRecord{env: env, format: f, seq: m.Sequence}, nil
}

// handled reports whether the queue's consumer has acknowledged the task
// record at seq: it ran, and its outcome has since expired.
func (h *Handle) handled(ctx context.Context, queue string, seq uint64) (bool, error) {
	c, err := h.w.b.JetStream().Consumer(ctx, h.w.names.Stream(), h.w.names.Consumer(queue))
	if errors.Is(err, jetstream.ErrConsumerNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	ci := c.CachedInfo()
	return seq <= ci.AckFloor.Stream, nil
}

// Wait blocks until the task has an outcome, or ctx ends, and returns the
// outcome record. It is push-based: the writer's one shared subscription to
// outcome events wakes it; nothing polls.
func (h *Handle) Wait(ctx context.Context) (*codec.Outcome, codec.Format, error) {
	wt := h.early
	read := wt == nil
	if wt == nil {
		var err error
		if wt, err = h.w.await(h.id); err != nil {
			return nil, 0, err
		}
		defer h.w.unawait(h.id, wt)
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
			o, f, err := codec.DecodeOutcome(wt.data)
			if err != nil {
				return nil, 0, fmt.Errorf("task %s: %w", h.id, err)
			}
			return o, f, nil
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
// task already had an outcome, strand.ErrNotFound if no record of it exists.
func (h *Handle) Cancel(ctx context.Context) error {
	n := h.w.names
	tr, err := h.task(ctx)
	if err != nil {
		return err
	}
	if tr == nil {
		o, _, err := h.outcome(ctx)
		if err != nil {
			return err
		}
		if o != nil {
			return fmt.Errorf("cancel %s: %w (%s)", h.id, strand.ErrFinished, o.Status)
		}
		return fmt.Errorf("cancel %s: %w", h.id, strand.ErrNotFound)
	}
	env, f := tr.env, tr.format
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
			if o, _, _ := h.outcome(ctx); o != nil {
				return fmt.Errorf("cancel %s: %w (%s)", h.id, strand.ErrFinished, o.Status)
			}
			return fmt.Errorf("cancel %s: %w", h.id, strand.ErrFinished)
		}
		return fmt.Errorf("cancel %s: %w", h.id, err)
	}
	// A delete marker replaces the envelope, so no worker receives it from
	// now on; it keeps the id taken. (Not a purge: on nats-server 2.15 a
	// rollup purge drops the consumer's pending redeliveries.)
	del := &nats.Msg{Subject: n.TaskSubject(env.Queue, h.id), Header: nats.Header{}}
	del.Header.Set(headerKVOperation, "DEL")
	if _, err := h.w.b.JetStream().PublishMsg(ctx, del, jetstream.WithMsgTTL(h.w.cfg.TaskTTL)); err != nil {
		h.w.log.Warn().Err(err).Str("task_id", h.id).Msg("cancel: delete task record")
	}
	if err := h.w.b.Conn().Publish(n.Cancel(h.id), nil); err != nil {
		return fmt.Errorf("cancel %s: notify workers: %w", h.id, err)
	}
	return nil
}
