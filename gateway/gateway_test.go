package gateway

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/strand-run/strand/broker"
	"github.com/strand-run/strand/internal/broker/brokertest"
	"github.com/strand-run/strand/internal/demo"
	"github.com/strand-run/strand/internal/link"
	"github.com/strand-run/strand/reader"
	"github.com/strand-run/strand/registry"
	"github.com/strand-run/strand/writer"
)

// timeout bounds every wait of these tests: generous, never a measurement.
const timeout = 20 * time.Second

// env is a gateway over HTTP on a server of its own, with a worker running
// the demo functions.
type env struct {
	t     *testing.T
	url   string
	token string
	b     *broker.Broker
}

func start(t *testing.T, cfg Config) *env {
	t.Helper()
	_, b := brokertest.New(t)
	reg := registry.New()
	if err := demo.Register(reg); err != nil {
		t.Fatal(err)
	}
	r, err := reader.New(b, reg, reader.Config{
		Concurrency: 4, RunningAfter: -1, ShutdownTimeout: 100 * time.Millisecond,
		RetryBase: 10 * time.Millisecond, HeartbeatEvery: 200 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = r.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	w, err := writer.New(b, writer.Config{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = w.Close() })
	srv := httptest.NewServer(New(w, b, cfg))
	t.Cleanup(srv.Close)
	return &env{t: t, url: srv.URL, token: cfg.Token, b: b}
}

// do sends a request and decodes a JSON answer into a map.
func (e *env) do(method, path, body string) (int, map[string]any) {
	e.t.Helper()
	resp := e.send(method, path, body, "Bearer "+e.token)
	defer resp.Body.Close()
	var out map[string]any
	data, _ := io.ReadAll(resp.Body)
	if len(data) > 0 {
		if err := json.Unmarshal(data, &out); err != nil {
			e.t.Fatalf("%s %s: %d, not JSON: %v: %s", method, path, resp.StatusCode, err, data)
		}
	}
	return resp.StatusCode, out
}

func (e *env) send(method, path, body, auth string) *http.Response {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	e.t.Cleanup(cancel)
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, e.url+path, rd)
	if err != nil {
		e.t.Fatal(err)
	}
	if auth != "Bearer " {
		req.Header.Set("Authorization", auth)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatalf("%s %s: %v", method, path, err)
	}
	return resp
}

// want fails unless code is the expected status.
func (e *env) want(what string, code, wantCode int, body map[string]any) {
	e.t.Helper()
	if code != wantCode {
		e.t.Fatalf("%s: status %d, want %d: %v", what, code, wantCode, body)
	}
}

func errKind(body map[string]any) string {
	m, _ := body["error"].(map[string]any)
	s, _ := m["kind"].(string)
	return s
}

func TestSubmitAndResult(t *testing.T) {
	t.Parallel()
	e := start(t, Config{})
	code, ref := e.do("POST", "/v1/tasks", `{"func": "add", "args": [2, 3], "meta": {"user": "ann"}}`)
	e.want("submit", code, http.StatusCreated, ref)
	id, _ := ref["id"].(string)
	if id == "" || ref["status"] != "pending" || ref["queue"] != "default" {
		t.Fatalf("submit: %v", ref)
	}
	code, out := e.do("GET", "/v1/tasks/"+id+"/result?wait=20s", "")
	e.want("result", code, http.StatusOK, out)
	if out["status"] != "completed" || out["result"] != 5.0 {
		t.Fatalf("result: %v", out)
	}
	code, info := e.do("GET", "/v1/tasks/"+id, "")
	e.want("info", code, http.StatusOK, info)
	meta, _ := info["meta"].(map[string]any)
	if info["status"] != "completed" || info["func"] != "add" || info["queue"] != "default" || meta["user"] != "ann" {
		t.Fatalf("info: %v", info)
	}
	for _, k := range []string{"created", "finished"} {
		s, _ := info[k].(string)
		if _, err := time.Parse(time.RFC3339, s); err != nil {
			t.Errorf("info %s = %q: %v", k, s, err)
		}
	}

	// ?wait on the submission returns the outcome itself; values stay JSON.
	code, out = e.do("POST", "/v1/tasks?wait=20s", `{"func": "echo", "args": [{"a": [1, 2.5, "x", null]}], "id": "mine-1"}`)
	e.want("submit and wait", code, http.StatusOK, out)
	res, _ := json.Marshal(out["result"])
	if out["id"] != "mine-1" || string(res) != `{"a":[1,2.5,"x",null]}` {
		t.Fatalf("submit and wait: %v (result %s)", out, res)
	}
	// The same id again is refused.
	code, out = e.do("POST", "/v1/tasks", `{"func": "echo", "args": [1], "id": "mine-1"}`)
	e.want("duplicate", code, http.StatusConflict, out)
	if errKind(out) != "duplicate" {
		t.Fatalf("duplicate: %v", out)
	}

	// Kwargs, options and a failing function.
	code, out = e.do("POST", "/v1/tasks?wait=20s", `{"func": "sleep", "args": [5000], "timeout": "200ms"}`)
	e.want("timeout", code, http.StatusOK, out)
	if out["status"] != "failed" || errKind(out) != "timeout" {
		t.Fatalf("timeout: %v", out)
	}
	code, out = e.do("POST", "/v1/tasks?wait=20s", `{"func": "nope", "args": [1]}`)
	e.want("unknown func", code, http.StatusOK, out)
	if out["status"] != "failed" || errKind(out) != "unknown_func" {
		t.Fatalf("unknown func: %v", out)
	}
	code, out = e.do("POST", "/v1/tasks?wait=20s", `{"func": "add", "args": [1], "kwargs": {"x": 1}, "timeout": 1000}`)
	e.want("bad args", code, http.StatusOK, out)
	if out["status"] != "failed" || errKind(out) != "bad_args" {
		t.Fatalf("bad args: %v", out)
	}
}

func TestSubmitRefused(t *testing.T) {
	t.Parallel()
	e := start(t, Config{MaxBody: 4 << 20})
	big := `{"func": "echo", "args": ["` + strings.Repeat("x", 2<<20) + `"]}`
	for _, c := range []struct {
		name, body string
		code       int
		kind       string
	}{
		{"bad json", `{"func": "add", "args": [2,`, http.StatusBadRequest, "bad_json"},
		{"not an object", `[1, 2]`, http.StatusBadRequest, "bad_json"},
		{"two values", `{"func": "add"} {}`, http.StatusBadRequest, "bad_json"},
		{"unknown field", `{"func": "add", "argz": [1]}`, http.StatusBadRequest, "bad_json"},
		{"missing func", `{"args": [1]}`, http.StatusBadRequest, "bad_request"},
		{"bad queue", `{"func": "add", "queue": "a.b"}`, http.StatusBadRequest, "bad_request"},
		{"bad id", `{"func": "add", "id": "a b"}`, http.StatusBadRequest, "bad_request"},
		{"kwargs not an object", `{"func": "add", "kwargs": [1]}`, http.StatusBadRequest, "bad_request"},
		{"bad timeout", `{"func": "add", "timeout": "soon"}`, http.StatusBadRequest, "bad_json"},
		{"negative attempts", `{"func": "add", "max_attempts": -1}`, http.StatusBadRequest, "bad_request"},
		// Refused by the writer's options (strand.ErrBadOption), not re-checked here.
		{"short result ttl", `{"func": "add", "result_ttl": "10ms"}`, http.StatusBadRequest, "bad_request"},
		{"unique without key", `{"func": "add", "unique_for": "1h"}`, http.StatusBadRequest, "bad_request"},
		{"short unique window", `{"func": "add", "key": "k", "unique_for": "10ms"}`, http.StatusBadRequest, "bad_request"},
		{"short debounce", `{"func": "add", "key": "k", "debounce": "10ms"}`, http.StatusBadRequest, "bad_request"},
		{"fair without key", `{"func": "add", "fair": true}`, http.StatusBadRequest, "bad_request"},
		{"bad priority", `{"func": "add", "priority": "urgent"}`, http.StatusBadRequest, "bad_request"},
		{"bad key", `{"func": "add", "key": "a b"}`, http.StatusBadRequest, "bad_request"},
		{"negative timeout", `{"func": "add", "timeout": -5}`, http.StatusBadRequest, "bad_request"},
		{"unique and debounce", `{"func": "add", "key": "k", "unique_for": "1h", "debounce": "2s"}`, http.StatusBadRequest, "bad_request"},
		{"run_at and delay", `{"func": "add", "run_at": "2030-01-01T00:00:00Z", "delay": "1s"}`, http.StatusBadRequest, "bad_request"},
		{"task too large", big, http.StatusRequestEntityTooLarge, "too_large"},
		{"body too large", `{"func": "echo", "args": ["` + strings.Repeat("x", 5<<20) + `"]}`, http.StatusRequestEntityTooLarge, "too_large"},
	} {
		code, out := e.do("POST", "/v1/tasks", c.body)
		if code != c.code || errKind(out) != c.kind {
			t.Errorf("%s: %d %v, want %d %s", c.name, code, out, c.code, c.kind)
		}
		if testing.Verbose() {
			t.Logf("%s: %v", c.name, out["error"])
		}
	}
	code, out := e.do("POST", "/v1/tasks?wait=forever", `{"func": "add"}`)
	e.want("bad wait", code, http.StatusBadRequest, out)
}

func TestUnknownAndCancel(t *testing.T) {
	t.Parallel()
	e := start(t, Config{})
	for _, c := range []struct{ method, path string }{
		{"GET", "/v1/tasks/nope"}, {"GET", "/v1/tasks/nope/result"}, {"GET", "/v1/tasks/nope/events"},
		{"DELETE", "/v1/tasks/nope"}, {"POST", "/v1/dlq/nope/replay"}, {"GET", "/v1/nothing"},
	} {
		code, out := e.do(c.method, c.path, "")
		if code != http.StatusNotFound || errKind(out) != "not_found" {
			t.Errorf("%s %s: %d %v, want 404 not_found", c.method, c.path, code, out)
		}
	}
	code, out := e.do("GET", "/v1/tasks/a.b", "")
	e.want("bad id", code, http.StatusBadRequest, out)

	code, ref := e.do("POST", "/v1/tasks", `{"func": "sleep", "args": [20000]}`)
	e.want("submit", code, http.StatusCreated, ref)
	id := ref["id"].(string)
	// Not done within the wait: 202 with the status now.
	code, out = e.do("GET", "/v1/tasks/"+id+"/result?wait=100ms", "")
	e.want("result wait", code, http.StatusAccepted, out)
	if s := out["status"]; s != "pending" && s != "running" {
		t.Fatalf("result wait: %v", out)
	}
	code, out = e.do("DELETE", "/v1/tasks/"+id, "")
	e.want("cancel", code, http.StatusOK, out)
	if out["status"] != "cancelled" {
		t.Fatalf("cancel: %v", out)
	}
	code, out = e.do("DELETE", "/v1/tasks/"+id, "")
	e.want("cancel again", code, http.StatusConflict, out)
	if errKind(out) != "finished" {
		t.Fatalf("cancel again: %v", out)
	}
	code, out = e.do("GET", "/v1/tasks/"+id+"/result", "")
	e.want("result of cancelled", code, http.StatusOK, out)
	if out["status"] != "cancelled" || errKind(out) != "cancelled" {
		t.Fatalf("result of cancelled: %v", out)
	}
}

func TestToken(t *testing.T) {
	t.Parallel()
	e := start(t, Config{Token: "s3cret"})
	for _, auth := range []string{"", "Bearer wrong", "Bearer s3cret2", "s3cret", "Basic czNjcmV0"} {
		resp := e.send("GET", "/v1/queues", "", auth)
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized || resp.Header.Get("WWW-Authenticate") == "" {
			t.Errorf("Authorization %q: %d, want 401", auth, resp.StatusCode)
		}
	}
	for _, path := range []string{"/v1/queues", "/v1/openapi.json"} {
		code, out := e.do("GET", path, "")
		e.want(path, code, http.StatusOK, out)
	}
	code, out := e.do("POST", "/v1/tasks?wait=20s", `{"func": "add", "args": [1, 1]}`)
	e.want("submit with token", code, http.StatusOK, out)
	resp := e.send("GET", "/healthz", "", "")
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("healthz without a token: %d", resp.StatusCode)
	}
}

