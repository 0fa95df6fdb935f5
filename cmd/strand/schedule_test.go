package main

import (
	"bytes"
	"context"
	"encoding/json"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// submit --in: scheduled until its time, then its result; --at in the past
// runs at once; bad times are usage errors.
func TestSubmitDelayed(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	start := time.Now()
	id := w.ok("submit", "--in", "2s", "add", "1", "2")
	if got := w.ok("status", id); !strings.Contains(w.strand("status", id).stdout, "scheduled") {
		t.Fatalf("status: %q", got)
	}
	if got := w.ok("result", "--wait", id); got != "3" {
		t.Fatalf("result %q", got)
	}
	if took := time.Since(start); took < 2*time.Second {
		t.Fatalf("ran after %v", took)
	}
	later := w.ok("submit", "--in", "1h", "add", "1", "1")
	if r := w.strand("cancel", later); r.code != 0 || !strings.Contains(r.stdout, "cancelled") {
		t.Fatalf("cancel while scheduled: exit %d %q %q", r.code, r.stdout, r.stderr)
	}
	if r := w.strand("status", later); !strings.Contains(r.stdout, "cancelled") {
		t.Fatalf("status after cancel: %q", r.stdout)
	}
	if got := w.ok("submit", "--at", "2020-01-01T00:00:00Z", "--wait", "add", "2", "2"); got != "4" {
		t.Fatalf("past: %q", got)
	}
	for _, args := range [][]string{
		{"--at", "tomorrow", "add", "1", "1"},
		{"--in", "-1s", "add", "1", "1"},
		{"--in", "1s", "--at", "2030-01-01T00:00:00Z", "add", "1", "1"},
	} {
		if r := w.strand("submit", args...); r.code != exitUsage {
			t.Errorf("submit %v: exit %d, %s", args, r.code, r.stderr)
		}
	}
}

// schedule add, list (text and JSON), pause, resume, rm.
func TestScheduleCommands(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	if out := w.ok("schedule", "add", "tick", "--every", "1s", "add", "1", "-1"); !strings.Contains(out, "next run") {
		t.Fatalf("add: %q", out)
	}
	w.ok("schedule", "add", "--cron", "0 9 * * mon-fri", "--tz", "Europe/Paris", "report", "echo", `"r"`)
	list := func() map[string]scheduleJSON {
		t.Helper()
		var out struct{ Schedules []scheduleJSON }
		if err := json.Unmarshal([]byte(w.strand("schedule", "list", "--json").stdout), &out); err != nil {
			t.Fatal(err)
		}
		m := map[string]scheduleJSON{}
		for _, s := range out.Schedules {
			m[s.Name] = s
		}
		return m
	}
	deadline := time.Now().Add(20 * time.Second)
	for list()["tick"].LastTask == "" && time.Now().Before(deadline) {
		time.Sleep(200 * time.Millisecond)
	}
	ss := list()
	tick, rep := ss["tick"], ss["report"]
	var args bytes.Buffer
	_ = json.Compact(&args, tick.Args)
	if tick.Spec != "@every 1s" || tick.NextRun == nil || tick.LastTask == "" || args.String() != "[1,-1]" {
		t.Fatalf("tick %+v", tick)
	}
	if rep.Spec != "0 9 * * mon-fri" || rep.TZ != "Europe/Paris" || rep.NextRun == nil || rep.NextRun.UTC().Minute() != 0 {
		t.Fatalf("report %+v", rep)
	}
	if got := w.ok("result", "--wait", tick.LastTask); got != "0" {
		t.Fatalf("firing %s: %q", tick.LastTask, got)
	}
	// The schedule fires every second: the table shows the last task of a
	// moment between the two JSON reads around it.
	before := list()["tick"].LastTask
	text := w.strand("schedule", "list").stdout
	after := list()["tick"].LastTask
	if !strings.Contains(text, "NEXT RUN") || !strings.Contains(text, before) && !strings.Contains(text, after) || !strings.Contains(text, "Europe/Paris") {
		t.Fatalf("list (last task %s or %s):\n%s", before, after, text)
	}
	w.ok("schedule", "pause", "tick")
	if s := list()["tick"]; !s.Paused || s.NextRun != nil {
		t.Fatalf("paused %+v", s)
	}
	w.ok("schedule", "resume", "tick")
	if s := list()["tick"]; s.Paused || s.NextRun == nil {
		t.Fatalf("resumed %+v", s)
	}
	w.ok("schedule", "rm", "tick")
	if _, ok := list()["tick"]; ok {
		t.Fatal("tick still listed")
	}
	if r := w.strand("schedule", "rm", "tick"); r.code != exitFailed {
		t.Fatalf("rm again: exit %d", r.code)
	}
	for _, args := range [][]string{
		{"add", "x", "--cron", "* * *", "add"},
		{"add", "x", "--cron", "0 9 * * *", "--tz", "Nowhere/Town", "add"},
		{"add", "x.y", "--every", "1s", "add"},
		{"add", "x", "--every", "1s", "--cron", "* * * * *", "add"},
		{"add", "x", "--every", "1s"},
		{"add", "x", "--every", "1s", "--tz", "UTC", "add"},
	} {
		if r := w.strand("schedule", args...); r.code != exitUsage {
			t.Errorf("schedule %v: exit %d, %s", args, r.code, r.stderr)
		}
	}
}

// strand server provisions the streams itself, the schedules stream with
// message schedules.
func TestServerProvisionsSchedules(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	out, errOut := new(lockedBuffer), new(lockedBuffer)
	code := make(chan int, 1)
	go func() {
		code <- run(ctx, []string{"server", "--addr", "127.0.0.1:0", "--data", t.TempDir()}, out, errOut)
	}()
	defer func() { cancel(); <-code }()
	re := regexp.MustCompile(`listening on (nats://\S+)`)
	var url string
	for deadline := time.Now().Add(30 * time.Second); url == "" || !strings.Contains(out.String(), "ready"); {
		if m := re.FindStringSubmatch(out.String()); m != nil {
			url = m[1]
		}
		if time.Now().After(deadline) {
			t.Fatalf("not ready: %s\n%s", out.String(), errOut.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	nc, err := nats.Connect(url)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	st, err := js.Stream(ctx, "STRAND_SCHEDULES")
	if err != nil {
		t.Fatal(err)
	}
	if c := st.CachedInfo().Config; !c.AllowMsgSchedules || c.Retention != jetstream.WorkQueuePolicy {
		t.Fatalf("STRAND_SCHEDULES %+v", c)
	}
}
