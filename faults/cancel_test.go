package faults_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	strand "github.com/strand-run/strand"
)

// TestCancelRunningTask: `strand cancel ID` stops a running sleep 10000 on
// a worker process with one slot: the task ends cancelled at once, and the
// slot is free: a task submitted next completes long before the sleep
// would have ended.
func TestCancelRunningTask(t *testing.T) {
	needProcesses(t)
	t.Parallel()
	srv := startServer(t)
	b, w := connect(t, srv)
	rec := watch(t, b)
	worker := startWorker(t, srv, "w1", nil, "--concurrency", "1")
	ctx := ctxFor(t, time.Minute)

	long, err := w.Submit(ctx, "sleep", []any{10000})
	if err != nil {
		t.Fatal(err)
	}
	if !rec.waitFor(30*time.Second, func(r *records) bool { return len(r.running[long.ID()]) > 0 }) {
		t.Fatal("sleep 10000 never ran")
	}
	next, err := w.Submit(ctx, "add", []any{2, 3}) // queued behind the long task
	if err != nil {
		t.Fatal(err)
	}

	cancelAt := time.Now()
	code, out, errOut := run(t, "cancel", "--server", srv.url(), long.ID())
	if code != 0 || !strings.Contains(out, "cancelled "+long.ID()) {
		t.Fatalf("strand cancel: exit %d\nstdout: %s\nstderr: %s", code, out, errOut)
	}
	o, err := long.Wait(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("cancelled %v after strand cancel started", time.Since(cancelAt).Round(time.Millisecond))
	if o.Status != "cancelled" || !errors.Is(o.Err, strand.ErrCancelled) {
		t.Fatalf("after cancel: %s %+v, want cancelled (kind cancelled)", o.Status, o.Err)
	}

	var sum int
	if err := next.Result(ctx, &sum); err != nil || sum != 5 {
		t.Fatalf("the task after the cancelled one: %d, %v; want 5", sum, err)
	}
	no, err := next.Wait(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// The slot was free when the sleep would still have run for seconds.
	rec.mu.Lock()
	sleepStarted := time.UnixMilli(rec.running[long.ID()][0].Started)
	rec.mu.Unlock()
	if end := sleepStarted.Add(10 * time.Second); !no.Ended.Before(end) {
		t.Errorf("add finished at %v, not before the cancelled sleep would have ended (%v): its slot was not freed",
			no.Ended, end)
	}
	t.Logf("add(2, 3) finished %v after the cancel", no.Ended.Sub(cancelAt).Round(time.Millisecond))
	worker.stop(30 * time.Second)
}

// TestCancelPendingTaskNeverRuns: a task cancelled while it waits in a queue
// no worker serves is never run, not even by a worker started later.
func TestCancelPendingTaskNeverRuns(t *testing.T) {
	needProcesses(t)
	t.Parallel()
	srv := startServer(t)
	b, w := connect(t, srv)
	rec := watch(t, b)
	ctx := ctxFor(t, time.Minute)
	q := strand.Queue("parked")

	doomed, err := w.Submit(ctx, "sleep", []any{1000}, q)
	if err != nil {
		t.Fatal(err)
	}
	code, out, errOut := run(t, "cancel", "--server", srv.url(), doomed.ID())
	if code != 0 || !strings.Contains(out, "cancelled "+doomed.ID()) {
		t.Fatalf("strand cancel: exit %d\nstdout: %s\nstderr: %s", code, out, errOut)
	}
	after, err := w.Submit(ctx, "add", []any{1, 2}, q)
	if err != nil {
		t.Fatal(err)
	}

	worker := startWorker(t, srv, "late", nil, "--queue", "parked", "--concurrency", "4")
	var sum int
	if err := after.Result(ctx, &sum); err != nil || sum != 3 {
		t.Fatalf("the task queued after the cancelled one: %d, %v; want 3", sum, err)
	}
	// Give the worker time to run the cancelled task had it received it:
	// a sleep 1000 that runs writes "running" after 5ms.
	time.Sleep(500 * time.Millisecond)

	info, err := doomed.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if info.Status != "cancelled" || info.Worker != "" || info.Attempt != 0 {
		t.Errorf("cancelled pending task: status %s, worker %q, attempt %d; want cancelled, never run",
			info.Status, info.Worker, info.Attempt)
	}
	outcomes, running, _ := rec.snapshot()
	if n := len(running[doomed.ID()]); n > 0 {
		t.Errorf("the cancelled task ran %d times (worker %s)", n, running[doomed.ID()][0].Worker)
	}
	if n := len(outcomes[doomed.ID()]); n != 1 {
		t.Errorf("the cancelled task has %d outcome writes, want 1 (the cancel)", n)
	}
	worker.stop(30 * time.Second)
}

// TestSubmitTimeout: `strand submit --timeout 500ms --wait sleep 5000` ends
// failed with a timeout in about half a second and exits 1.
func TestSubmitTimeout(t *testing.T) {
	needProcesses(t)
	t.Parallel()
	srv := startServer(t)
	worker := startWorker(t, srv, "w1", nil, "--concurrency", "2")

	began := time.Now()
	code, out, errOut := run(t, "submit", "--server", srv.url(), "--timeout", "500ms", "--wait", "sleep", "5000")
	took := time.Since(began)
	t.Logf("strand submit --timeout 500ms --wait sleep 5000: exit %d after %v", code, took.Round(time.Millisecond))
	if code != 1 {
		t.Errorf("exit code %d, want 1\nstdout: %s\nstderr: %s", code, out, errOut)
	}
	if !strings.Contains(errOut, "timed out") || !strings.Contains(errOut, "(kind timeout)") {
		t.Errorf("stderr does not say the task timed out:\n%s", errOut)
	}
	if took >= 3*time.Second {
		t.Errorf("took %v, want about 500ms (< 3s)", took)
	}
	worker.stop(30 * time.Second)
}
