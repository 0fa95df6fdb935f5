package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/strand-run/strand/broker"
	"github.com/strand-run/strand/internal/broker/brokertest"
	"github.com/strand-run/strand/reader"
)

// world is one test's server, with a worker running the demo functions on
// queue "default" (queue "idle" has none).
type world struct {
	t   *testing.T
	url string
}

func newWorld(t *testing.T) *world {
	t.Helper()
	srv := brokertest.Start(t)
	b := brokertest.Connect(t, srv, broker.Config{})
	reg, err := demoRegistry()
	if err != nil {
		t.Fatal(err)
	}
	r, err := reader.New(b, reg, reader.Config{Concurrency: 4})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil && !errors.Is(err, context.Canceled) { // cancelled while starting
				t.Errorf("worker: %v", err)
			}
		case <-time.After(time.Minute):
			t.Error("worker did not stop within a minute")
		}
	})
	return &world{t: t, url: srv.URL()}
}

// result is what one strand command did.
type result struct {
	stdout, stderr string
	code           int
}

// lastLine is the last line of stdout.
func (r result) lastLine() string {
	lines := strings.Split(strings.TrimRight(r.stdout, "\n"), "\n")
	return lines[len(lines)-1]
}

// strand runs `strand CMD --server URL ARGS...` in-process.
func (w *world) strand(cmd string, args ...string) result {
	w.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var out, errOut bytes.Buffer
	full := append([]string{cmd, "--server", w.url}, args...)
	code := run(ctx, full, &out, &errOut)
	return result{stdout: out.String(), stderr: errOut.String(), code: code}
}

// ok runs a command that must succeed and returns its last line of output.
func (w *world) ok(cmd string, args ...string) string {
	w.t.Helper()
	r := w.strand(cmd, args...)
	if r.code != 0 {
		w.t.Fatalf("strand %s %q: exit %d\nstdout: %s\nstderr: %s", cmd, args, r.code, r.stdout, r.stderr)
	}
	return r.lastLine()
}

func TestSubmitWait(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	r := w.strand("submit", "--wait", "add", "2", "3")
	if r.code != 0 || r.lastLine() != "5" {
		t.Fatalf("submit --wait add 2 3: exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
	if !strings.HasPrefix(r.stderr, "task ") {
		t.Errorf("stderr %q does not name the task", r.stderr)
	}
	if got := w.ok("submit", "--wait", "add", "-1", "-2"); got != "-3" {
		t.Errorf("add -1 -2 = %s", got)
	}
	if got := w.ok("submit", "--wait", "--json", "echo", `{"a": [1, 2.5, "x"], "b": null}`); got != `{"a":[1,2.5,"x"],"b":null}` {
		t.Errorf("echo as JSON = %s", got)
	}
	if got := w.ok("submit", "--wait", "--meta", "user=42", "--timeout", "10s", "--max-attempts", "2",
		"--result-ttl", "1h", "echo", `{"a": [1, 2.5, "x"]}`); got != `{"a":[1,2.5,"x"]}` {
		t.Errorf("echo as msgpack = %s", got)
	}
}

func TestResultAndStatus(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	id := w.ok("submit", "--meta", "user=42", "echo", `"hi"`)
	if got := w.ok("result", "--wait", id); got != `"hi"` {
		t.Fatalf("result --wait = %s, want \"hi\"", got)
	}
	if got := w.ok("result", id); got != `"hi"` {
		t.Fatalf("result = %s, want \"hi\"", got)
	}
	st := w.strand("status", id)
	for _, want := range []string{"completed", "echo", "default", "user=42", id} {
		if st.code != 0 || !strings.Contains(st.stdout, want) {
			t.Fatalf("status: exit %d, stdout %q lacks %q", st.code, st.stdout, want)
		}
	}
	st = w.strand("status", "--json", id)
	var info struct {
		ID, Status, Func, Queue string
		Attempt                 int
		Meta                    map[string]string
	}
	if err := json.Unmarshal([]byte(st.stdout), &info); err != nil {
		t.Fatalf("status --json: %v in %q", err, st.stdout)
	}
	if info.ID != id || info.Status != "completed" || info.Func != "echo" || info.Attempt != 1 || info.Meta["user"] != "42" {
		t.Fatalf("status --json: %+v", info)
	}
}

func TestTaskErrors(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"no_such_func", "1"}, "error: no_such_func: unknown function ("},
		{[]string{"add", `"x"`, "3"}, `error: add: arg 1: want int, got string "x"`},
		{[]string{"add", "1"}, "error: add: want 2 args, got 1"},
		{[]string{"--kwargs", `{"n": 1}`, "add", "1", "2"}, "error: add: takes no kwargs"},
		{[]string{"fail", `"boom"`}, "error: fail: boom"},
		{[]string{"--timeout", "50ms", "sleep", "60000"}, "error: sleep: timed out"},
	} {
		r := w.strand("submit", append([]string{"--wait"}, tc.args...)...)
		if r.code != exitFailed || !strings.Contains(r.stderr, tc.want) {
			t.Errorf("submit --wait %q: exit %d, stderr %q; want exit 1 and %q", tc.args, r.code, r.stderr, tc.want)
		}
		if r.stdout != "" {
			t.Errorf("submit --wait %q: stdout %q, want none", tc.args, r.stdout)
		}
	}
	// The worker lives on.
	if got := w.ok("submit", "--wait", "add", "2", "3"); got != "5" {
		t.Fatalf("add 2 3 after failures = %s", got)
	}
}

