package main

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"
)

// TestRun runs the whole harness with tiny sizes: every cycle, the depth
// run and the soak, on one embedded server. It checks that each produced
// figures and cleaned up, never how fast anything was. Without a
// redis-server the asynq cycle is skipped with a note.
func TestRun(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cfg := Config{N: 200, Producers: 4, Pool: 4, One: 20, Depth: 500, Soak: true, SoakN: 500,
		ResultTTL: time.Second, Settle: 500 * time.Millisecond}
	if testing.Verbose() {
		cfg.Log = os.Stderr
	}
	rep, err := run(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]bool{}
	for _, c := range cycles() {
		want[c.name] = true
	}
	for _, n := range rep.Notes {
		if strings.HasPrefix(n, "asynq skipped") {
			delete(want, "asynq")
			t.Log(n)
		}
	}
	for _, c := range rep.Cycles {
		if !want[c.Name] {
			t.Errorf("unexpected cycle %q", c.Name)
		}
		delete(want, c.Name)
		if c.TasksPerSec <= 0 || c.P50 <= 0 || c.P99 < c.P50 {
			t.Errorf("%s: figures %+v", c.Name, c)
		}
	}
	for n := range want {
		t.Errorf("cycle %s did not run", n)
	}
	if d := rep.Depth; d == nil || d.Tasks != 500 || d.DrainPerSec <= 0 || d.Queued.Disk <= 0 {
		t.Errorf("depth run: %+v", d)
	}
	if s := rep.Soak; s == nil || s.Tasks != 500 || s.PerSec <= 0 {
		t.Errorf("soak: %+v", s)
	}
	var b strings.Builder
	rep.Markdown(&b)
	for _, s := range []string{"| cycle | tasks/s | × floor | × asynq | p50 | p99 | peak RSS |", "| depth run |", "| soak |", "Targets:"} {
		if !strings.Contains(b.String(), s) {
			t.Errorf("report lacks %q:\n%s", s, b.String())
		}
	}
}

// TestOnly runs one cycle alone.
func TestOnly(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	rep, err := run(ctx, Config{N: 100, One: 5, Depth: -1, Only: []string{"floor"}})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Cycles) != 1 || rep.Cycles[0].Name != "floor" || rep.Depth != nil {
		t.Errorf("ran %+v, depth %v", rep.Cycles, rep.Depth)
	}
}

// TestNoRedis: without redis-server the asynq cycle is skipped with a note,
// not failed.
func TestNoRedis(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	rep, err := run(ctx, Config{N: 100, One: 5, Depth: -1, Only: []string{"asynq"}, Redis: t.TempDir() + "/redis-server"})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Cycles) != 0 || len(rep.Notes) != 1 || !strings.HasPrefix(rep.Notes[0], "asynq skipped") {
		t.Errorf("cycles %+v, notes %q", rep.Cycles, rep.Notes)
	}
}
