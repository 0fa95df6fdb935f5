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
