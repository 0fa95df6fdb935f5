package gateway

import (
	"bufio"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

// follow reads an endless event stream into a channel, until the body is
// closed (by the test's cleanup).
func follow(t *testing.T, e *env, path string) <-chan event {
	t.Helper()
	resp := e.send("GET", path, "", "Bearer "+e.token)
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		data, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		t.Fatalf("GET %s: %d %s", path, resp.StatusCode, data)
	}
	ch := make(chan event)
	done, stop := make(chan struct{}), make(chan struct{})
	t.Cleanup(func() { close(stop); resp.Body.Close(); <-done })
	go func() {
		defer close(done)
		defer close(ch)
		var cur event
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			line := sc.Text()
			switch {
			case strings.HasPrefix(line, "event: "):
				cur.name = strings.TrimPrefix(line, "event: ")
			case strings.HasPrefix(line, "data: "):
				_ = json.Unmarshal([]byte(strings.TrimPrefix(line, "data: ")), &cur.data)
			case line == "" && cur.name != "":
				select {
				case ch <- cur:
				case <-stop:
					return
				}
				cur = event{}
			}
		}
	}()
	return ch
}

// next returns the next event, failing the test when none comes in time.
func next(t *testing.T, ch <-chan event) event {
	t.Helper()
	select {
	case ev, ok := <-ch:
		if !ok {
			t.Fatal("the event stream ended")
		}
		return ev
	case <-time.After(timeout):
		t.Fatal("no event in time")
	}
	return event{}
}

func TestLiveEvents(t *testing.T) {
	t.Parallel()
	e := start(t, Config{Token: "s3cret"})
	resp := e.send("GET", "/v1/events", "", "Bearer wrong")
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("events with a wrong token: %d, want 401", resp.StatusCode)
	}
	ch := follow(t, e, "/v1/events")

	// On a queue without workers, a task stays pending.
	code, idle := e.do("POST", "/v1/tasks", `{"func": "echo", "args": [{"a": "b"}], "kwargs": {"k": 1}, "queue": "idle"}`)
	e.want("submit idle", code, http.StatusCreated, idle)
	code, ref := e.do("POST", "/v1/tasks", `{"func": "add", "args": [2, 3], "queue": "default"}`)
	e.want("submit", code, http.StatusCreated, ref)
	code, bad := e.do("POST", "/v1/tasks", `{"func": "fail", "args": ["boom"], "max_attempts": 1}`)
	e.want("submit fail", code, http.StatusCreated, bad)
	ids := map[string]string{ref["id"].(string): "add", bad["id"].(string): "fail", idle["id"].(string): "echo"}

	// Each task: pending (with its args) unless merged away, then its end.
	seen := map[string][]string{}
	ended := 0
	for ended < 2 || len(seen[idle["id"].(string)]) == 0 {
		ev := next(t, ch)
		if ev.name != "task" {
			t.Fatalf("event %q: %v", ev.name, ev.data)
		}
		id, _ := ev.data["id"].(string)
		fn, ok := ids[id]
		if !ok {
			t.Fatalf("an event of a task not submitted: %v", ev.data)
		}
		st, _ := ev.data["status"].(string)
		seen[id] = append(seen[id], st)
		if f, _ := ev.data["func"].(string); f != fn {
			t.Errorf("task %s: func %q, want %q: %v", id, f, fn, ev.data)
		}
		if q := map[bool]string{true: "idle", false: "default"}[fn == "echo"]; ev.data["queue"] != q || ev.data["time"] == nil {
			t.Errorf("task %s: %v", id, ev.data)
		}
		if fn == "echo" {
			args, _ := json.Marshal(ev.data["args"])
			kwargs, _ := json.Marshal(ev.data["kwargs"])
			if st != "pending" || string(args) != `[{"a":"b"}]` || string(kwargs) != `{"k":1}` {
				t.Errorf("idle echo: %s, args %s kwargs %s", st, args, kwargs)
			}
		}
		switch st {
		case "completed", "failed", "dead":
			ended++
			want := map[string]string{"add": "completed", "fail": "failed"}[fn]
			if st != want {
				t.Errorf("task %s (%s): %s, want %s", id, fn, st, want)
			}
			if fn == "fail" {
				if e, _ := ev.data["error"].(map[string]any); e["message"] == nil {
					t.Errorf("failed task without its error: %v", ev.data)
				}
			}
		}
	}
	t.Logf("statuses seen: %v", seen)
}

func TestLiveStream(t *testing.T) {
	t.Parallel()
	e := start(t, Config{})
	code, out := e.do("POST", "/v1/tasks?wait=20s", `{"func": "fail", "args": ["boom"], "max_attempts": 2}`)
	e.want("fail", code, http.StatusOK, out)
	ch := follow(t, e, "/v1/stream")
	got := map[string]map[string]any{}
	for len(got) < 2 {
		ev := next(t, ch)
		got[ev.name] = ev.data
	}
	qs, _ := got["queues"]["queues"].([]any)
	if len(qs) != 1 {
		t.Fatalf("queues: %v", got["queues"])
	}
	q := qs[0].(map[string]any)
	if q["queue"] != "default" || q["dead"] != float64(1) {
		t.Errorf("queue: %v", q)
	}
	for _, k := range []string{"depth", "in_flight", "redelivered", "waiting"} {
		if _, ok := q[k].(float64); !ok {
			t.Errorf("queue %s: %v", k, q)
		}
	}
	// Every second another pair, with the worker once its heartbeat is in.
	deadline := time.Now().Add(timeout)
	for {
		ev := next(t, ch)
		if ws, _ := ev.data["workers"].([]any); ev.name == "workers" && len(ws) == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no worker in the stream: %v", ev.data)
		}
	}
}
