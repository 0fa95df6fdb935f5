package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"

	strand "github.com/strand-run/strand"
	"github.com/strand-run/strand/internal/broker"
	"github.com/strand-run/strand/internal/codec"
)

// keepAlive is how often an idle event stream sends a comment, so that
// proxies do not close it.
const keepAlive = 15 * time.Second

// flushTimeout bounds the round trip that makes sure the server has a
// stream's subscriptions before the first read.
const flushTimeout = 10 * time.Second

// latest holds the newest state and outcome events of one task, written by
// the NATS subscription and read by the stream: a slow client sees the
// latest state rather than every one, and never misses the outcome.
type latest struct {
	mu      sync.Mutex
	state   []byte
	outcome *nats.Msg
	wake    chan struct{}
}

func (l *latest) put(m *nats.Msg, outcome bool) {
	if broker.IsMarker(m.Header, m.Data) {
		return // a delete, purge or expiry marker
	}
	l.mu.Lock()
	if outcome {
		if l.outcome == nil { // the first of outcome and cancellation stands
			l.outcome = m
		}
	} else {
		l.state = m.Data
	}
	l.mu.Unlock()
	select {
	case l.wake <- struct{}{}:
	default:
	}
}

func (l *latest) take() (state []byte, outcome *nats.Msg) {
	l.mu.Lock()
	defer l.mu.Unlock()
	state, outcome = l.state, l.outcome
	l.state, l.outcome = nil, nil
	return state, outcome
}

// sse writes Server-Sent Events.
type sse struct {
	rw         http.ResponseWriter
	rc         *http.ResponseController
	lastStatus string // the data of the last status event sent
}

func startSSE(rw http.ResponseWriter) *sse {
	longLived(rw, 0)
	h := rw.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Accel-Buffering", "no")
	rw.WriteHeader(http.StatusOK)
	s := &sse{rw: rw, rc: http.NewResponseController(rw)}
	_ = s.rc.Flush()
	return s
}

func (s *sse) send(event string, v any) error {
	data, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return s.write(event, data)
}

func (s *sse) write(event string, data []byte) error {
	if _, err := fmt.Fprintf(s.rw, "event: %s\ndata: %s\n\n", event, data); err != nil {
		return err
	}
	return s.rc.Flush()
}

// sendStatus sends a status event, unless it says what the last one did:
// a read made again when events may have been lost (Resync) finds the
// status unchanged more often than not.
func (s *sse) sendStatus(v any) error {
	data, err := json.Marshal(v)
	if err != nil {
		return err
	}
	if string(data) == s.lastStatus {
		return nil
	}
	s.lastStatus = string(data)
	return s.write("status", data)
}

func (s *sse) comment(text string) error {
	if _, err := fmt.Fprintf(s.rw, ": %s\n\n", strings.ReplaceAll(text, "\n", " ")); err != nil {
		return err
	}
	return s.rc.Flush()
}

// events streams a task's state changes as Server-Sent Events: an `status`
// event with the task's info at once and with each state it goes through,
// then one `outcome` event, and the stream ends. It is push-based: the
// bucket's republished writes of s.<id> and r.<id>, no polling.
func (g *gateway) events(rw http.ResponseWriter, r *http.Request) {
	h, ok := g.open(rw, r)
	if !ok {
		return
	}
	ctx := r.Context()
	id := h.ID()
	l := &latest{wake: make(chan struct{}, 1)}
	nc := g.b.Conn()
	var subs []*nats.Subscription
	defer func() {
		for _, s := range subs {
			_ = s.Unsubscribe()
		}
	}()
	q, err := g.b.Locate(ctx, id)
	if err != nil {
		g.fail(rw, r, err)
		return
	}
	if q == "" {
		q = "default" // nothing of it yet: follow it where it would be
	}
	// One subscription for the task's state, outcome and cancellation, so
	// that their events arrive in the order the server stored them.
	sub, err := nc.Subscribe(g.names.Event(g.names.Key("*", q, id)), func(m *nats.Msg) {
		if kind, _, _, ok := g.names.ParseKey(m.Subject); ok {
			l.put(m, kind != broker.KindState)
		}
	})
	if err != nil {
		g.fail(rw, r, err)
		return
	}
	subs = append(subs, sub)
	// Subscribed before the first read: a change from now on is not missed.
	fctx, cancel := context.WithTimeout(ctx, flushTimeout)
	err = nc.FlushWithContext(fctx)
	cancel()
	if err != nil {
		g.fail(rw, r, err)
		return
	}
	in, ok := g.known(ctx, rw, r, h)
	if !ok {
		return
	}
	s := startSSE(rw)
	// reread sends the task's info, and its outcome if it has one; it
	// reports whether the stream is over.
	reread := func() bool {
		in, err := h.Info(ctx)
		if err != nil {
			_ = s.send("error", errorBody{Kind: "internal", Message: err.Error()})
			return true
		}
		if s.sendStatus(infoJSON(in)) != nil {
			return true
		}
		if !in.Status.Terminal() {
			return false
		}
		o, err := h.Wait(ctx) // it has its outcome: Wait reads it at once
		if err != nil {
			return true
		}
		body, err := outcomeBodyOf(o)
		if err != nil {
			_ = s.send("error", errorBody{Kind: "malformed", Message: err.Error()})
			return true
		}
		_ = s.send("outcome", body)
		return true
	}
	if in.Status.Terminal() {
		reread()
		return
	}
	if s.sendStatus(infoJSON(in)) != nil {
		return
	}
	tick := time.NewTicker(keepAlive)
	defer tick.Stop()
	for {
		resync, _ := g.b.Resync()
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
			if s.comment("keep-alive") != nil {
				return
			}
		case <-resync:
			// Events may have been lost (a reconnect, a leader election).
			if reread() {
				return
			}
		case <-l.wake:
			state, outcome := l.take()
			if state != nil {
				if st, err := codec.DecodeState(state); err == nil {
					if s.sendStatus(stateJSON(id, in, st)) != nil {
						return
					}
				}
			}
			if outcome != nil {
				o, err := g.b.DecodeOutcome(outcome.Subject, outcome.Data, 0)
				if err != nil {
					_ = s.send("error", errorBody{Kind: "malformed", Message: err.Error()})
					return
				}
				g.sendOutcome(s, id, o.Outcome, o.Format)
				return
			}
		}
	}
}