func TestQueuesWorkersDLQ(t *testing.T) {
	t.Parallel()
	e := start(t, Config{})
	code, out := e.do("POST", "/v1/tasks?wait=20s", `{"func": "fail", "args": ["boom"], "max_attempts": 2, "id": "doomed"}`)
	e.want("fail", code, http.StatusOK, out)
	if out["status"] != "dead" {
		t.Fatalf("fail: %v", out)
	}
	// A task on a queue no worker consumes is listed too, in its own
	// queue's depth, with a warning (issue 14).
	code, out = e.do("POST", "/v1/tasks", `{"func": "add", "args": [1, 2], "queue": "idle"}`)
	e.want("submit idle", code, http.StatusCreated, out)

	code, out = e.do("GET", "/v1/queues", "")
	e.want("queues", code, http.StatusOK, out)
	qs, _ := out["queues"].([]any)
	if len(qs) != 2 {
		t.Fatalf("queues: %v", out)
	}
	q := qs[0].(map[string]any)
	if q["queue"] != "default" || q["consumer"] != "strand-default" || q["warning"] != nil {
		t.Fatalf("queue: %v", q)
	}
	if idle := qs[1].(map[string]any); idle["queue"] != "idle" || idle["depth"] != 1.0 || idle["warning"] == nil {
		t.Fatalf("queue idle: %v", idle)
	}
	for _, k := range []string{"depth", "in_flight", "redelivered", "waiting"} {
		if _, ok := q[k].(float64); !ok {
			t.Fatalf("queue %s: %v", k, q)
		}
	}

	deadline := time.Now().Add(timeout)
	for {
		code, out = e.do("GET", "/v1/workers", "")
		e.want("workers", code, http.StatusOK, out)
		if ws, _ := out["workers"].([]any); len(ws) == 1 {
			w := ws[0].(map[string]any)
			fns, _ := json.Marshal(w["functions"])
			if !strings.Contains(string(fns), `"add"`) {
				t.Fatalf("worker: %v", w)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no worker listed: %v", out)
		}
		time.Sleep(50 * time.Millisecond)
	}

	code, out = e.do("GET", "/v1/dlq", "")
	e.want("dlq", code, http.StatusOK, out)
	dead, _ := out["tasks"].([]any)
	if len(dead) != 1 || dead[0].(map[string]any)["id"] != "doomed" || dead[0].(map[string]any)["attempts"] != 2.0 {
		t.Fatalf("dlq: %v", out)
	}
	code, out = e.do("POST", "/v1/dlq/doomed/replay", "")
	e.want("replay", code, http.StatusCreated, out)
	newID, _ := out["id"].(string)
	if newID == "" || newID == "doomed" || out["replay_of"] != "doomed" {
		t.Fatalf("replay: %v", out)
	}
	code, out = e.do("GET", "/v1/tasks/"+newID+"/result?wait=20s", "")
	e.want("replayed result", code, http.StatusOK, out)
	if out["status"] != "dead" {
		t.Fatalf("replayed: %v", out)
	}
	code, out = e.do("POST", "/v1/dlq/doomed/replay", "")
	e.want("replay again", code, http.StatusNotFound, out)
}

// event is one Server-Sent Event.
type event struct {
	name string
	data map[string]any
}

// readEvents reads the stream to its end.
func readEvents(t *testing.T, r io.Reader) []event {
	t.Helper()
	var out []event
	var cur event
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "event: "):
			cur.name = strings.TrimPrefix(line, "event: ")
		case strings.HasPrefix(line, "data: "):
			if err := json.Unmarshal([]byte(strings.TrimPrefix(line, "data: ")), &cur.data); err != nil {
				t.Fatalf("event data %q: %v", line, err)
			}
		case line == "" && cur.name != "":
			out = append(out, cur)
			cur = event{}
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatalf("reading events: %v", err)
	}
	return out
}

