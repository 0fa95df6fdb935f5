package faults_test

import (
	"context"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	strand "github.com/strand-run/strand"
	"github.com/strand-run/strand/writer"
)

// submitN submits n tasks of add(i, i) and returns their handles.
func submitN(ctx context.Context, t *testing.T, w *writer.Writer, n int) []strand.Handle {
	t.Helper()
	calls := make([]writer.Call, n)
	for i := range calls {
		calls[i] = writer.Call{Func: "add", Args: []any{i, i}}
	}
	hs, errs := w.SubmitBatch(ctx, calls)
	for i, err := range errs {
		if err != nil {
			t.Fatalf("submit %d: %v", i, err)
		}
	}
	return hs
}

// checkAdds checks that every add(i, i) of hs completed with 2i.
func checkAdds(ctx context.Context, t *testing.T, hs []strand.Handle) {
	t.Helper()
	for i, h := range hs {
		var sum int
		if err := h.Result(ctx, &sum); err != nil {
			t.Fatalf("task %d (%s): %v", i, h.ID(), err)
		}
		if sum != 2*i {
			t.Errorf("task %d: add(%d, %d) = %d", i, i, i, sum)
		}
	}
}

// waitConnected waits until b's connection is up again.
func waitConnected(t *testing.T, nc *nats.Conn) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !nc.IsConnected() {
		if time.Now().After(deadline) {
			t.Fatalf("not reconnected after 30s: %v", nc.Status())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestServerRestartKeepsQueuedTasks: 50 tasks queued with no worker survive
// a server stop and start on the same data dir; a worker started afterwards
// runs all of them, and the writer that submitted them, connected through
// the restart, gets every result.
func TestServerRestartKeepsQueuedTasks(t *testing.T) {
	needProcesses(t)
	t.Parallel()
	srv := startServer(t)
	b, w := connect(t, srv)
	ctx := ctxFor(t, 2*time.Minute)
	hs := submitN(ctx, t, w, 50)

	srv.stop(30 * time.Second)
	srv.restart(t)
	waitConnected(t, b.Conn())

	startWorker(t, srv, "w1", nil, "--concurrency", "8")
	checkAdds(ctx, t, hs)
}

// TestServerRestartUnderConnectedClients: a writer and a worker connected
// while the server restarts reconnect by themselves and keep going: tasks
// submitted through the same writer after the restart complete.
func TestServerRestartUnderConnectedClients(t *testing.T) {
	needProcesses(t)
	t.Parallel()
	srv := startServer(t)
	_, w := connect(t, srv)
	worker := startWorker(t, srv, "w1", nil, "--concurrency", "8")
	ctx := ctxFor(t, 2*time.Minute)

	checkAdds(ctx, t, submitN(ctx, t, w, 20))

	srv.stop(30 * time.Second)
	srv.restart(t)

	// Submit at once, while the clients may still be reconnecting: the
	// writer's publishes wait in its reconnect buffer.
	checkAdds(ctx, t, submitN(ctx, t, w, 20))
	if !worker.alive() {
		t.Fatalf("the worker exited when the server restarted:\n%s", worker.out.String())
	}
	worker.stop(30 * time.Second)
}

// TestResultWaitAcrossWriterReconnect: a writer submits tasks, loses its
// connection while the server restarts, and reconnects only after a worker
// has completed them. Its handles must still see the results, although
// the outcome events went out while it was away (core NATS does not keep
// them): a handle re-reads the outcome after a reconnect.
func TestResultWaitAcrossWriterReconnect(t *testing.T) {
	needProcesses(t)
	t.Parallel()
	srv := startServer(t)
	// This writer reconnects only after 5s, so that the worker is done by then.
	b, w := connect(t, srv, nats.ReconnectWait(5*time.Second), nats.ReconnectJitter(0, 0))
	ctx := ctxFor(t, 2*time.Minute)
	hs := submitN(ctx, t, w, 10)

	srv.stop(30 * time.Second)
	srv.restart(t)
	worker := startWorker(t, srv, "w1", nil, "--concurrency", "8")

	// Prove, with a second client, that the outcomes exist while the writer is away.
	_, w2 := connect(t, srv)
	for _, h := range hs {
		h2, err := w2.Open(h.ID())
		if err != nil {
			t.Fatal(err)
		}
		if _, err := h2.Wait(ctx); err != nil {
			t.Fatalf("task %s: %v", h.ID(), err)
		}
	}
	if b.Conn().IsConnected() {
		t.Log("the writer reconnected before the outcomes were written; the test proves nothing this time")
	}
	waitConnected(t, b.Conn())

	wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	missed := 0
	for _, h := range hs {
		if _, err := h.Wait(wctx); err != nil {
			missed++
		}
	}
	if missed > 0 {
		t.Errorf("%d of %d handles never saw an outcome that is stored (Wait blocked 10s after the writer reconnected)",
			missed, len(hs))
	}
	worker.stop(30 * time.Second)
}

// TestServerKilledMidRun: the server process is SIGKILLed while a worker
// runs tasks, and restarted on the same data dir. A process crash loses
// nothing JetStream acknowledged (the page cache survives): every task
// completes, with exactly one outcome each.
func TestServerKilledMidRun(t *testing.T) {
	needProcesses(t)
	t.Parallel()
	const n = 100
	srv := startServer(t)
	b, w := connect(t, srv)
	rec := watch(t, b)
	worker := startWorker(t, srv, "w1", []string{"STRAND_ACK_WAIT=3s"}, "--concurrency", "8")
	ctx := ctxFor(t, 2*time.Minute)

	calls := make([]writer.Call, n)
	for i := range calls {
		calls[i] = writer.Call{Func: "sleep", Args: []any{50}}
	}
	hs, errs := w.SubmitBatch(ctx, calls)
	for i, err := range errs {
		if err != nil {
			t.Fatalf("submit %d: %v", i, err)
		}
	}
	if !rec.waitFor(60*time.Second, func(r *records) bool { return len(r.outcomes) >= 20 }) {
		t.Fatal("fewer than 20 tasks completed in 60s")
	}
	srv.signal(syscall.SIGKILL)
	srv.wait(10 * time.Second)
	srv.restart(t)

	got := waitAll(ctx, t, hs)
	for _, h := range hs {
		if o := got[h.ID()]; o.Status != "completed" {
			t.Errorf("task %s: %s %+v, want completed", h.ID(), o.Status, o.Err)
		}
	}
	// Every outcome stored is the only one: read them back from the server.
	for _, h := range hs {
		o, err := h.Info(ctx)
		if err != nil {
			t.Errorf("task %s: stored outcome %v, %v", h.ID(), o, err)
		} else if o.Status != "completed" {
			t.Errorf("task %s: stored outcome %s", h.ID(), o.Status)
		}
	}
	outcomes, _, _ := rec.snapshot()
	redone := 0
	for _, h := range hs {
		if len(outcomes[h.ID()]) > 1 {
			redone++
		}
	}
	if redone > 0 {
		t.Errorf("%d tasks have more than one outcome write", redone)
	}
	if !worker.alive() {
		t.Fatalf("the worker exited when the server was killed:\n%s", worker.out.String())
	}
	worker.stop(30 * time.Second)
}