func TestRefused(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	if id := w.ok("submit", "--id", "order-1", "add", "1", "2"); id != "order-1" {
		t.Fatalf("submit --id order-1 printed %q", id)
	}
	r := w.strand("submit", "--id", "order-1", "add", "1", "2")
	if r.code != exitFailed || !strings.Contains(r.stderr, "duplicate") {
		t.Fatalf("duplicate id: exit %d, stderr %q", r.code, r.stderr)
	}
	r = w.strand("submit", "echo", `"`+strings.Repeat("x", 2<<20)+`"`)
	if r.code != exitFailed || !strings.Contains(r.stderr, "too large") {
		t.Fatalf("2 MiB task: exit %d, stderr %q", r.code, r.stderr)
	}
	r = w.strand("status", "no-such-task")
	if r.code != exitFailed || !strings.Contains(r.stdout, "unknown") || !strings.Contains(r.stderr, "not found") {
		t.Fatalf("status of an unknown id: exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
	r = w.strand("cancel", "no-such-task")
	if r.code != exitFailed || !strings.Contains(r.stderr, "not found") {
		t.Fatalf("cancel of an unknown id: exit %d, stderr %q", r.code, r.stderr)
	}
}

func TestUsageErrors(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"submit", "--kwargs", "[1, 2]", "add", "1"}, "--kwargs [1, 2]: want a JSON object"},
		{[]string{"submit", "--kwargs", "{nope", "add", "1"}, "--kwargs {nope is not JSON"},
		{[]string{"submit", "echo", "hi"}, `quote strings for the shell, e.g. '"hi"'`},
		{[]string{"submit", "echo", "1 2"}, "is not a JSON value"},
		{[]string{"submit", "add", "1", "--wait"}, "flags go before FUNC"},
		{[]string{"submit", "--meta", "novalue", "add", "1", "2"}, "want key=value"},
		{[]string{"submit", "--queue", "a.b", "add", "1", "2"}, "--queue"},
		{[]string{"submit", "--id", "a b", "add", "1", "2"}, "--id"},
		{[]string{"submit"}, "requires at least 1 arg"},
		{[]string{"submit", "--no-such-flag", "add"}, "unknown flag"},
		{[]string{"status"}, "accepts 1 arg"},
		{[]string{"result", "a.b"}, "task id"},
		{[]string{"dev", "--sync", "sometimes"}, "--sync"},
		{[]string{"worker", "--concurrency", "0"}, "--concurrency"},
		{[]string{"submit", "--log-level", "loud", "add", "1", "2"}, "--log-level"},
		{[]string{"no-such-command"}, "unknown command"},
		{[]string{"submit", "--priority", "urgent", "add", "1", "2"}, "--priority"},
		{[]string{"submit", "--key", "a.b", "add", "1", "2"}, "--key"},
		{[]string{"submit", "--unique-for", "1m", "add", "1", "2"}, "need --key"},
		{[]string{"submit", "--key", "k", "--unique-for", "soon", "add", "1", "2"}, "--unique-for"},
		{[]string{"submit", "--key", "k", "--debounce", "10ms", "add", "1", "2"}, "--debounce"},
		{[]string{"submit", "--key", "k", "--debounce", "1s", "--unique-for", "1m", "add", "1", "2"}, "exclude each other"},
		{[]string{"queue", "pause", "a.b"}, "queue"},
		{[]string{"submit", "--key", "k", "--unique-for", "48h", "add", "1", "2"}, "beyond the result TTL"},
		{[]string{"worker", "--limit", "sleep=0"}, "--limit"},
		{[]string{"worker", "--rate", "sleep=5"}, "--rate"},
		{[]string{"submit", "--fair", "add", "1", "2"}, "--fair needs --key"},
	} {
		var out, errOut bytes.Buffer
		args := append([]string{"--server", w.url}, tc.args...)
		code := run(context.Background(), args, &out, &errOut)
		if code != exitUsage || !strings.Contains(errOut.String(), tc.want) {
			t.Errorf("strand %q: exit %d, stderr %q; want exit 2 and %q", tc.args, code, errOut.String(), tc.want)
		}
	}
}

