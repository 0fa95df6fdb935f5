package main

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"
)

// TestRun runs the harness with tiny sizes: every cycle and the depth run,
// on one embedded server (the soak has TestSoak). It checks that each
// produced figures and cleaned up, never how fast anything was. Without a
// redis-server the asynq cycle is skipped with a note.
func TestRun(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cfg := Config{N: 200, Producers: 4, Pool: 4, One: 20, Depth: 500, FlowN: 100,
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
		if c.TasksPerSec <= 0 || c.P50 <= 0 || c.P99 < c.P50 || c.CPUPerTask <= 0 {
			t.Errorf("%s: figures %+v", c.Name, c)
		}
	}
	for n := range want {
		t.Errorf("cycle %s did not run", n)
	}
	if d := rep.Depth; d == nil || d.Tasks != 500 || d.DrainPerSec <= 0 || d.Queued.Disk <= 0 {
		t.Errorf("depth run: %+v", d)
	}
	if f := rep.Flow; f == nil || f.FanOut != 100 || f.FlowPerSec <= 0 || f.PlainPerSec <= 0 || len(f.CreateOne) != 3 {
		t.Errorf("flow run: %+v", f)
	}
	if rep.Sizing != nil || rep.Soaks != nil {
		t.Errorf("soak ran without -soak")
	}
	var b strings.Builder
	rep.Markdown(&b)
	for _, s := range []string{"| cycle | tasks/s | × floor | × asynq | CPU/task | p50 | p99 | peak RSS |", "| depth run |", "clients and the embedded server together", "Targets:", "| workflow fan-out/fan-in |"} {
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

// TestSoak runs the soak alone with tiny sizes: nats-server built from the
// module graph and run as a process of its own, the sizing run, and the
// soak twice (the default server environment and one -soak-env). It checks
// that every step sampled the server's process and store dir and that the
// report says whether they came back, never how fast or how much.
func TestSoak(t *testing.T) {
	if _, err := os.Stat("/proc/self/status"); err != nil {
		t.Skip("no /proc: the soak reads the server's RSS there")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cfg := Config{Only: []string{"soak"}, SoakN: 2000, ResultTTL: time.Second,
		SoakWait: 2 * time.Second, SoakEvery: 500 * time.Millisecond, SoakEnv: []string{"GOGC=100"}}
	if testing.Verbose() {
		cfg.Log = os.Stderr
	}
	rep, err := run(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Cycles) != 0 || rep.Depth != nil {
		t.Errorf("-only soak ran cycles %+v, depth %v", rep.Cycles, rep.Depth)
	}
	if !strings.Contains(rep.ExtServer, "nats-server") {
		t.Errorf("soak server version %q", rep.ExtServer)
	}
	z := rep.Sizing
	if z == nil || z.Tasks != 2000 || z.Baseline.RSS <= 0 || z.Queued.Disk <= z.Baseline.Disk || z.Drained.RSS <= 0 ||
		z.QueuedHeap.HeapAlloc <= 0 || z.DrainedHeap.HeapAlloc <= 0 || z.DrainPerSec <= 0 {
		t.Errorf("sizing: %+v", z)
	}
	if len(rep.Soaks) != 2 || rep.Soaks[1].Env != "GOGC=100" {
		t.Fatalf("soaks: %+v", rep.Soaks)
	}
	for _, s := range rep.Soaks {
		if s.Tasks != 2000 || s.PerSec <= 0 || s.Baseline.RSS <= 0 || s.Done.RSS <= 0 || s.Done.Disk <= 0 || len(s.After) == 0 ||
			s.Heap == nil || s.Heap.HeapAlloc <= 0 || len(s.Forced) == 0 || len(s.Streams) == 0 {
			t.Errorf("soak %q: %+v", s.Env, s)
		}
		for _, a := range s.After {
			if a.RSS <= 0 || a.PastTTL < 0 || a.PastTTL > cfg.SoakWait+time.Second {
				t.Errorf("soak %q: sample %+v", s.Env, a)
			}
		}
	}
	var b strings.Builder
	rep.Markdown(&b)
	for _, s := range []string{"| sizing | server RSS |", "| soak | server RSS |", "| TTL + ", "RSS ", "Store dir ", "`GOGC=100`"} {
		if !strings.Contains(b.String(), s) {
			t.Errorf("report lacks %q:\n%s", s, b.String())
		}
	}
	if testing.Verbose() {
		t.Log("\n" + b.String())
	}
}
