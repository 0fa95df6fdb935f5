package conformance

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"
)

// TestWorkflowByHand: a workflow created as docs/protocol.md's "Workflows"
// says, with nothing but plain NATS: one JSON start task holding the
// definition of a diamond (a → b, a → c, {b, c} → d). The worker stores the
// definition, releases and runs the steps with their parents' results, and
// writes the end; the waiter follows the document's recipe (subscribe to
// the end's event, flush, read, wait), and the steps' records are read
// under their documented task ids.
func TestWorkflowByHand(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	const id = "hand-made-flow"
	def := map[string]any{
		"v": 2, "id": id, "queue": "default", "created": time.Now().UnixMilli(),
		"steps": []any{
			map[string]any{"name": "a", "func": "add", "args": []any{1, 1}},
			map[string]any{"name": "b", "func": "add", "args": []any{10}, "after": []any{"a"}},
			map[string]any{"name": "c", "func": "add", "args": []any{20}, "after": []any{"a"}},
			map[string]any{"name": "d", "func": "add", "after": []any{"b", "c"}},
		},
	}
	start := map[string]any{
		"v": 2, "id": id, "func": "strand.flow", "args": []any{def}, "queue": "default",
		"flow": map[string]any{"id": id, "queue": "default"},
	}
	payload, _ := json.Marshal(start)

	sub, err := w.nc.SubscribeSync("strand.evt.w.default." + id)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.nc.Flush(); err != nil {
		t.Fatal(err)
	}
	if w.get("f.default."+id) != nil || w.get("w.default."+id) != nil {
		t.Fatal("the id is taken before the submit")
	}
	if err := w.submit("default", id, payload, map[string]string{"Content-Type": "application/json", "Strand-Own-Id": "1"}); err != nil {
		t.Fatal(err)
	}
	var end record
	if m := w.get("w.default." + id); m != nil {
		end = decode(t, m.Data)
	} else {
		for {
			ev, err := sub.NextMsg(wait)
			if err != nil {
				t.Fatalf("no end event: %v", err)
			}
			if !isMarker(ev) {
				end = decode(t, ev.Data)
				break
			}
		}
	}
	if !end.json || end.m["status"] != "completed" {
		t.Fatalf("end %v (json %v), want completed in JSON", end.m, end.json)
	}
	if f := w.get("f.default." + id); f == nil || decode(t, f.Data).m["id"] != id {
		t.Fatal("no definition record f.default.<id>")
	}
	for step, want := range map[string]string{"a": "2", "b": "12", "c": "22", "d": "34"} {
		o := w.readOutcome("default", id+"="+step)
		if o == nil || o.m["status"] != "completed" || fmt.Sprint(o.m["result"]) != want {
			t.Errorf("step %s: %v, want completed %v", step, o, want)
		}
	}
}
