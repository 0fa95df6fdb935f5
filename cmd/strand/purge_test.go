package main

import (
	"strings"
	"testing"
)

func TestPurge(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	pending := w.ok("submit", "--queue", "idle", "echo", "1") // no worker takes queue idle
	if r := w.strand("purge", pending); r.code != exitFailed || !strings.Contains(r.stderr, "not finished") {
		t.Fatalf("purge of a pending task: exit %d, stderr %q", r.code, r.stderr)
	}
	id := w.ok("submit", "echo", "1")
	w.ok("result", "--wait", id)
	if got := w.ok("purge", id); got != "purged "+id {
		t.Fatalf("purge printed %q", got)
	}
	if r := w.strand("status", id); r.code != exitFailed || !strings.Contains(r.stdout+r.stderr, "unknown") {
		t.Fatalf("status after purge: exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
	if r := w.strand("purge", id); r.code != exitFailed || !strings.Contains(r.stderr, "not found") {
		t.Fatalf("second purge: exit %d, stderr %q", r.code, r.stderr)
	}
}
