package main

import (
	"strings"
	"testing"
	"time"
)

func TestSubmitWaitStreamsItems(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	r := w.strand("submit", "--wait", "count", "5")
	if r.code != 0 || r.stdout != "0\n1\n2\n3\n4\n" || !strings.Contains(r.stderr, "end: 5 items") {
		t.Fatalf("submit --wait count 5: exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
	if got := w.ok("submit", "--wait", "work", "3", "1"); got != `"done 3 steps"` {
		t.Fatalf("submit --wait work 3 1 = %s", got)
	}
}

func TestStatusShowsProgress(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	id := w.ok("submit", "work", "10", "100")
	deadline := time.Now().Add(20 * time.Second)
	for {
		r := w.strand("status", id)
		if r.code == 0 && strings.Contains(r.stdout, "progress") {
			if !strings.Contains(r.stdout, "/10 step ") {
				t.Fatalf("status: %q", r.stdout)
			}
			break
		}
		if time.Now().After(deadline) || strings.Contains(r.stdout, "completed") {
			t.Fatalf("no progress shown: exit %d, stdout %q", r.code, r.stdout)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if got := w.ok("result", "--wait", id); got != `"done 10 steps"` {
		t.Fatalf("result = %s", got)
	}
}