func TestEvents(t *testing.T) {
	t.Parallel()
	e := start(t, Config{})
	for _, path := range []string{"events"} {
		code, ref := e.do("POST", "/v1/tasks", `{"func": "sleep", "args": [300]}`)
		e.want("submit", code, http.StatusCreated, ref)
		id := ref["id"].(string)
		resp := e.send("GET", "/v1/tasks/"+id+"/"+path, "", "")
		if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
			t.Fatalf("%s: %d %s", path, resp.StatusCode, resp.Header.Get("Content-Type"))
		}
		evs := readEvents(t, resp.Body)
		resp.Body.Close()
		if len(evs) < 2 || evs[0].name != "status" {
			t.Fatalf("%s: events %v", path, evs)
		}
		last := evs[len(evs)-1]
		if last.name != "outcome" || last.data["status"] != "completed" || last.data["id"] != id {
			t.Fatalf("%s: last event %v", path, last)
		}
		for _, ev := range evs[:len(evs)-1] {
			if s := ev.data["status"]; ev.name != "status" || (s != "pending" && s != "running") {
				t.Fatalf("%s: event %v", path, ev)
			}
		}
		// A finished task's stream is its status and outcome at once.
		resp = e.send("GET", "/v1/tasks/"+id+"/"+path, "", "")
		evs = readEvents(t, resp.Body)
		resp.Body.Close()
		if len(evs) != 2 || evs[0].data["status"] != "completed" || evs[1].name != "outcome" {
			t.Fatalf("%s of a finished task: %v", path, evs)
		}
	}
}

