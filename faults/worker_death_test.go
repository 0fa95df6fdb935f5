package faults_test

import (
	"syscall"
	"testing"
	"time"

	"github.com/strand-run/strand/writer"
)

// TestWorkerKilledMidRun: two worker processes share 200 tasks of sleep
// 200; one is SIGKILLed while it runs some. Every task completes, each has
// exactly one outcome written, and the tasks the dead worker held are
// redelivered after AckWait and completed by the other worker as attempt 2.
func TestWorkerKilledMidRun(t *testing.T) {
	needProcesses(t)
	t.Parallel()
	const n = 200
	srv := startServer(t)
	b, w := connect(t, srv)
	rec := watch(t, b)

	ackWait := []string{"STRAND_ACK_WAIT=3s"}
	w1 := startWorker(t, srv, "w1", ackWait, "--concurrency", "8")
	w2 := startWorker(t, srv, "w2", ackWait, "--concurrency", "8")

	calls := make([]writer.Call, n)
	for i := range calls {
		calls[i] = writer.Call{Func: "sleep", Args: []any{200}}
	}
	ctx := ctxFor(t, 2*time.Minute)
	hs, errs := w.SubmitBatch(ctx, calls)
	for i, err := range errs {
		if err != nil {
			t.Fatalf("submit %d: %v", i, err)
		}
	}

	// Kill w1 once it has completed some tasks and runs a few more.
	var held map[string]bool // running on w1, without an outcome, when it was killed
	ok := rec.waitFor(60*time.Second, func(r *records) bool {
		held = map[string]bool{}
		done := 0
		for id, sts := range r.running {
			switch {
			case sts[len(sts)-1].Worker != "w1":
			case len(r.outcomes[id]) == 0:
				held[id] = true
			default:
				done++
			}
		}
		return done >= 8 && len(held) >= 3
	})
	if !ok {
		t.Fatal("worker w1 never completed 8 tasks while running 3 more")
	}
	w1.signal(syscall.SIGKILL)
	if code := w1.wait(10 * time.Second); code != -1 {
		t.Fatalf("w1 after SIGKILL: exit code %d, want killed by signal", code)
	}
	killedAt := time.Now()

	got := waitAll(ctx, t, hs)
	t.Logf("all %d outcomes %v after the kill", n, time.Since(killedAt).Round(time.Millisecond))

	_, _, bad := rec.snapshot()
	for _, s := range bad {
		t.Errorf("undecodable record event: %s", s)
	}
	// Outcome events can trail the handles' own by a moment; wait for all.
	rec.waitFor(10*time.Second, func(r *records) bool { return len(r.outcomes) >= n })
	outcomes, _, _ := rec.snapshot()

	byWorker := map[string]int{}
	redelivered := 0
	for _, h := range hs {
		id := h.ID()
		o := got[id]
		if o.Status != "completed" {
			t.Errorf("task %s: %s (%v), want completed", id, o.Status, o.Err)
			continue
		}
		if evs := len(outcomes[id]); evs != 1 {
			t.Errorf("task %s: %d outcome writes, want exactly 1", id, evs)
		}
		byWorker[o.Worker]++
		switch {
		case o.Attempt == 1 && (o.Worker == "w1" || o.Worker == "w2"):
		case o.Attempt == 2 && o.Worker == "w2":
			redelivered++
		default:
			t.Errorf("task %s: completed by %q as attempt %d; want attempt 1, or attempt 2 on w2", id, o.Worker, o.Attempt)
		}
	}
	for id := range held {
		if o := got[id]; o != nil && (o.Worker != "w2" || o.Attempt != 2) {
			t.Errorf("task %s was running on w1 when it was killed, but completed by %q as attempt %d; want w2, attempt 2",
				id, o.Worker, o.Attempt)
		}
	}
	t.Logf("completed by worker: %v; %d redelivered (attempt 2), %d of them running on w1 at the kill",
		byWorker, redelivered, len(held))
	if redelivered < len(held) {
		t.Errorf("%d tasks redelivered, fewer than the %d running on w1 at the kill", redelivered, len(held))
	}

	if !w2.alive() {
		t.Fatalf("w2 exited during the run:\n%s", w2.out.String())
	}
	w2.stop(30 * time.Second)
}
