package gateway

import (
	"context"
	"encoding/json"
	"net/http"
	"sync"
	"time"

	"github.com/nats-io/nats.go"

	strand "github.com/strand-run/strand"
	"github.com/strand-run/strand/internal/broker"
	"github.com/strand-run/strand/internal/codec"
)

// liveBacklog is how many tasks a slow /v1/events client may fall behind by
// before further new tasks are dropped for it (changes to tasks it already
// has queued are merged, never dropped).
const liveBacklog = 4096

// liveArgsMax is the largest task record whose arguments /v1/events sends.
const liveArgsMax = 4 << 10

// streamEvery is how often /v1/stream sends the queues and workers.
const streamEvery = time.Second

// taskEvent is one change of one task as /v1/events sends it.
type taskEvent struct {
	ID       string          `json:"id"`
	Status   string          `json:"status"`
	Func     string          `json:"func,omitempty"`
	Queue    string          `json:"queue,omitempty"`
	Attempt  int             `json:"attempt,omitempty"`
	Worker   string          `json:"worker,omitempty"`
	Error    *errorBody      `json:"error,omitempty"`
	Progress *codec.Progress `json:"progress,omitempty"`
	Args     json.RawMessage `json:"args,omitempty"`
	Kwargs   json.RawMessage `json:"kwargs,omitempty"`
	Time     string          `json:"time"`
}

// rank orders statuses so that a late event never moves a task back.
func rank(s string) int {
	switch st := strand.Status(s); {
	case st.Terminal():
		return 2
	case st == strand.StatusPending:
		return 0
	default:
		return 1
	}
}

// merge folds a newer event of the same task into e.
func (e *taskEvent) merge(n *taskEvent) {
	if rank(n.Status) >= rank(e.Status) {
		args, kwargs, fn, queue := e.Args, e.Kwargs, e.Func, e.Queue
		*e = *n
		if e.Args == nil {
			e.Args, e.Kwargs = args, kwargs
		}
		if e.Func == "" {
			e.Func = fn
		}
		if e.Queue == "" {
			e.Queue = queue
		}
		return
	}
	if e.Func == "" {
		e.Func = n.Func
	}
	if e.Queue == "" {
		e.Queue = n.Queue
	}
	if e.Args == nil {
		e.Args, e.Kwargs = n.Args, n.Kwargs
	}
}

// liveQueue holds the events a /v1/events client has not been sent yet,
// one per task, in the order the tasks were first seen.
type liveQueue struct {
	mu      sync.Mutex
	order   []string
	byID    map[string]*taskEvent
	dropped int
	wake    chan struct{}
}