// TestEventsResync: a read made again because events may have been lost
// (here KV_STRAND's leader election, and the reads 1 s after it) sends no
// status event that says what the last one said.
func TestEventsResync(t *testing.T) {
	t.Parallel()
	e := start(t, Config{})
	code, ref := e.do("POST", "/v1/tasks", `{"func": "add", "args": [1, 2], "queue": "nobody"}`)
	e.want("submit", code, http.StatusCreated, ref)
	id := ref["id"].(string)
	resp := e.send("GET", "/v1/tasks/"+id+"/events", "", "")
	defer resp.Body.Close()
	var wg sync.WaitGroup
	defer wg.Wait()
	wg.Go(func() {
		time.Sleep(200 * time.Millisecond)
		nc := link.Core(e.b).Conn()
		_ = nc.Publish("$JS.EVENT.ADVISORY.STREAM.LEADER_ELECTED."+link.Core(e.b).Names().Stream(), []byte("{}"))
		time.Sleep(1500 * time.Millisecond) // past the resync a second after it
		e.do("DELETE", "/v1/tasks/"+id, "")
	})
	evs := readEvents(t, resp.Body)
	var statuses []any
	for _, ev := range evs {
		if ev.name == "status" {
			statuses = append(statuses, ev.data["status"])
		}
	}
	if len(statuses) != 1 || statuses[0] != "pending" || evs[len(evs)-1].name != "outcome" {
		t.Fatalf("events %v; want one pending status, then the outcome", evs)
	}
}

