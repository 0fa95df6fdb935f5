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
)

// wait bounds every wait for a record; tasks here finish in milliseconds.
const wait = time.Minute

const workerID = "conformance-w1"

// world is one test's server, a plain client connection and its worker.
type world struct {
	t   *testing.T
	srv *broker.Server
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
		RetryBase: 10 * time.Millisecond, RunningAfter: -1, // retries at once; s.<id> = running at once
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
			if _, err := w.js.Consumer(wctx, "KV_STRAND", "strand-"+q); err == nil {
				break
			} else if wctx.Err() != nil {
				t.Fatalf("consumer strand-%s: %v", q, err)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
}

// submit publishes payload as the task t.<queue>.<id> with the document's
// headers (hdr adds or, with an empty value, removes some) and returns the
// publish error.
func (w *world) submit(queue, id string, payload []byte, hdr map[string]string) error {
	msg := nats.NewMsg("$KV.STRAND.t." + queue + "." + id)
	msg.Data = payload
	msg.Header.Set("Nats-Expected-Last-Subject-Sequence", "0")
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

// get is the document's KV get: a direct get of the key's last message,
// nil when absent (404) or a marker.
func (w *world) get(key string) *nats.Msg {
	w.t.Helper()
	m, err := w.nc.Request("$JS.API.DIRECT.GET.KV_STRAND.$KV.STRAND."+key, nil, wait)
	if err != nil {
		w.t.Fatalf("get %s: %v", key, err)
	}
	if m.Header.Get("Status") == "404" || isMarker(m) {
		return nil
	}
	if st := m.Header.Get("Status"); st != "" {
		w.t.Fatalf("get %s: status %s %s", key, st, m.Header.Get("Description"))
	}
	return m
}

func isMarker(m *nats.Msg) bool {
	return len(m.Data) == 0 || m.Header.Get("KV-Operation") != "" || m.Header.Get("Nats-Marker-Reason") != ""
}

// waiter is a waiter that has done steps 1 and 2 of "Waiting for a result".
type waiter struct {
	w   *world
	id  string
	sub *nats.Subscription
}

// subscribe: 1. subscribe to strand.evt.r.<id>; 2. flush.
func (w *world) subscribe(id string) *waiter {
	w.t.Helper()
	sub, err := w.nc.SubscribeSync("strand.evt.r." + id)
	if err != nil {
		w.t.Fatal(err)
	}
	if err := w.nc.Flush(); err != nil {
		w.t.Fatal(err)
	}
	return &waiter{w: w, id: id, sub: sub}
}

// outcome: 3. get r.<id>; 4. else the first event that is not a marker.
// It also checks the event's RePublish headers.
func (wt *waiter) outcome() record {
	t := wt.w.t
	t.Helper()
	defer func() { _ = wt.sub.Unsubscribe() }()
	if m := wt.w.get("r." + wt.id); m != nil {
		return decode(t, m.Data)
	}
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	for {
		m, err := wt.sub.NextMsgWithContext(ctx)
		if err != nil {
			t.Fatalf("%s: no outcome event: %v", wt.id, err)
		}
		if isMarker(m) {
			continue
		}
		if got := m.Header.Get("Nats-Stream"); got != "KV_STRAND" {
			t.Errorf("%s: event header Nats-Stream %q", wt.id, got)
		}
		if got, want := m.Header.Get("Nats-Subject"), "$KV.STRAND.r."+wt.id; got != want {
			t.Errorf("%s: event header Nats-Subject %q, want %q", wt.id, got, want)
		}
		if m.Header.Get("Nats-Sequence") == "" || m.Header.Get("Nats-Last-Sequence") == "" {
			t.Errorf("%s: event without Nats-Sequence / Nats-Last-Sequence: %v", wt.id, m.Header)
		}
		return decode(t, m.Data)
	}
}

// record is a decoded state or outcome record, and its format.
type record struct {
	json bool
	m    map[string]any
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
	m := map[string]any{"v": 1, "id": id, "func": fn, "args": args, "queue": "default", "created": time.Now().UnixMilli()}
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
	}
	cases := []tc{
		{name: "msgpack", status: "completed", result: 5, ran: true},
		{name: "json", json: true, status: "completed", result: 5, ran: true},
		{name: "json-whitespace-unknown-keys", json: true,
			payload: []byte("\n {\n  \"v\" : 1, \"id\": \"json-whitespace-unknown-keys\", \"func\": \"add\",\n" +
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

		{name: "missing-v", mk: map[string]any{"v": nil}, status: "failed", kind: "malformed"},
		{name: "missing-id", mk: map[string]any{"id": nil}, status: "failed", kind: "malformed"},
		{name: "missing-func", json: true, mk: map[string]any{"func": nil}, status: "failed", kind: "malformed"},
		{name: "v-too-new", mk: map[string]any{"v": 2}, status: "failed", kind: "malformed"},
		{name: "id-not-the-subjects", mk: map[string]any{"id": "another-id"}, status: "failed", kind: "malformed"},
		{name: "float-created", json: true,
			payload: []byte(`{"v":1,"id":"float-created","func":"add","args":[2,3],"created":1767225600000.5}`),
			status:  "failed", kind: "malformed"},
		{name: "float-v", json: true,
			payload: []byte(`{"v":1.0,"id":"float-v","func":"add","args":[2,3]}`), status: "failed", kind: "malformed"},
		{name: "negative-timeout", mk: map[string]any{"timeout_ms": -1}, status: "failed", kind: "malformed"},
		{name: "kwargs-not-a-map", json: true, mk: map[string]any{"kwargs": []any{1}}, status: "failed", kind: "malformed"},
		{name: "not-a-map", payload: []byte{0x93, 0x01, 0x02, 0x03}, status: "failed", kind: "malformed"},
		{name: "unsupported-content-type", hdr: map[string]string{"Content-Type": "text/plain"}, status: "failed", kind: "malformed"},

		{name: "unknown-func", fn: "nosuch", status: "failed", kind: "unknown_func"},
		{name: "bad-args", json: true, args: []any{"x", 3}, status: "failed", kind: "bad_args"},
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
			wt := w.subscribe(id)
			if err := w.submit("default", id, payload, hdr); err != nil {
				t.Fatalf("submit: %v", err)
			}
			rec := wt.outcome()
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

// TestDuplicate: a second create of the same id is refused with 10071,
// also after the task ran (the task record stays until its TTL).
func TestDuplicate(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	payload := packMsgpack(t, env("dup", "add", []any{1, 1}, nil))
	wt := w.subscribe("dup")
	if err := w.submit("default", "dup", payload, nil); err != nil {
		t.Fatal(err)
	}
	if got := wt.outcome().str("status"); got != "completed" {
		t.Fatalf("status %q", got)
	}
	err := w.submit("default", "dup", payload, nil)
	var apiErr *jetstream.APIError
	if !errors.As(err, &apiErr) || apiErr.ErrorCode != 10071 {
		t.Fatalf("resubmit: %v, want API error 10071", err)
	}
}

// TestNoBucket: before a worker creates the bucket, a submit gets no reply
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
		t.Fatalf("submit without a bucket: %v, want %v", err, jetstream.ErrNoStreamResponse)
	}
}

// TestWaitAfterFinish: a waiter that comes after the outcome finds it in
// step 3 (the get), with no event to wait for.
func TestWaitAfterFinish(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	first := w.subscribe("late-waiter")
	if err := w.submit("default", "late-waiter", packJSON(t, env("late-waiter", "add", []any{2, 3}, nil)),
		map[string]string{"Content-Type": "application/json"}); err != nil {
		t.Fatal(err)
	}
	first.outcome()
	rec := w.subscribe("late-waiter").outcome()
	if got, _ := rec.int("result"); rec.str("status") != "completed" || got != 5 || !rec.json {
		t.Fatalf("outcome %v (JSON %v), want completed 5 in JSON", rec.m, rec.json)
	}
}

// status is the document's "Reading a task's status", for a known queue.
func (w *world) status(queue, id string) string {
	w.t.Helper()
	if m := w.get("r." + id); m != nil {
		return decode(w.t, m.Data).str("status")
	}
	if m := w.get("s." + id); m != nil {
		return decode(w.t, m.Data).str("status")
	}
	m := w.get("t.*." + id) // the last message on $KV.STRAND.t.*.<id>
	if m == nil {
		return "unknown"
	}
	if q := strings.Split(m.Header.Get("Nats-Subject"), ".")[3]; q != queue {
		w.t.Fatalf("task record of %s on queue %q, want %q", id, q, queue)
	}
	seq, err := strconv.ParseUint(m.Header.Get("Nats-Sequence"), 10, 64)
	if err != nil {
		w.t.Fatalf("task record without Nats-Sequence: %v", m.Header)
	}
	info, err := w.nc.Request("$JS.API.CONSUMER.INFO.KV_STRAND.strand-"+queue, nil, wait)
	if err != nil {
		w.t.Fatal(err)
	}
	var ci struct {
		AckFloor struct {
			StreamSeq uint64 `json:"stream_seq"`
		} `json:"ack_floor"`
		Error *struct {
			ErrCode int `json:"err_code"`
		} `json:"error"`
	}
	if err := json.Unmarshal(info.Data, &ci); err != nil {
		w.t.Fatal(err)
	}
	if ci.Error != nil && ci.Error.ErrCode != 10014 {
		w.t.Fatalf("consumer info: %s", info.Data)
	}
	if ci.Error == nil && seq <= ci.AckFloor.StreamSeq {
		return "unknown" // ran, outcome expired
	}
	return "pending"
}

// TestStatus follows a task through pending (no worker on its queue yet),
// running, and completed, read by the document's recipe; and cancels one
// before it starts, by the document's recipe.
func TestStatus(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	if got := w.status("later", "never-submitted"); got != "unknown" {
		t.Errorf("never submitted: %q, want unknown", got)
	}
	for _, id := range []string{"queued", "cancel-me"} {
		if err := w.submit("later", id, packMsgpack(t, env(id, "add", []any{4, 5}, map[string]any{"queue": "later"})), nil); err != nil {
			t.Fatal(err)
		}
		if got := w.status("later", id); got != "pending" {
			t.Errorf("%s: %q, want pending", id, got)
		}
	}
	cancelTask(t, w, "later", "cancel-me", "add", false)
	if got := w.status("later", "cancel-me"); got != "cancelled" {
		t.Errorf("cancelled before start: %q", got)
	}

	wt := w.subscribe("queued")
	w.worker("w2", []string{"later"}, 2)
	if rec := wt.outcome(); rec.str("status") != "completed" || rec.str("worker") != "w2" {
		t.Fatalf("queued: %v", rec.m)
	}
	if got := w.status("later", "queued"); got != "completed" {
		t.Errorf("queued, after the worker: %q, want completed", got)
	}
	// The worker has acked past the DEL marker that replaced cancel-me: it
	// never ran, and its outcome is still the canceller's.
	rec := decode(t, w.get("r.cancel-me").Data)
	if rec.str("status") != "cancelled" || rec.str("worker") != "" || w.get("s.cancel-me") != nil {
		t.Errorf("cancel-me ran or its outcome changed: %v", rec.m)
	}
}

// cancelTask is the document's "Cancelling": read t.<queue>.<id>, create
// r.<id> = cancelled, delete t.<queue>.<id> with a DEL marker, publish the
// ctl message.
func cancelTask(t *testing.T, w *world, queue, id, fn string, json bool) {
	t.Helper()
	tm := w.get("t." + queue + "." + id)
	if tm == nil {
		t.Fatalf("cancel %s: no task record", id)
	}
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
	r := nats.NewMsg("$KV.STRAND.r." + id)
	r.Data = payload
	r.Header.Set("Nats-Expected-Last-Subject-Sequence", "0")
	r.Header.Set("Nats-TTL", "86400")
	if _, err := w.js.PublishMsg(ctx, r); err != nil {
		t.Fatalf("cancel %s: create r: %v", id, err)
	}
	del := nats.NewMsg("$KV.STRAND.t." + queue + "." + id)
	del.Header.Set("KV-Operation", "DEL")
	del.Header.Set("Nats-TTL", "336h0m0s")
	if _, err := w.js.PublishMsg(ctx, del); err != nil {
		t.Fatalf("cancel %s: delete t: %v", id, err)
	}
	if err := w.nc.Publish("strand.ctl.cancel."+id, nil); err != nil {
		t.Fatal(err)
	}
	if err := w.nc.Flush(); err != nil {
		t.Fatal(err)
	}
	if w.get("t."+queue+"."+id) != nil {
		t.Errorf("cancel %s: the task record still reads as present", id)
	}
}

// TestCancelRunning cancels a running JSON task by the document's recipe:
// the cancelled outcome stands (the worker's own write is refused) and the
// handler stops (a worker of one slot then runs the next task).
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

	stateEvents, err := nc.SubscribeSync("strand.evt.s.long")
	if err != nil {
		t.Fatal(err)
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	wt := w.subscribe("long")
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
	cancelTask(t, w, "default", "long", "sleep", true)
	rec := wt.outcome()
	if rec.str("status") != "cancelled" || rec.errorKind() != "cancelled" || !rec.json {
		t.Fatalf("outcome %v, want cancelled (JSON)", rec.m)
	}
	// One slot: the next task runs only once the sleep handler has stopped.
	next := w.subscribe("after-cancel")
	if err := w.submit("default", "after-cancel", packMsgpack(t, env("after-cancel", "add", []any{1, 2}, nil)), nil); err != nil {
		t.Fatal(err)
	}
	if got, _ := next.outcome().int("result"); got != 3 {
		t.Fatalf("the task after the cancelled one: result %d", got)
	}
	if rec := decode(t, w.get("r.long").Data); rec.str("status") != "cancelled" || rec.str("worker") != "" {
		t.Errorf("the cancelled outcome changed: %v", rec.m)
	}
	if got := w.status("default", "long"); got != "cancelled" {
		t.Errorf("status %q, want cancelled", got)
	}
}
