package main

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"
)

// startWorker runs `strand worker ARGS...` in-process until the test ends.
func (w *world) startWorker(args ...string) {
	w.t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int, 1)
	var out, errOut bytes.Buffer
	go func() { done <- run(ctx, append([]string{"worker", "--server", w.url}, args...), &out, &errOut) }()
	w.t.Cleanup(func() {
		cancel()
		select {
		case code := <-done:
			if code != 0 {
				w.t.Errorf("worker: exit %d: %s", code, errOut.String())
			}
		case <-time.After(time.Minute):
			w.t.Error("worker did not stop within a minute")
		}
	})
}

func TestDLQ(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	w.startWorker("--queue", "retries", "--max-attempts", "3", "--retry-base", "50ms", "--concurrency", "2")

	r := w.strand("submit", "--wait", "--queue", "retries", "--meta", "user=42", "fail", `"boom"`)
	if r.code != exitFailed || !strings.Contains(r.stderr, "error: fail: boom") || !strings.Contains(r.stderr, " dead (kind error)") {
		t.Fatalf("submit --wait fail: exit %d, stderr %q", r.code, r.stderr)
	}
	id := strings.TrimPrefix(strings.SplitN(r.stderr, "\n", 2)[0], "task ")

	list := w.strand("dlq", "list")
	if list.code != 0 || !strings.Contains(list.stdout, id) || !strings.Contains(list.stdout, "fail: boom") {
		t.Fatalf("dlq list: exit %d, stdout %q", list.code, list.stdout)
	}
	var dead []struct {
		ID, Func, Queue, Kind, Error string
		Attempts                     int
		Seq                          uint64
	}
	list = w.strand("dlq", "list", "--json")
	if err := json.Unmarshal([]byte(list.stdout), &dead); err != nil {
		t.Fatalf("dlq list --json: %v in %q", err, list.stdout)
	}
	if len(dead) != 1 || dead[0].ID != id || dead[0].Func != "fail" || dead[0].Queue != "retries" ||
		dead[0].Kind != "error" || dead[0].Attempts != 3 || dead[0].Seq == 0 {
		t.Fatalf("dlq list --json: %+v", dead)
	}

	line := w.ok("dlq", "replay", id)
	old, fresh, _ := strings.Cut(line, " ")
	if old != id || fresh == "" || fresh == id {
		t.Fatalf("dlq replay printed %q", line)
	}
	if r := w.strand("result", "--wait", fresh); r.code != exitFailed || !strings.Contains(r.stderr, "dead") {
		t.Fatalf("the replay: exit %d, stderr %q", r.code, r.stderr)
	}
	var info struct {
		Status  string
		Attempt int
		Meta    map[string]string
	}
	if err := json.Unmarshal([]byte(w.strand("status", "--json", fresh).stdout), &info); err != nil {
		t.Fatal(err)
	}
	if info.Status != "dead" || info.Attempt != 3 || info.Meta["replay_of"] != id || info.Meta["user"] != "42" {
		t.Fatalf("status of the replay: %+v", info)
	}
	// The replay died too: its own dead letter is the only one.
	list = w.strand("dlq", "list", "--json")
	if err := json.Unmarshal([]byte(list.stdout), &dead); err != nil || len(dead) != 1 || dead[0].ID != fresh {
		t.Fatalf("dlq list after the replay: %+v, %v", dead, err)
	}
	if got := w.ok("dlq", "purge"); got != "purged 1 dead letters" {
		t.Fatalf("dlq purge printed %q", got)
	}
	if got := w.ok("dlq", "list", "--json"); got != "[]" {
		t.Fatalf("dlq list after purge: %q", got)
	}
	if r := w.strand("dlq", "replay", "--all"); r.code != 0 || !strings.Contains(r.stderr, "replayed 0") {
		t.Fatalf("dlq replay --all of none: exit %d, stderr %q", r.code, r.stderr)
	}
	for _, args := range [][]string{{"dlq", "replay"}, {"dlq", "replay", "--all", id}, {"worker", "--max-attempts", "0"}, {"worker", "--retry-base", "0s"}} {
		if r := w.strand(args[0], args[1:]...); r.code != exitUsage {
			t.Errorf("strand %q: exit %d, want 2; stderr %q", args, r.code, r.stderr)
		}
	}
	if r := w.strand("dlq", "replay", "no-such-task"); r.code != exitFailed || !strings.Contains(r.stderr, "not found") {
		t.Fatalf("dlq replay of an unknown id: exit %d, stderr %q", r.code, r.stderr)
	}
}
