package faults_test

import (
	"syscall"
	"testing"
	"time"

	"github.com/strand-run/strand/writer"
)

// TestWorkerGracefulShutdown: a busy worker told to stop with SIGTERM
// finishes the tasks it runs, hands back the ones it holds but has not
// started, and exits 0 within its shutdown timeout; a second worker runs
// the rest. No task is lost and none runs twice.
func TestWorkerGracefulShutdown(t *testing.T) {
	needProcesses(t)
	t.Parallel()
	const n = 40
	srv := startServer(t)
	b, w := connect(t, srv)
	rec := watch(t, b)
	ctx := ctxFor(t, 2*time.Minute)

	calls := make([]writer.Call, n)
	for i := range calls {
		calls[i] = writer.Call{Func: "sleep", Args: []any{300}}
	}
	hs, errs := w.SubmitBatch(ctx, calls)
	for i, err := range errs {
		if err != nil {
			t.Fatalf("submit %d: %v", i, err)
		}
	}

	w1 := startWorker(t, srv, "w1", nil, "--concurrency", "8", "--shutdown-timeout", "5s")
	if !rec.waitFor(30*time.Second, func(r *records) bool { return len(r.running) >= 8 }) {
		t.Fatal("w1 did not start 8 tasks")
	}
	time.Sleep(500 * time.Millisecond)
	w1.signal(syscall.SIGTERM)
	termAt := time.Now()
	code := w1.wait(30 * time.Second)
	took := time.Since(termAt)
	if code != 0 {
		t.Fatalf("w1 exited %d after SIGTERM:\n%s", code, w1.out.String())
	}
	t.Logf("w1 exited 0, %v after SIGTERM", took.Round(time.Millisecond))

	startWorker(t, srv, "w2", nil, "--concurrency", "8")
	got := waitAll(ctx, t, hs)
	rec.waitFor(10*time.Second, func(r *records) bool { return len(r.outcomes) >= n })
	outcomes, running, bad := rec.snapshot()
	for _, s := range bad {
		t.Errorf("undecodable record event: %s", s)
	}

	byWorker := map[string]int{}
	attempts := map[int]int{} // of the tasks w2 completed
	for _, h := range hs {
		id := h.ID()
		o := got[id]
		byWorker[o.Worker]++
		if o.Worker == "w2" {
			attempts[o.Attempt]++
		}
		if o.Status != "completed" {
			t.Errorf("task %s: %s (%v), want completed", id, o.Status, o.Err)
		}
		if evs := len(outcomes[id]); evs != 1 {
			t.Errorf("task %s: %d outcome writes, want exactly 1", id, evs)
		}
		// sleep 300 always outlives the 5ms after which "running" is
		// written: one running state per run.
		if runs := len(running[id]); runs != 1 {
			var ws []string
			for _, st := range running[id] {
				ws = append(ws, st.Worker)
			}
			t.Errorf("task %s ran %d times (on %v), want once", id, runs, ws)
		}
		if o.Worker == "w1" && o.Attempt != 1 {
			t.Errorf("task %s: completed by w1 as attempt %d, want 1", id, o.Attempt)
		}
		// A task w1 handed back unstarted was delivered once to w1 and once
		// to w2; more deliveries would eat into its attempts without a run.
		if o.Worker == "w2" && o.Attempt > 2 {
			t.Errorf("task %s: completed by w2 as attempt %d, want 1 or 2 (it never ran before)", id, o.Attempt)
		}
		if o.Worker != "w1" && o.Worker != "w2" {
			t.Errorf("task %s: completed by %q", id, o.Worker)
		}
	}
	// Tasks w1 handed back unstarted count that delivery as an attempt.
	t.Logf("completed by worker: %v; attempts of w2's tasks: %v", byWorker, attempts)
	if byWorker["w1"] < 8 {
		t.Errorf("w1 completed %d tasks, want at least the 8 it was running when stopped", byWorker["w1"])
	}
}
