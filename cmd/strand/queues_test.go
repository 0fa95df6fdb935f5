package main

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestQueues(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	w.ok("submit", "--wait", "add", "2", "3")
	r := w.strand("queues", "--json")
	var qs []queueJSON
	if r.code != 0 || json.Unmarshal([]byte(r.stdout), &qs) != nil {
		t.Fatalf("queues --json: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if len(qs) != 1 || qs[0].Queue != "default" || qs[0].Consumer != "strand-default" || qs[0].Depth != 0 || qs[0].LastActive == nil {
		t.Fatalf("queues: %+v", qs)
	}
	out := w.strand("queues").stdout
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 2 || !strings.HasPrefix(lines[0], "QUEUE") || !strings.HasPrefix(lines[1], "default ") || !strings.HasSuffix(lines[1], " ago") {
		t.Fatalf("queues:\n%s", out)
	}
}

// A queue with tasks and no worker is listed, with a warning, and a wait
// on one of its tasks says on stderr that nobody will run it.
func TestQueueWithoutWorker(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	w.ok("submit", "--queue", "idle", "add", "1", "2")
	out := w.strand("queues").stdout
	var idle string
	for _, l := range strings.Split(out, "\n") {
		if strings.HasPrefix(l, "idle ") {
			idle = l
		}
	}
	if !strings.Contains(idle, " 1 ") || !strings.Contains(idle, "no worker") {
		t.Fatalf("queues: no idle queue with 1 task and a warning:\n%s", out)
	}
	r := w.strand("queues", "--json")
	var qs []queueJSON
	if err := json.Unmarshal([]byte(r.stdout), &qs); err != nil {
		t.Fatal(err)
	}
	found := false
	for _, q := range qs {
		if q.Queue == "idle" {
			found = q.Depth == 1 && q.Consumer == "" && q.Workers == 0 && q.Warning != ""
		}
	}
	if !found {
		t.Fatalf("queues --json: %+v", qs)
	}
	r = w.strand("submit", "--wait", "--wait-timeout", "5s", "--queue", "idle", "add", "1", "2")
	if r.code != 3 || !strings.Contains(r.stderr, `queue "idle" has no consumer`) {
		t.Fatalf("submit --wait to a queue without a worker: exit %d, stderr %q", r.code, r.stderr)
	}
}