func (g *gateway) sendOutcome(s *sse, id string, o *codec.Outcome, f codec.Format) {
	body, err := outcomeJSON(id, o, f)
	if err != nil {
		_ = s.send("error", errorBody{Kind: "malformed", Message: err.Error()})
		return
	}
	_ = s.send("outcome", body)
}

// stateJSON is a state record as a status event: the task's info as first
// read, updated by the state.
func stateJSON(id string, first *strand.Info, st *codec.State) *infoBody {
	body := infoJSON(first)
	body.ID, body.Status, body.Attempt, body.Worker = id, string(st.Status), st.Attempt, st.Worker
	body.Progress, body.Error = st.Progress, nil
	if st.Started != 0 {
		body.Started = rfc3339(time.UnixMilli(st.Started))
	}
	if st.NextAttempt != 0 {
		body.NextAttempt = rfc3339(time.UnixMilli(st.NextAttempt))
	}
	if st.LastError != nil {
		body.Error = &errorBody{Kind: st.LastError.Kind, Message: st.LastError.Message}
	}
	return body
}

// itemBody is one streamed item: its number and its value as JSON.
type itemBody struct {
	N     int64           `json:"n"`
	Value json.RawMessage `json:"value"`
}

// items streams an iterator task's items as Server-Sent Events, from the
// first one however late the client attaches: an `item` event for each,
// then one `end` event with the task's outcome, and the stream ends. A task
// that streams nothing has just its `end` event.
func (g *gateway) items(rw http.ResponseWriter, r *http.Request) {
	h, ok := g.open(rw, r)
	if !ok {
		return
	}
	if _, ok := g.known(r.Context(), rw, r, h); !ok {
		return
	}
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	type next struct {
		it  strand.Value
		err error
	}
	ch := make(chan next)
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel()
	wg.Go(func() {
		defer close(ch)
		for it, err := range h.Items(ctx) {
			select {
			case ch <- next{it, err}:
			case <-ctx.Done():
				return
			}
		}
	})
	s := startSSE(rw)
	tick := time.NewTicker(keepAlive)
	defer tick.Stop()
	for done := false; !done; {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
			if s.comment("keep-alive") != nil {
				return
			}
		case x, ok := <-ch:
			var te *strand.TaskError
			switch {
			case !ok || errors.As(x.err, &te):
				done = true // the task's error, if any, is in its outcome
			case x.err != nil:
				_ = s.send("error", errorBody{Kind: "internal", Message: x.err.Error()})
				return
			default:
				n := itemN(x.it)
				v, err := codec.ValueJSON(x.it)
				if err != nil {
					_ = s.send("error", errorBody{Kind: "malformed", Message: fmt.Sprintf("item %d: %v", n, err)})
					return
				}
				if s.send("item", itemBody{N: n, Value: v}) != nil {
					return
				}
			}
		}
	}
	o, err := h.Wait(ctx)
	if err != nil {
		_ = s.send("error", errorBody{Kind: "internal", Message: err.Error()})
		return
	}
	body, err := outcomeBodyOf(o)
	if err != nil {
		_ = s.send("error", errorBody{Kind: "malformed", Message: err.Error()})
		return
	}
	_ = s.send("end", body)
}