func TestCancelPending(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	id := w.ok("submit", "--queue", "idle", "echo", "1") // no worker takes queue idle
	r := w.strand("result", id)
	if r.code != exitNotReady || !strings.Contains(r.stderr, "pending") || r.stdout != "" {
		t.Fatalf("result of a pending task: exit %d, stdout %q, stderr %q; want exit 3", r.code, r.stdout, r.stderr)
	}
	r = w.strand("result", "--wait", "--wait-timeout", "100ms", id)
	if r.code != exitNotReady || !strings.Contains(r.stderr, "pending") {
		t.Fatalf("result --wait-timeout of a pending task: exit %d, stderr %q; want exit 3", r.code, r.stderr)
	}
	if got := w.ok("status", id); !strings.Contains(w.strand("status", id).stdout, "pending") {
		t.Fatalf("status of a pending task: %q", got)
	}
	if got := w.ok("cancel", id); got != "cancelled "+id {
		t.Fatalf("cancel printed %q", got)
	}
	if st := w.strand("status", id); st.code != 0 || !strings.Contains(st.stdout, "cancelled") {
		t.Fatalf("status after cancel: exit %d, stdout %q", st.code, st.stdout)
	}
	r = w.strand("cancel", id)
	if r.code != exitFailed || !strings.Contains(r.stderr, "already finished (cancelled)") {
		t.Fatalf("second cancel: exit %d, stderr %q", r.code, r.stderr)
	}
	r = w.strand("result", id)
	if r.code != exitFailed || !strings.Contains(r.stderr, "error: echo: cancelled") {
		t.Fatalf("result of a cancelled task: exit %d, stderr %q", r.code, r.stderr)
	}
	r = w.strand("submit", "--wait", "--wait-timeout", "100ms", "--queue", "idle", "add", "1", "2")
	if r.code != exitNotReady || !strings.Contains(r.stderr, "not ready: pending") {
		t.Fatalf("submit --wait-timeout to an idle queue: exit %d, stderr %q", r.code, r.stderr)
	}
}

func TestParseJSON(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in   string
		want any
	}{
		{"3", int64(3)},
		{"-3", int64(-3)},
		{"3.0", 3.0},
		{"1e3", 1000.0},
		{"18446744073709551615", uint64(18446744073709551615)},
		{`"hi"`, "hi"},
		{" true ", true},
		{"null", nil},
		{`[1, "a", 2.5]`, []any{int64(1), "a", 2.5}},
		{`{"n": {"m": 7}}`, map[string]any{"n": map[string]any{"m": int64(7)}}},
	} {
		got, err := parseJSON(tc.in)
		if err != nil || !reflect.DeepEqual(got, tc.want) {
			t.Errorf("parseJSON(%s) = %#v, %v; want %#v", tc.in, got, err, tc.want)
		}
	}
	for _, in := range []string{"", "hi", "1 2", "{", `"a"x`, "1e999"} {
		if v, err := parseJSON(in); err == nil {
			t.Errorf("parseJSON(%q) = %#v, want an error", in, v)
		}
	}
}
