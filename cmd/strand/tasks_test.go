package main

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestTasksListAndRetry(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	w.ok("submit", "--wait", "add", "2", "3")
	var failed []string
	for _, msg := range []string{`"disk full"`, `"no route"`} {
		r := w.strand("submit", "--wait", "--meta", "tenant=acme", "fail", msg)
		if r.code != 1 {
			t.Fatalf("fail: exit %d %s", r.code, r.stderr)
		}
		failed = append(failed, strings.TrimPrefix(strings.SplitN(r.stderr, "\n", 2)[0], "task "))
	}
	w.ok("submit", "--queue", "idle", "add", "1", "1")

	out := w.ok("tasks", "list", "--status", "failed")
	r := w.strand("tasks", "list", "--status", "failed")
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	if len(lines) != 3 || !strings.HasPrefix(lines[0], "ID") || !strings.Contains(r.stdout, failed[0]) || !strings.Contains(r.stdout, failed[1]) {
		t.Fatalf("tasks list --status failed (%s):\n%s", out, r.stdout)
	}
	r = w.strand("tasks", "list", "--json", "--error", "DISK")
	var ts []taskJSON
	if err := json.Unmarshal([]byte(r.stdout), &ts); err != nil || len(ts) != 1 || ts[0].ID != failed[0] || ts[0].Meta["tenant"] != "acme" {
		t.Fatalf("tasks list --error DISK: %v %s", err, r.stdout)
	}
	r = w.strand("tasks", "list", "--json", "--queue", "idle", "--status", "pending")
	if err := json.Unmarshal([]byte(r.stdout), &ts); err != nil || len(ts) != 1 || ts[0].Func != "add" {
		t.Fatalf("pending in idle: %v %s", err, r.stdout)
	}
	if r := w.strand("tasks", "list", "--status", "lost"); r.code != 2 {
		t.Fatalf("status lost: exit %d", r.code)
	}

	// Without --yes: what it would do, and nothing done.
	r = w.strand("tasks", "retry", "--meta", "tenant=acme")
	if r.code != 1 || !strings.Contains(r.stderr, "would retry 2 tasks") {
		t.Fatalf("retry without --yes: exit %d %q", r.code, r.stderr)
	}
	r = w.strand("tasks", "retry", "--meta", "tenant=acme", "--yes")
	if r.code != 0 || strings.Count(r.stdout, " ok ") != 2 {
		t.Fatalf("retry --yes: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	r = w.strand("tasks", "cancel", "--queue", "idle", "--yes")
	if r.code != 0 || strings.Count(r.stdout, " ok") != 1 {
		t.Fatalf("cancel --yes: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if r := w.strand("tasks", "delete"); r.code != 2 {
		t.Fatalf("delete without a selection: exit %d", r.code)
	}
}