func (q *liveQueue) put(e *taskEvent) {
	q.mu.Lock()
	if old, ok := q.byID[e.ID]; ok {
		old.merge(e)
	} else if len(q.order) >= liveBacklog {
		q.dropped++
	} else {
		q.order = append(q.order, e.ID)
		q.byID[e.ID] = e
	}
	q.mu.Unlock()
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

func (q *liveQueue) take() (events []*taskEvent, dropped int) {
	q.mu.Lock()
	defer q.mu.Unlock()
	for _, id := range q.order {
		events = append(events, q.byID[id])
	}
	dropped = q.dropped
	q.order, q.dropped = q.order[:0], 0
	clear(q.byID)
	return events, dropped
}

// taskWritten turns a task record written by a producer into a pending event.
func (g *gateway) taskWritten(m *nats.Msg) *taskEvent {
	queue, id, ok := g.names.ParseTaskSubject(m.Subject)
	if !ok || broker.IsMarker(m.Header, m.Data) {
		return nil
	}
	e := &taskEvent{ID: id, Status: string(strand.StatusPending), Queue: queue, Func: m.Header.Get(codec.HeaderFunc)}
	if len(m.Data) > liveArgsMax {
		return e
	}
	f, err := codec.ParseContentType(m.Header.Get(codec.HeaderContentType))
	if err != nil {
		return e
	}
	env, err := codec.DecodeEnvelope(f, m.Data)
	if err != nil {
		return e
	}
	e.Func = env.Func
	args := make([]json.RawMessage, 0, len(env.Args))
	for _, a := range env.Args {
		v, err := codec.ToJSON(f, a)
		if err != nil {
			return e
		}
		args = append(args, v)
	}
	e.Args, _ = json.Marshal(args)
	if !env.Kwargs.IsNil() {
		if v, err := codec.ToJSON(f, env.Kwargs); err == nil {
			e.Kwargs = v
		}
	}
	return e
}

// recordWritten turns a republished write of a task's state, outcome or
// cancellation (s./r./c.<queue>.<id>) into an event.
func (g *gateway) recordWritten(m *nats.Msg) *taskEvent {
	kind, _, id, ok := g.names.ParseKey(m.Subject)
	if !ok || broker.IsMarker(m.Header, m.Data) {
		return nil
	}
	switch kind {
	case broker.KindState:
		st, err := codec.DecodeState(m.Data)
		if err != nil {
			return nil
		}
		e := &taskEvent{ID: id, Status: string(st.Status), Func: st.Func, Queue: st.Queue, Attempt: st.Attempt,
			Worker: st.Worker, Progress: st.Progress}
		if st.LastError != nil {
			e.Error = &errorBody{Kind: st.LastError.Kind, Message: st.LastError.Message}
		}
		return e
	case broker.KindOutcome, broker.KindCancel:
		ob, err := g.b.DecodeOutcome(m.Subject, m.Data, 0)
		if err != nil {
			return nil
		}
		o := ob.Outcome
		e := &taskEvent{ID: id, Status: string(o.Status), Func: o.Func, Queue: o.Queue, Attempt: o.Attempt, Worker: o.Worker}
		if o.Error != nil {
			e.Error = &errorBody{Kind: o.Error.Kind, Message: o.Error.Message}
		}
		return e
	}
	return nil
}

// liveEvents streams every task's changes as Server-Sent Events: a `task`
// event when a producer writes a task (pending, with its arguments when
// small), when a worker writes its state and when its outcome is written.
// A client that falls far behind gets a `dropped` event with the number of
// tasks it missed. It is push-based: the producers' task writes and the
// bucket's republished state and outcome writes, no polling.
func (g *gateway) liveEvents(rw http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	q := &liveQueue{byID: map[string]*taskEvent{}, wake: make(chan struct{}, 1)}
	nc := g.b.Conn()
	var subs []*nats.Subscription
	defer func() {
		for _, s := range subs {
			_ = s.Unsubscribe()
		}
	}()
	handlers := []struct {
		subject string
		decode  func(*nats.Msg) *taskEvent
	}{
		{g.names.TaskSubjects(), g.taskWritten},
		{g.names.EventPrefix() + ">", g.recordWritten},
	}
	for _, h := range handlers {
		sub, err := nc.Subscribe(h.subject, func(m *nats.Msg) {
			if e := h.decode(m); e != nil {
				e.Time = rfc3339(time.Now())
				q.put(e)
			}
		})
		if err != nil {
			g.fail(rw, r, err)
			return
		}
		_ = sub.SetPendingLimits(-1, -1) // the liveQueue bounds what is kept
		subs = append(subs, sub)
	}
	fctx, cancel := context.WithTimeout(ctx, flushTimeout)
	err := nc.FlushWithContext(fctx)
	cancel()
	if err != nil {
		g.fail(rw, r, err)
		return
	}
	s := startSSE(rw)
	if s.comment("subscribed") != nil {
		return
	}
	tick := time.NewTicker(keepAlive)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
			if s.comment("keep-alive") != nil {
				return
			}
		case <-q.wake:
			events, dropped := q.take()
			for _, e := range events {
				if s.send("task", e) != nil {
					return
				}
			}
			if dropped > 0 && s.send("dropped", map[string]int{"tasks": dropped}) != nil {
				return
			}
		}
	}
}

// stream sends the queues' counters and the live workers as Server-Sent
// Events, at once and then every second: a `queues` event and a `workers`
// event each time, until the client leaves.
func (g *gateway) stream(rw http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	s := startSSE(rw)
	tick := time.NewTicker(streamEvery)
	defer tick.Stop()
	for {
		if err := g.sendStats(ctx, s); err != nil {
			if ctx.Err() != nil || s.send("error", errorBody{Kind: "internal", Message: err.Error()}) != nil {
				return
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

func (g *gateway) sendStats(ctx context.Context, s *sse) error {
	qs, ws, err := g.queueList(ctx)
	if err != nil {
		return err
	}
	now := rfc3339(time.Now())
	if err := s.send("queues", map[string]any{"queues": qs, "time": now}); err != nil {
		return nil // the client left; the caller sees ctx end
	}
	_ = s.send("workers", map[string]any{"workers": ws, "time": now})
	return nil
}