// TestProgress follows a task that reports progress: its status events carry it.
func TestProgress(t *testing.T) {
	t.Parallel()
	e := start(t, Config{})
	code, ref := e.do("POST", "/v1/tasks", `{"func": "work", "args": [3, 150]}`)
	e.want("submit", code, http.StatusCreated, ref)
	resp := e.send("GET", "/v1/tasks/"+ref["id"].(string)+"/events", "", "")
	evs := readEvents(t, resp.Body)
	resp.Body.Close()
	var progress []any
	for _, ev := range evs {
		if p, ok := ev.data["progress"].(map[string]any); ok && ev.name == "status" {
			progress = append(progress, p["done"])
			if p["total"] != 3.0 {
				t.Fatalf("progress: %v", ev)
			}
		}
	}
	if len(progress) == 0 || evs[len(evs)-1].name != "outcome" || evs[len(evs)-1].data["result"] != "done 3 steps" {
		t.Fatalf("events: %v", evs)
	}
}

func TestItems(t *testing.T) {
	t.Parallel()
	e := start(t, Config{})
	code, ref := e.do("POST", "/v1/tasks", `{"func": "count", "args": [5]}`)
	e.want("submit", code, http.StatusCreated, ref)
	id := ref["id"].(string)
	// Attached while it runs, then again once it has ended: the same stream.
	for range 2 {
		resp := e.send("GET", "/v1/tasks/"+id+"/items", "", "")
		if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
			t.Fatalf("items: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
		}
		evs := readEvents(t, resp.Body)
		resp.Body.Close()
		if len(evs) != 6 {
			t.Fatalf("items: %d events, want 5 items and the end: %v", len(evs), evs)
		}
		for i, ev := range evs[:5] {
			if ev.name != "item" || ev.data["n"] != float64(i) || ev.data["value"] != float64(i) {
				t.Fatalf("item %d: %v", i, ev)
			}
		}
		if end := evs[5]; end.name != "end" || end.data["status"] != "completed" || end.data["items"] != 5.0 {
			t.Fatalf("end: %v", end)
		}
	}
	// A task that streams nothing has its end alone.
	code, out := e.do("POST", "/v1/tasks", `{"func": "fail", "args": ["boom"]}`)
	e.want("submit", code, http.StatusCreated, out)
	resp := e.send("GET", "/v1/tasks/"+out["id"].(string)+"/items", "", "")
	evs := readEvents(t, resp.Body)
	resp.Body.Close()
	if len(evs) != 1 || evs[0].name != "end" || evs[0].data["status"] != "failed" {
		t.Fatalf("items of a failing task: %v", evs)
	}
	code, out = e.do("GET", "/v1/tasks/nope/items", "")
	e.want("items of nothing", code, http.StatusNotFound, out)
}

