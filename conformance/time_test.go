package conformance

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
)

// publishSched publishes payload to subject of STRAND_SCHEDULES with hdr.
func (w *world) publishSched(subject string, payload []byte, hdr map[string]string) error {
	msg := nats.NewMsg(subject)
	msg.Data = payload
	for k, v := range hdr {
		msg.Header.Set(k, v)
	}
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	_, err := w.js.PublishMsg(ctx, msg)
	return err
}

// TestDelayedByHand delays a task as the document says: an @at schedule of
// its envelope, create-only. It reads scheduled (the schedule's subject)
// until due, a second delay of the id is refused, and a worker runs it once
// it is due; another, cancelled while scheduled, never runs.
func TestDelayedByHand(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	at := time.Now().Add(2 * time.Second).UTC().Truncate(time.Second).Add(time.Second)
	delay := func(id string, args []any) error {
		return w.publishSched("strand.sched.at.default."+id, packMsgpack(t, env(id, "add", args, nil)), map[string]string{
			"Nats-Schedule":                       "@at " + at.Format(time.RFC3339),
			"Nats-Schedule-Target":                "strand.sched.fire.default.due." + id,
			"Nats-Schedule-TTL":                   "336h0m0s",
			"Strand-Task-TTL":                     "336h0m0s",
			"Nats-Expected-Last-Subject-Sequence": "0",
			"Content-Type":                        "application/msgpack",
			"Strand-Func":                         "add",
		})
	}
	wt := w.subscribe("default", "hand-delayed")
	if err := delay("hand-delayed", []any{2, 3}); err != nil {
		t.Fatal(err)
	}
	if m := w.directGet("STRAND_SCHEDULES", "strand.sched.at.default.hand-delayed"); m == nil ||
		!strings.HasPrefix(m.Header.Get("Nats-Schedule"), "@at ") {
		t.Fatalf("status read: %v", m)
	}
	if err := delay("hand-delayed", []any{9, 9}); apiErr(t, err, "second delay").ErrorCode != 10071 {
		t.Fatalf("second delay: %v", err)
	}
	// Cancelled while scheduled: c.<queue>.<id>, then the rollup.
	if err := delay("hand-never", []any{1, 1}); err != nil {
		t.Fatal(err)
	}
	cm := nats.NewMsg("$KV.STRAND.c.default.hand-never")
	cm.Data = packMsgpack(t, map[string]any{"status": "cancelled", "error": map[string]any{"kind": "cancelled", "message": "add: cancelled by caller"}})
	cm.Header.Set("Nats-Expected-Last-Subject-Sequence", "0")
	cm.Header.Set("Nats-TTL", "400h")
	if _, err := w.js.PublishMsg(context.Background(), cm); err != nil {
		t.Fatal(err)
	}
	if err := w.publishSched("strand.sched.at.default.hand-never", nil, map[string]string{"Nats-Rollup": "sub", "Nats-TTL": "1s"}); err != nil {
		t.Fatal(err)
	}
	o := wt.outcome()
	if o.str("status") != "completed" || time.Now().Before(at) {
		t.Fatalf("outcome %v at %v (due %v)", o.m, time.Now(), at)
	}
	if res, _ := o.int("result"); res != 5 {
		t.Fatalf("result %v", o.m)
	}
	time.Sleep(2 * time.Second)
	if r := w.get("r.default.hand-never"); r != nil {
		t.Fatalf("cancelled delayed task ran: %s", r.Data)
	}
}

// TestScheduleByHand creates an @every 1s schedule as the document says:
// each firing is one task <name>-<unix second> with meta schedule, and the
// last-run record names it.
func TestScheduleByHand(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	tpl := env("ignored", "add", []any{1, 1}, nil)
	if err := w.publishSched("strand.sched.cron.default.hand", packJSON(t, tpl), map[string]string{
		"Nats-Schedule":        "@every 1s",
		"Nats-Schedule-Target": "strand.sched.fire.default.tick.hand",
		"Nats-Schedule-TTL":    "336h0m0s",
		"Strand-Schedule":      "@every 1s",
		"Strand-Task-TTL":      "336h0m0s",
		"Content-Type":         "application/json",
		"Strand-Func":          "add",
	}); err != nil {
		t.Fatal(err)
	}
	// A pattern the server cannot fire is refused, nothing stored.
	err := w.publishSched("strand.sched.cron.default.bad", packJSON(t, tpl), map[string]string{
		"Nats-Schedule": "* * *", "Nats-Schedule-Target": "strand.sched.fire.default.tick.bad",
	})
	if apiErr(t, err, "bad pattern").ErrorCode != 10189 {
		t.Fatalf("bad pattern: %v", err)
	}
	var last map[string]any
	deadline := time.Now().Add(wait)
	for time.Now().Before(deadline) {
		if m := w.directGet("STRAND_SCHEDULES", "strand.sched.last.default.hand"); m != nil {
			last = decode(t, m.Data).m
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	id, _ := last["task"].(string)
	sec, ok := strings.CutPrefix(id, "hand-")
	if _, err := strconv.ParseInt(sec, 10, 64); !ok || err != nil {
		t.Fatalf("last run %v", last)
	}
	o := w.subscribe("default", id).outcome()
	if o.str("status") != "completed" {
		t.Fatalf("firing %s: %v", id, o.m)
	}
	meta, _ := o.m["meta"].(map[string]any)
	if meta["schedule"] != "hand" {
		t.Fatalf("firing %s: meta %v", id, o.m["meta"])
	}
}
