package reader_test

import (
	"context"
	"testing"
	"time"

	strand "github.com/strand-run/strand"
	"github.com/strand-run/strand/broker"
	"github.com/strand-run/strand/broker/brokertest"
	"github.com/strand-run/strand/reader"
	"github.com/strand-run/strand/registry"
	"github.com/strand-run/strand/writer"
)

// A paused queue accepts tasks and runs none, across worker and server
// restarts; a running task finishes; resume runs what waited, on the first
// attempt.
func TestPauseResume(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	srv := brokertest.StartWith(t, broker.ServerConfig{DataDir: dir})
	addr := srv.Addr().String()
	b := brokertest.Connect(t, srv, broker.Config{})
	w, err := writer.New(b, writer.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	reg := registry.New()
	release := make(chan struct{})
	reg.MustRegister("add", func(a, b int) int { return a + b })
	reg.MustRegister("block", func(ctx context.Context) (int, error) {
		select {
		case <-release:
			task, _ := strand.TaskFrom(ctx)
			return task.Attempt, nil
		case <-ctx.Done():
			return 0, ctx.Err()
		}
	})
	ctx := ctxT(t, 90*time.Second)
	start := func(srv *broker.Server) (stop func()) {
		wb := brokertest.Connect(t, srv, broker.Config{})
		r, err := reader.New(wb, reg, reader.Config{Concurrency: 2, AckWait: 3 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		rctx, cancel := context.WithCancel(ctx)
		done := make(chan error, 1)
		go func() { done <- r.Run(rctx) }()
		return func() { cancel(); <-done }
	}
	stopWorker := start(srv)

	running, err := w.Submit(ctx, "block")
	if err != nil {
		t.Fatal(err)
	}
	waitStatus(t, ctx, running, strand.StatusRunning, 10*time.Second)
	if err := w.Pause(ctx, "default"); err != nil {
		t.Fatal(err)
	}
	if err := w.Pause(ctx, "default"); err != nil {
		t.Fatalf("pausing a paused queue: %v", err)
	}
	time.Sleep(100 * time.Millisecond) // the worker sees the pause event
	var hs []*writer.Handle
	for i := range 5 {
		h, err := w.Submit(ctx, "add", i, 1)
		if err != nil {
			t.Fatal(err)
		}
		hs = append(hs, h)
	}
	close(release) // the running task finishes while the queue is paused
	var attempt int
	if err := running.Result(ctx, &attempt); err != nil {
		t.Fatalf("the running task: %v", err)
	}
	pending := func(when string) {
		t.Helper()
		for _, h := range hs {
			info, err := h.Info(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if info.Status != strand.StatusPending || info.Waiting != writer.WaitPaused {
				t.Fatalf("%s: task %s is %s (waiting %q), want pending (paused)", when, h.ID(), info.Status, info.Waiting)
			}
		}
	}
	time.Sleep(4 * time.Second) // past AckWait: a task held by the worker is kept alive, not redelivered
	pending("paused")

	stopWorker()
	stopWorker = start(srv)
	time.Sleep(500 * time.Millisecond)
	pending("after a worker restart")

	stopWorker()
	srv.Stop()
	srv = brokertest.StartWith(t, broker.ServerConfig{Addr: addr, DataDir: dir})
	stopWorker = start(srv)
	defer func() { stopWorker() }()
	time.Sleep(500 * time.Millisecond)
	pending("after a server restart")
	if paused, _, err := w.Paused(ctx, "default"); err != nil || !paused {
		t.Fatalf("Paused after a server restart: %v %v", paused, err)
	}

	if err := w.Resume(ctx, "default"); err != nil {
		t.Fatal(err)
	}
	for i, h := range hs {
		var sum int
		if err := h.Result(ctx, &sum); err != nil || sum != i+1 {
			t.Fatalf("task %d after resume: %d %v", i, sum, err)
		}
		info, _ := h.Info(ctx)
		if info.Attempt > 2 {
			// A task handed back by a worker that stopped while paused is
			// redelivered once (attempt 2); no attempt burns while it waits.
			t.Errorf("task %d ran at attempt %d", i, info.Attempt)
		}
	}
}
