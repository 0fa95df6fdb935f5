// Package conformance checks docs/protocol.md against a real server and
// worker, using nothing but what the document says: envelopes are built by
// hand and published with plain nats.go, records are read and decoded as a
// producer in another language would (direct gets, events, the first byte
// telling JSON from msgpack), and tasks are waited for and cancelled by the
// document's recipes. Only the worker is strand's own (reader with the
// demo functions add, echo, sleep, fail).
package conformance

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/vmihailenco/msgpack/v5"

	"github.com/strand-run/strand/broker"
	"github.com/strand-run/strand/broker/brokertest"
	"github.com/strand-run/strand/internal/demo"
	"github.com/strand-run/strand/reader"
	"github.com/strand-run/strand/registry"
	"github.com/strand-run/strand/server"
)

// wait bounds every wait for a record; tasks here finish in milliseconds.
const wait = time.Minute

const workerID = "conformance-w1"

// world is one test's server, a plain client connection and its worker.
type world struct {
	t   *testing.T
	srv *server.Server
	nc  *nats.Conn
	js  jetstream.JetStream
}

// newWorld starts a server and a worker on queues (default: "default") and
// returns once their consumers exist.
func newWorld(t *testing.T, queues ...string) *world {
	t.Helper()
	w := &world{t: t, srv: brokertest.Start(t)}
	nc, err := nats.Connect(w.srv.URL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	w.nc = nc
	if w.js, err = jetstream.New(nc); err != nil {
		t.Fatal(err)
	}
	if len(queues) == 0 {
		queues = []string{"default"}
	}
	w.worker(workerID, queues, 4)
	return w
}

// worker starts a worker with the demo functions and waits for its
// consumers; it stops at cleanup.
func (w *world) worker(id string, queues []string, concurrency int) {
	t := w.t
	t.Helper()
	reg := registry.New()
	if err := demo.Register(reg); err != nil {
		t.Fatal(err)
	}
	r, err := reader.New(brokertest.Connect(t, w.srv, broker.Config{}), reg, reader.Config{
		Queues: queues, Concurrency: concurrency, WorkerID: id,
		RetryBase: 10 * time.Millisecond, RunningAfter: -1, // retries at once; s.<queue>.<id> = running at once
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("worker: %v", err)
		}
	})
	wctx, wcancel := context.WithTimeout(context.Background(), wait)
	defer wcancel()
	for _, q := range queues {
		for {
			if _, err := w.js.Consumer(wctx, "STRAND_TASKS", "strand-"+q); err == nil {
				break
			} else if wctx.Err() != nil {
				t.Fatalf("consumer strand-%s: %v", q, err)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
}

// submit publishes payload as the task strand.t.<queue>.<id> with the
// document's headers (hdr adds or, with an empty value, removes some) and
// returns the publish error.
func (w *world) submit(queue, id string, payload []byte, hdr map[string]string) error {
	msg := nats.NewMsg("strand.t." + queue + "." + id)
	msg.Data = payload
	msg.Header.Set("Nats-TTL", "336h0m0s")
	for k, v := range hdr {
		if v == "" {
			msg.Header.Del(k)
		} else {
			msg.Header.Set(k, v)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	_, err := w.js.PublishMsg(ctx, msg)
	return err
}

// directGet is the document's direct get of subject's last message in
// stream: nil when absent (404) or a marker.
func (w *world) directGet(stream, subject string) *nats.Msg {
	w.t.Helper()
	m, err := w.nc.Request("$JS.API.DIRECT.GET."+stream+"."+subject, nil, wait)
	if err != nil {
		w.t.Fatalf("get %s: %v", subject, err)
	}
	if m.Header.Get("Status") == "404" || isMarker(m) {
		return nil
	}
	if st := m.Header.Get("Status"); st != "" {
		w.t.Fatalf("get %s: status %s %s", subject, st, m.Header.Get("Description"))
	}
	return m
}

// get reads key from the bucket.
func (w *world) get(key string) *nats.Msg { return w.directGet("KV_STRAND", "$KV.STRAND."+key) }

// task reads the queued task strand.t.<queue>.<id> from STRAND_TASKS.
func (w *world) task(queue, id string) *nats.Msg {
	return w.directGet("STRAND_TASKS", "strand.t."+queue+"."+id)
}

func isMarker(m *nats.Msg) bool {
	return len(m.Data) == 0 || m.Header.Get("KV-Operation") != "" || m.Header.Get("Nats-Marker-Reason") != ""
}

func seqOf(t *testing.T, m *nats.Msg) uint64 {
	t.Helper()
	n, err := strconv.ParseUint(m.Header.Get("Nats-Sequence"), 10, 64)
	if err != nil {
		t.Fatalf("%s without Nats-Sequence: %v", m.Subject, m.Header)
	}
	return n
}

// readOutcome is the document's outcome read: the first written (lowest
// sequence) of r.<queue>.<id> and c.<queue>.<id>; nil while there is none.
func (w *world) readOutcome(queue, id string) *record {
	w.t.Helper()
	r, c := w.get("r."+queue+"."+id), w.get("c."+queue+"."+id)
	switch {
	case r == nil && c == nil:
		return nil
	case c == nil || (r != nil && seqOf(w.t, r) < seqOf(w.t, c)):
		rec := decode(w.t, r.Data)
		return &rec
	}
	rec := asCancel(decode(w.t, c.Data))
	return &rec
}

// asCancel applies the document's rule to a c.<queue>.<id> record: it
// reads as cancelled, kind cancelled, no result, whatever it contains.
func asCancel(rec record) record {
	rec.cancel = true
	rec.m["status"] = "cancelled"
	delete(rec.m, "result")
	if rec.errorKind() != "cancelled" {
		rec.m["error"] = map[string]any{"kind": "cancelled", "message": "cancelled by caller"}
	}
	return rec
}

// waiter is a waiter that has done steps 1 and 2 of "Waiting for a result".
type waiter struct {
	w         *world
	queue, id string
	sub       *nats.Subscription
}

// subscribe: 1. subscribe to the task's outcome and cancellation events,
// here with the one subscription strand.evt.*.<queue>.<id> (it receives
// the state events too, which are skipped); 2. flush.
func (w *world) subscribe(queue, id string) *waiter {
	w.t.Helper()
	sub, err := w.nc.SubscribeSync("strand.evt.*." + queue + "." + id)
	if err != nil {
		w.t.Fatal(err)
	}
	if err := w.nc.Flush(); err != nil {
		w.t.Fatal(err)
	}
	return &waiter{w: w, queue: queue, id: id, sub: sub}
}

// outcome: 3. read the outcome; 4. else the first outcome or cancellation
// event that is not a marker. It also checks the event's RePublish headers.
func (wt *waiter) outcome() record {
	t := wt.w.t
	t.Helper()
	defer func() { _ = wt.sub.Unsubscribe() }()
	if rec := wt.w.readOutcome(wt.queue, wt.id); rec != nil {
		return *rec
	}
	return wt.event()
}

// event is step 4 alone.
func (wt *waiter) event() record {
	t := wt.w.t
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	for {
		m, err := wt.sub.NextMsgWithContext(ctx)
		if err != nil {
			t.Fatalf("%s: no outcome event: %v", wt.id, err)
		}
		kind := strings.Split(m.Subject, ".")[2]
		if isMarker(m) || kind == "s" {
			continue
		}
		if got := m.Header.Get("Nats-Stream"); got != "KV_STRAND" {
			t.Errorf("%s: event header Nats-Stream %q", wt.id, got)
		}
		if got, want := m.Header.Get("Nats-Subject"), "$KV.STRAND."+kind+"."+wt.queue+"."+wt.id; got != want {
			t.Errorf("%s: event header Nats-Subject %q, want %q", wt.id, got, want)
		}
		if m.Header.Get("Nats-Sequence") == "" || m.Header.Get("Nats-Last-Sequence") == "" {
			t.Errorf("%s: event without Nats-Sequence / Nats-Last-Sequence: %v", wt.id, m.Header)
		}
		rec := decode(t, m.Data)
		rec.event = m
		if kind == "c" {
			rec = asCancel(rec)
		}
		return rec
	}
}

// record is a decoded state or outcome record, and its format.
type record struct {
	json   bool
	m      map[string]any
	cancel bool      // read from c.<queue>.<id>
	event  *nats.Msg // the event it came from, if it did
}

// decode tells JSON from msgpack by the first byte that is not white space.
func decode(t *testing.T, b []byte) record {
	t.Helper()
	trimmed := bytes.TrimLeft(b, " \t\r\n")
	if len(trimmed) > 0 && trimmed[0] == '{' {
		dec := json.NewDecoder(bytes.NewReader(b))
		dec.UseNumber()
		var m map[string]any
		if err := dec.Decode(&m); err != nil {
			t.Fatalf("JSON record %q: %v", b, err)
		}
		return record{json: true, m: m}
	}
	if len(b) == 0 || !(b[0] >= 0x80 && b[0] <= 0x8f || b[0] == 0xde || b[0] == 0xdf) {
		t.Fatalf("record %x is neither a JSON object nor a msgpack map", b)
	}
	var m map[string]any
	if err := msgpack.Unmarshal(b, &m); err != nil {
		t.Fatalf("msgpack record %x: %v", b, err)
	}
	return record{m: m}
}

func (r record) str(key string) string {
	s, _ := r.m[key].(string)
	return s
}

// int reads an integer field; ok is false if it is absent or not an integer.
func (r record) int(key string) (int64, bool) {
	return asInt(r.m[key])
}

func asInt(v any) (int64, bool) {
	switch n := v.(type) {
	case int8:
		return int64(n), true
	case int16:
		return int64(n), true
	case int32:
		return int64(n), true
	case int64:
		return n, true
	case uint8:
		return int64(n), true
	case uint16:
		return int64(n), true
	case uint32:
		return int64(n), true
	case uint64:
		return int64(n), true
	case json.Number:
		i, err := strconv.ParseInt(string(n), 10, 64)
		return i, err == nil
	}
	return 0, false
}

func (r record) errorKind() string {
	e, _ := r.m["error"].(map[string]any)
	k, _ := e["kind"].(string)
	return k
}

func (r record) errorMessage() string {
	e, _ := r.m["error"].(map[string]any)
	k, _ := e["message"].(string)
	return k
}

// env builds an envelope map: the required keys and the extra ones.
func env(id, fn string, args []any, extra map[string]any) map[string]any {
	m := map[string]any{"v": 2, "id": id, "func": fn, "args": args, "queue": "default", "created": time.Now().UnixMilli()}
	for k, v := range extra {
		if v == nil {
			delete(m, k)
		} else {
			m[k] = v
		}
	}
	return m
}

func packMsgpack(t *testing.T, v any) []byte {
	t.Helper()
	b, err := msgpack.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func packJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestOutcomes submits hand-built envelopes in both formats and checks each
// outcome record against the document: status, result, error kind, the
// fields a worker writes, and the record's format (the envelope's).
func TestOutcomes(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	type tc struct {
		name    string
		json    bool              // a JSON envelope (Content-Type: application/json)
		payload []byte            // the envelope as sent; built by mk when nil
		mk      map[string]any    // envelope fields over the defaults (nil value: remove)
		fn      string            // func (default add)
		args    []any             // args (default [2, 3])
		hdr     map[string]string // extra headers; "" removes one
		status  string
		kind    string // error kind (status other than completed)
		result  any    // an integer result (status completed), compared as int64
		ran     bool   // the handler ran: started is set
		ttl     string // the outcome event's Nats-TTL, when checked
	}
	cases := []tc{
		{name: "msgpack", status: "completed", result: 5, ran: true},
		{name: "json", json: true, status: "completed", result: 5, ran: true},
		{name: "json-whitespace-unknown-keys", json: true,
			payload: []byte("\n {\n  \"v\" : 2, \"id\": \"json-whitespace-unknown-keys\", \"func\": \"add\",\n" +
				"  \"args\": [2, 3], \"future_key\": {\"x\": [1, 2]}, \"queue\": \"default\" }\n"),
			status: "completed", result: 5, ran: true},
		{name: "msgpack-unknown-keys", mk: map[string]any{"future_key": []any{1, "x"}, "another": map[string]any{"a": 1}},
			status: "completed", result: 5, ran: true},
		{name: "msgpack-optional-fields", mk: map[string]any{
			"deadline": time.Now().Add(time.Hour).UnixMilli(), "timeout_ms": 30000, "max_attempts": 1,
			"result_ttl_ms": 3600000, "meta": map[string]any{"user": "ann"},
			"trace": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"},
			status: "completed", result: 5, ran: true},
		{name: "json-optional-fields", json: true, mk: map[string]any{
			"timeout_ms": 30000, "max_attempts": 2, "result_ttl_ms": 3600000, "meta": map[string]any{"user": "ann"}},
			status: "completed", result: 5, ran: true},
		{name: "args-absent", fn: "echo", mk: map[string]any{"args": nil}, status: "failed", kind: "bad_args"},
		{name: "uint64-created", mk: map[string]any{"created": uint64(1767225600000)}, status: "completed", result: 5, ran: true},
		{name: "no-queue-no-created", mk: map[string]any{"queue": nil, "created": nil}, status: "completed", result: 5, ran: true},
		{name: "no-content-type", hdr: map[string]string{"Content-Type": ""}, status: "completed", result: 5, ran: true},
		{name: "ttl-seconds-suffix", hdr: map[string]string{"Nats-TTL": "1209600s"}, status: "completed", result: 5, ran: true},
		{name: "ttl-plain-seconds", hdr: map[string]string{"Nats-TTL": "1209600"}, status: "completed", result: 5, ran: true},
		{name: "ttl-absent", hdr: map[string]string{"Nats-TTL": ""}, status: "completed", result: 5, ran: true},
		{name: "v1-envelope", mk: map[string]any{"v": 1}, status: "completed", result: 5, ran: true},
		{name: "own-id", hdr: map[string]string{"Strand-Own-Id": "1"}, status: "completed", result: 5, ran: true},
		{name: "no-func-header", hdr: map[string]string{"Strand-Func": ""}, status: "completed", result: 5, ran: true},
		{name: "result-ttl-default", status: "completed", result: 5, ran: true, ttl: "24h0m0s"},
		{name: "result-ttl-clamped-up", mk: map[string]any{"result_ttl_ms": 1}, status: "completed", result: 5, ran: true, ttl: "1s"},
		{name: "result-ttl-clamped-down", mk: map[string]any{"result_ttl_ms": int64(400 * 24 * 3600 * 1000)},
			status: "completed", result: 5, ran: true, ttl: "8760h0m0s"},

		{name: "missing-v", mk: map[string]any{"v": nil}, status: "failed", kind: "malformed"},
		{name: "missing-id", mk: map[string]any{"id": nil}, status: "failed", kind: "malformed"},
		{name: "missing-func", json: true, mk: map[string]any{"func": nil}, status: "failed", kind: "malformed"},
		{name: "v-too-new", mk: map[string]any{"v": 3}, status: "failed", kind: "malformed"},
		{name: "id-not-the-subjects", mk: map[string]any{"id": "another-id"}, status: "failed", kind: "malformed"},
		{name: "float-created", json: true,
			payload: []byte(`{"v":2,"id":"float-created","func":"add","args":[2,3],"created":1767225600000.5}`),
			status:  "failed", kind: "malformed"},
		{name: "float-v", json: true,
			payload: []byte(`{"v":2.0,"id":"float-v","func":"add","args":[2,3]}`), status: "failed", kind: "malformed"},
		{name: "negative-timeout", mk: map[string]any{"timeout_ms": -1}, status: "failed", kind: "malformed"},
		{name: "kwargs-not-a-map", json: true, mk: map[string]any{"kwargs": []any{1}}, status: "failed", kind: "malformed"},
		{name: "not-a-map", payload: []byte{0x93, 0x01, 0x02, 0x03}, status: "failed", kind: "malformed"},
		{name: "unsupported-content-type", hdr: map[string]string{"Content-Type": "text/plain"}, status: "failed", kind: "malformed"},

		{name: "unknown-func", fn: "nosuch", status: "failed", kind: "unknown_func"},
		{name: "bad-args", json: true, args: []any{"x", 3}, status: "failed", kind: "bad_args"},
		{name: "kwargs-to-no-kwargs-func", mk: map[string]any{"kwargs": map[string]any{"scale": 10}}, status: "failed", kind: "bad_args"},
		{name: "handler-error", fn: "fail", args: []any{"boom"}, status: "failed", kind: "error", ran: true},
		{name: "timeout", json: true, fn: "sleep", args: []any{600000}, mk: map[string]any{"timeout_ms": 20},
			status: "failed", kind: "timeout", ran: true},
		{name: "dead", fn: "fail", args: []any{"boom"}, mk: map[string]any{"max_attempts": 2},
			status: "dead", kind: "error", ran: true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			id := c.name
			fn, args := c.fn, c.args
			if fn == "" {
				fn = "add"
			}
			if args == nil {
				args = []any{2, 3}
			}
			payload := c.payload
			if payload == nil {
				e := env(id, fn, args, c.mk)
				if c.json {
					payload = packJSON(t, e)
				} else {
					payload = packMsgpack(t, e)
				}
			}
			hdr := map[string]string{"Strand-Func": fn, "Content-Type": "application/msgpack"}
			if c.json {
				hdr["Content-Type"] = "application/json"
			}
			for k, v := range c.hdr {
				hdr[k] = v
			}
			wt := w.subscribe("default", id)
			if err := w.submit("default", id, payload, hdr); err != nil {
				t.Fatalf("submit: %v", err)
			}
			rec := wt.event() // subscribed before submitting: no read needed
			if rec.cancel {
				t.Fatalf("a cancellation: %v", rec.m)
			}
			if got := rec.event.Header.Get("Nats-TTL"); c.ttl != "" && got != c.ttl {
				t.Errorf("outcome Nats-TTL %q, want %q", got, c.ttl)
			}
			if got := rec.event.Header.Get("Nats-TTL"); got == "" {
				t.Errorf("outcome without Nats-TTL: %v", rec.event.Header)
			}
			if got := rec.str("status"); got != c.status {
				t.Fatalf("status %q (%v), want %q", got, rec.m, c.status)
			}
			if rec.json != c.json {
				t.Errorf("outcome record JSON=%v, want JSON=%v (the envelope's format): %v", rec.json, c.json, rec.m)
			}
			if c.status == "completed" {
				if got, ok := rec.int("result"); !ok || got != int64(c.result.(int)) {
					t.Errorf("result %v (%T), want %v", rec.m["result"], rec.m["result"], c.result)
				}
				if _, has := rec.m["error"]; has {
					t.Errorf("completed outcome with an error: %v", rec.m)
				}
			} else {
				if got := rec.errorKind(); got != c.kind {
					t.Errorf("error kind %q (%s), want %q", got, rec.errorMessage(), c.kind)
				}
				if rec.errorMessage() == "" {
					t.Errorf("error without a message: %v", rec.m)
				}
			}
			if got := rec.str("worker"); got != workerID {
				t.Errorf("worker %q, want %q", got, workerID)
			}
			if a, ok := rec.int("attempt"); !ok || a < 1 {
				t.Errorf("attempt %v, want an integer ≥ 1", rec.m["attempt"])
			}
			if f, ok := rec.int("finished"); !ok || f <= 0 {
				t.Errorf("finished %v, want unix ms", rec.m["finished"])
			}
			if s, ok := rec.int("started"); c.ran && (!ok || s <= 0) {
				t.Errorf("started %v, want unix ms", rec.m["started"])
			}
			// Answered (ack or term): the task leaves STRAND_TASKS.
			for deadline := time.Now().Add(wait); w.task("default", id) != nil; time.Sleep(10 * time.Millisecond) {
				if time.Now().After(deadline) {
					t.Fatal("the task is still queued after its outcome")
				}
			}
			if c.status == "dead" {
				if a, _ := rec.int("attempt"); a != 2 {
					t.Errorf("dead after attempt %d, want 2", a)
				}
				checkDeadLetter(t, w, id, payload)
			}
		})
	}
}

// checkDeadLetter reads the dead letter of id from STRAND_DLQ.
func checkDeadLetter(t *testing.T, w *world, id string, payload []byte) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	s, err := w.js.Stream(ctx, "STRAND_DLQ")
	if err != nil {
		t.Fatalf("dead-letter stream: %v", err)
	}
	for seq := uint64(1); ; seq++ {
		m, err := s.GetMsg(ctx, seq)
		if err != nil {
			t.Fatalf("no dead letter for %s: %v", id, err)
		}
		if m.Header.Get("Strand-Task-Id") != id {
			continue
		}
		want := map[string]string{
			"Nats-Msg-Id": "dlq." + id, "Strand-Queue": "default", "Strand-Func": "fail",
			"Strand-Error-Kind": "error", "Strand-Attempts": "2",
		}
		for k, v := range want {
			if got := m.Header.Get(k); got != v {
				t.Errorf("dead letter header %s = %q, want %q", k, got, v)
			}
		}
		if m.Subject != "strand.dlq.default" || !bytes.Equal(m.Data, payload) ||
			m.Header.Get("Strand-Error") == "" || m.Header.Get("Strand-Failed") == "" {
			t.Errorf("dead letter on %s, headers %v, payload equal %v", m.Subject, m.Header, bytes.Equal(m.Data, payload))
		}
		return
	}
}

// apiErr returns err's JetStream API error, or fails.
func apiErr(t *testing.T, err error, what string) *jetstream.APIError {
	t.Helper()
	var e *jetstream.APIError
	if !errors.As(err, &e) {
		t.Fatalf("%s: %v, want a JetStream API error", what, err)
	}
	return e
}

// TestDuplicate: a second publish on the subject of a queued task is
// refused by the server, whatever its headers (here: none), with err_code
// 10077; a core NATS publish there is dropped. A caller-chosen id
// (Strand-Own-Id) resubmitted after its task finished is acked by the
// worker without running: its outcome stands.
func TestDuplicate(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	payload := packMsgpack(t, env("dup", "add", []any{1, 1}, map[string]any{"queue": "later"}))
	if err := w.submit("later", "dup", payload, nil); err != nil { // no worker on "later": it stays queued
		t.Fatal(err)
	}
	msg := nats.NewMsg("strand.t.later.dup")
	msg.Data = packMsgpack(t, env("dup", "add", []any{2, 2}, map[string]any{"queue": "later"}))
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	_, err := w.js.PublishMsg(ctx, msg)
	if e := apiErr(t, err, "second publish"); e.ErrorCode != 10077 || e.Code != 503 ||
		!strings.Contains(e.Description, "maximum messages per subject exceeded") {
		t.Errorf("second publish: %+v, want err_code 10077, code 503, maximum messages per subject exceeded", e)
	}
	if err := w.nc.Publish("strand.t.later.dup", msg.Data); err != nil { // core NATS: no answer
		t.Fatal(err)
	}
	if err := w.nc.Flush(); err != nil {
		t.Fatal(err)
	}
	if m := w.task("later", "dup"); m == nil || !bytes.Equal(m.Data, payload) {
		t.Fatalf("the queued task changed: %v", m)
	}

	own := packMsgpack(t, env("own-dup", "add", []any{1, 2}, nil))
	hdr := map[string]string{"Strand-Own-Id": "1"}
	wt := w.subscribe("default", "own-dup")
	if err := w.submit("default", "own-dup", own, hdr); err != nil {
		t.Fatal(err)
	}
	first := wt.event()
	if got, _ := first.int("result"); first.str("status") != "completed" || got != 3 {
		t.Fatalf("own-dup: %v", first.m)
	}
	for w.task("default", "own-dup") != nil { // acked: removed from the tasks stream
		time.Sleep(10 * time.Millisecond)
	}
	// A producer checks the outcome before it publishes (see the document);
	// this one does not, and the worker skips the task instead.
	if err := w.submit("default", "own-dup", packMsgpack(t, env("own-dup", "add", []any{5, 5}, nil)), hdr); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(wait)
	for w.task("default", "own-dup") != nil {
		if time.Now().After(deadline) {
			t.Fatal("the resubmitted task was never acked")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if again := w.readOutcome("default", "own-dup"); again == nil || seqOf(t, w.get("r.default.own-dup")) != seqOf(t, first.event) {
		t.Fatalf("the resubmitted own id ran again: %v", again)
	}
}

// TestTaskTTLMinimum: the server refuses a task TTL under a second.
func TestTaskTTLMinimum(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	err := w.submit("default", "short-ttl", packMsgpack(t, env("short-ttl", "add", []any{1, 2}, nil)),
		map[string]string{"Nats-TTL": "500ms"})
	if e := apiErr(t, err, "Nats-TTL 500ms"); e.ErrorCode != 10165 {
		t.Errorf("Nats-TTL 500ms: %+v, want err_code 10165", e)
	}
}

// TestNoBucket: before a worker creates the streams, a submit gets no reply
// from any stream.
func TestNoBucket(t *testing.T) {
	t.Parallel()
	w := &world{t: t, srv: brokertest.Start(t)}
	nc, err := nats.Connect(w.srv.URL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	w.nc = nc
	if w.js, err = jetstream.New(nc); err != nil {
		t.Fatal(err)
	}
	err = w.submit("default", "early", packMsgpack(t, env("early", "add", []any{1, 2}, nil)), nil)
	if !errors.Is(err, jetstream.ErrNoStreamResponse) {
		t.Fatalf("submit without a stream: %v, want %v", err, jetstream.ErrNoStreamResponse)
	}
}

// TestWaitAfterFinish: a waiter that comes after the outcome finds it in
// step 3 (the read), with no event to wait for.
func TestWaitAfterFinish(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	first := w.subscribe("default", "late-waiter")
	if err := w.submit("default", "late-waiter", packJSON(t, env("late-waiter", "add", []any{2, 3}, nil)),
		map[string]string{"Content-Type": "application/json"}); err != nil {
		t.Fatal(err)
	}
	first.outcome()
	rec := w.subscribe("default", "late-waiter").outcome()
	if got, _ := rec.int("result"); rec.str("status") != "completed" || got != 5 || !rec.json || rec.event != nil {
		t.Fatalf("outcome %v (JSON %v, from an event %v), want completed 5 in JSON, read", rec.m, rec.json, rec.event != nil)
	}
}

// status is the document's "Reading a task's status"; queue "" locates
// the task first.
func (w *world) status(queue, id string) string {
	w.t.Helper()
	if queue == "" {
		if queue = w.locate(id); queue == "" {
			return "unknown"
		}
	}
	if rec := w.readOutcome(queue, id); rec != nil {
		return rec.str("status")
	}
	if w.task(queue, id) == nil {
		// It may have finished between the two reads.
		if rec := w.readOutcome(queue, id); rec != nil {
			return rec.str("status")
		}
		return "unknown"
	}
	if m := w.get("s." + queue + "." + id); m != nil {
		return decode(w.t, m.Data).str("status")
	}
	return "pending"
}

// locate finds a task's queue: from any of its records
// ($KV.STRAND.*.*.<id>), else from its queued task (strand.t.*.<id>).
func (w *world) locate(id string) string {
	if m := w.get("*.*." + id); m != nil {
		return strings.Split(m.Header.Get("Nats-Subject"), ".")[3]
	}
	if m := w.task("*", id); m != nil {
		return strings.Split(m.Header.Get("Nats-Subject"), ".")[2]
	}
	return ""
}

// TestStatus follows a task through pending (no worker on its queue yet),
// running, and completed, read by the document's recipe, with and without
// its queue; and cancels one before it starts, by the document's recipe.
func TestStatus(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	if got := w.status("later", "never-submitted"); got != "unknown" {
		t.Errorf("never submitted: %q, want unknown", got)
	}
	if got := w.status("", "never-submitted"); got != "unknown" {
		t.Errorf("never submitted, queue unknown: %q, want unknown", got)
	}
	for _, id := range []string{"queued", "cancel-me"} {
		if err := w.submit("later", id, packMsgpack(t, env(id, "add", []any{4, 5}, map[string]any{"queue": "later"})), nil); err != nil {
			t.Fatal(err)
		}
		if got := w.status("later", id); got != "pending" {
			t.Errorf("%s: %q, want pending", id, got)
		}
		if got := w.locate(id); got != "later" {
			t.Errorf("%s: located in %q, want later", id, got)
		}
	}
	if err := cancelTask(t, w, "later", "cancel-me", false); err != "" {
		t.Fatalf("cancel: %s", err)
	}
	if got := w.status("later", "cancel-me"); got != "cancelled" {
		t.Errorf("cancelled before start: %q", got)
	}
	if got := w.status("", "cancel-me"); got != "cancelled" {
		t.Errorf("cancelled before start, queue unknown: %q", got)
	}
	if err := cancelTask(t, w, "later", "cancel-me", false); err != "finished" {
		t.Errorf("second cancel: %q, want finished", err)
	}

	wt := w.subscribe("later", "queued")
	w.worker("w2", []string{"later"}, 2)
	if rec := wt.outcome(); rec.str("status") != "completed" || rec.str("worker") != "w2" {
		t.Fatalf("queued: %v", rec.m)
	}
	if got := w.status("later", "queued"); got != "completed" {
		t.Errorf("queued, after the worker: %q, want completed", got)
	}
	if got := w.status("", "queued"); got != "completed" {
		t.Errorf("queued, after the worker, queue unknown: %q, want completed", got)
	}
	// The worker acks cancel-me without running it: the task leaves the
	// stream, and its outcome is still the cancellation.
	deadline := time.Now().Add(wait)
	for w.task("later", "cancel-me") != nil {
		if time.Now().After(deadline) {
			t.Fatal("the cancelled task was never acked")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if w.get("r.later.cancel-me") != nil || w.get("s.later.cancel-me") != nil {
		t.Errorf("cancel-me ran")
	}
	if got := w.status("later", "cancel-me"); got != "cancelled" {
		t.Errorf("cancel-me after the worker: %q, want cancelled", got)
	}
}

// cancelTask is the document's "Cancelling": read the outcome and the
// queued task, create c.<queue>.<id> create-only with the longer of the
// result TTL and what is left of the task TTL, then read the outcome again.
// It returns "" when cancelled, else why not: "finished" or "not_found".
func cancelTask(t *testing.T, w *world, queue, id string, json bool) string {
	t.Helper()
	if w.readOutcome(queue, id) != nil {
		return "finished"
	}
	tm := w.task(queue, id)
	if tm == nil {
		if w.readOutcome(queue, id) != nil {
			return "finished"
		}
		return "not_found"
	}
	env := decode(t, tm.Data)
	resultTTL := 24 * time.Hour
	if ms, ok := env.int("result_ttl_ms"); ok && ms > 0 {
		resultTTL = max(time.Duration(ms)*time.Millisecond, time.Second)
	}
	ttl := resultTTL
	stamp, err := time.Parse(time.RFC3339Nano, tm.Header.Get("Nats-Time-Stamp"))
	if err != nil {
		t.Fatalf("queued task without Nats-Time-Stamp: %v", tm.Header)
	}
	if taskTTL, err := time.ParseDuration(tm.Header.Get("Nats-TTL")); err == nil {
		ttl = max(ttl, time.Until(stamp.Add(taskTTL)))
	}
	fn := env.str("func")
	out := map[string]any{
		"status": "cancelled", "error": map[string]any{"kind": "cancelled", "message": fn + ": cancelled by caller"},
		"finished": time.Now().UnixMilli(), "func": fn, "queue": queue,
	}
	payload := packMsgpack(t, out)
	if json {
		payload = packJSON(t, out)
	}
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	c := nats.NewMsg("$KV.STRAND.c." + queue + "." + id)
	c.Data = payload
	c.Header.Set("Nats-Expected-Last-Subject-Sequence", "0")
	c.Header.Set("Nats-TTL", strconv.Itoa(int(ttl.Round(time.Second)/time.Second)))
	ack, err := w.js.PublishMsg(ctx, c)
	if err != nil {
		if apiErr(t, err, "create c").ErrorCode == 10071 {
			return "finished" // cancelled already
		}
		t.Fatalf("cancel %s: create c: %v", id, err)
	}
	if r := w.get("r." + queue + "." + id); r != nil && seqOf(t, r) < ack.Sequence {
		return "finished" // it finished between the reads and the write
	}
	return ""
}

// TestCancelRunning cancels a running JSON task by the document's recipe:
// the cancellation is its outcome and the handler stops (a worker of one
// slot then runs the next task).
func TestCancelRunning(t *testing.T) {
	t.Parallel()
	w := &world{t: t, srv: brokertest.Start(t)}
	nc, err := nats.Connect(w.srv.URL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	w.nc = nc
	if w.js, err = jetstream.New(nc); err != nil {
		t.Fatal(err)
	}
	w.worker(workerID, []string{"default"}, 1)

	stateEvents, err := nc.SubscribeSync("strand.evt.s.default.long")
	if err != nil {
		t.Fatal(err)
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	wt := w.subscribe("default", "long")
	if err := w.submit("default", "long", packJSON(t, env("long", "sleep", []any{600000}, nil)),
		map[string]string{"Content-Type": "application/json"}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	m, err := stateEvents.NextMsgWithContext(ctx)
	if err != nil {
		t.Fatalf("no running state: %v", err)
	}
	st := decode(t, m.Data)
	if a, _ := st.int("attempt"); !st.json || st.str("status") != "running" || a != 1 || st.str("worker") != workerID {
		t.Fatalf("state of a JSON task: JSON %v, %v; want JSON, running, attempt 1", st.json, st.m)
	}
	if got := w.status("default", "long"); got != "running" {
		t.Errorf("status %q, want running", got)
	}
	if err := cancelTask(t, w, "default", "long", true); err != "" {
		t.Fatalf("cancel: %s", err)
	}
	rec := wt.event()
	if !rec.cancel || rec.str("status") != "cancelled" || rec.errorKind() != "cancelled" || !rec.json {
		t.Fatalf("outcome %v, want the cancellation (JSON)", rec.m)
	}
	// One slot: the next task runs only once the sleep handler has stopped.
	next := w.subscribe("default", "after-cancel")
	if err := w.submit("default", "after-cancel", packMsgpack(t, env("after-cancel", "add", []any{1, 2}, nil)), nil); err != nil {
		t.Fatal(err)
	}
	if got, _ := next.outcome().int("result"); got != 3 {
		t.Fatalf("the task after the cancelled one: result %d", got)
	}
	if got := w.status("default", "long"); got != "cancelled" {
		t.Errorf("status %q, want cancelled", got)
	}
	// The worker's own outcome, if it wrote one, came after the
	// cancellation: the cancellation stands.
	if o := w.readOutcome("default", "long"); o == nil || !o.cancel {
		t.Errorf("outcome of the cancelled task: %v", o)
	}
}

// TestExpiredOutcome: once a finished task's outcome has expired (result
// TTL 1 s), its status reads unknown and a cancel of it is refused.
func TestExpiredOutcome(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	wt := w.subscribe("default", "expires")
	if err := w.submit("default", "expires", packMsgpack(t, env("expires", "add", []any{1, 2}, map[string]any{"result_ttl_ms": 1000})), nil); err != nil {
		t.Fatal(err)
	}
	if got := wt.event().str("status"); got != "completed" {
		t.Fatalf("status %q", got)
	}
	deadline := time.Now().Add(wait)
	for w.readOutcome("default", "expires") != nil || w.task("default", "expires") != nil {
		if time.Now().After(deadline) {
			t.Fatal("the outcome never expired")
		}
		time.Sleep(50 * time.Millisecond)
	}
	if got := w.status("default", "expires"); got != "unknown" {
		t.Errorf("status after expiry: %q, want unknown", got)
	}
	if err := cancelTask(t, w, "default", "expires", false); err != "not_found" {
		t.Errorf("cancel after expiry: %q, want not_found", err)
	}
}

// TestForgedCancel: a c.<queue>.<id> record reads as cancelled whatever it
// holds, here a "completed" outcome with a result; the worker then skips
// the task.
func TestForgedCancel(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	if err := w.submit("later", "forged", packMsgpack(t, env("forged", "add", []any{1, 2}, map[string]any{"queue": "later"})), nil); err != nil {
		t.Fatal(err)
	}
	c := nats.NewMsg("$KV.STRAND.c.later.forged")
	c.Data = packMsgpack(t, map[string]any{"status": "completed", "result": 3, "worker": "forger"})
	c.Header.Set("Nats-Expected-Last-Subject-Sequence", "0")
	c.Header.Set("Nats-TTL", "1h")
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	if _, err := w.js.PublishMsg(ctx, c); err != nil {
		t.Fatal(err)
	}
	rec := w.readOutcome("later", "forged")
	if rec == nil || rec.str("status") != "cancelled" || rec.errorKind() != "cancelled" || rec.m["result"] != nil {
		t.Fatalf("forged cancellation reads %v, want cancelled without a result", rec)
	}
	if got := w.status("later", "forged"); got != "cancelled" {
		t.Errorf("status %q, want cancelled", got)
	}
	w.worker("w2", []string{"later"}, 1)
	deadline := time.Now().Add(wait)
	for w.task("later", "forged") != nil {
		if time.Now().After(deadline) {
			t.Fatal("the task was never acked")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if w.get("r.later.forged") != nil {
		t.Error("the task ran despite its cancellation")
	}
	if got := w.status("later", "forged"); got != "cancelled" {
		t.Errorf("status after the worker %q, want cancelled", got)
	}
}