func TestOpenAPI(t *testing.T) {
	t.Parallel()
	var doc struct {
		OpenAPI string                    `json:"openapi"`
		Paths   map[string]map[string]any `json:"paths"`
	}
	if err := json.Unmarshal(openAPIDoc, &doc); err != nil {
		t.Fatalf("openapi.json: %v", err)
	}
	if doc.OpenAPI != "3.1.0" {
		t.Fatalf("openapi %q", doc.OpenAPI)
	}
	described := 0
	for _, rt := range routes {
		ops, ok := doc.Paths[rt.path]
		if !ok {
			t.Errorf("route %s %s: path missing from openapi.json", rt.method, rt.path)
			continue
		}
		if _, ok := ops[strings.ToLower(rt.method)]; !ok {
			t.Errorf("route %s %s: method missing from openapi.json", rt.method, rt.path)
		}
		described++
	}
	ops := 0
	for _, p := range doc.Paths {
		for m := range p {
			if m != "parameters" {
				ops++
			}
		}
	}
	if ops != len(routes) {
		t.Errorf("openapi.json describes %d operations, the gateway serves %d", ops, len(routes))
	}

	// And the gateway serves it.
	e := start(t, Config{})
	code, out := e.do("GET", "/v1/openapi.json", "")
	e.want("openapi.json", code, http.StatusOK, out)
	if out["openapi"] != "3.1.0" {
		t.Fatalf("served: %v", out["openapi"])
	}
}
