package reader_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	strand "github.com/strand-run/strand"
	"github.com/strand-run/strand/broker"
	"github.com/strand-run/strand/inspect"
	"github.com/strand-run/strand/internal/broker/brokertest"
	"github.com/strand-run/strand/reader"
	"github.com/strand-run/strand/registry"
	"github.com/strand-run/strand/server"
	"github.com/strand-run/strand/writer"
)

// A paused queue accepts tasks and runs none, across worker and server
// restarts; a running task finishes; resume runs what waited, on the first
// attempt.
func TestPauseResume(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	srv := brokertest.StartWith(t, server.Config{DataDir: dir})
	addr := srv.NATS().Addr().String()
	b := brokertest.Connect(t, srv, broker.Config{})
	w, err := writer.New(b, writer.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	in, err := inspect.New(b, inspect.Config{})
	if err != nil {
		t.Fatal(err)
	}
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
	start := func(srv *server.Server) (stop func()) {
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

	running, err := w.Submit(ctx, "block", nil)
	if err != nil {
		t.Fatal(err)
	}
	waitStatus(t, ctx, running, strand.StatusRunning, 10*time.Second)
	if err := in.Pause(ctx, "default"); err != nil {
		t.Fatal(err)
	}
	if err := in.Pause(ctx, "default"); err != nil {
		t.Fatalf("pausing a paused queue: %v", err)
	}
	time.Sleep(100 * time.Millisecond) // the worker sees the pause event
	var hs []strand.Handle
	for i := range 5 {
		h, err := w.Submit(ctx, "add", []any{i, 1})
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
			if info.Status != strand.StatusPending || info.Waiting != "paused" {
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
	srv = brokertest.StartWith(t, server.Config{Addr: addr, DataDir: dir})
	stopWorker = start(srv)
	defer func() { stopWorker() }()
	time.Sleep(500 * time.Millisecond)
	pending("after a server restart")
	if qs, err := in.Queues(ctx, "default"); err != nil || !qs[0].Paused || qs[0].PausedSince.IsZero() {
		t.Fatalf("paused after a server restart: %+v %v", qs, err)
	}

	if err := in.Resume(ctx, "default"); err != nil {
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

// A task id stays unique across priority lanes, and flow options that
// cannot work are refused at submit.
func TestLaneIDsAndBadFlowOptions(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := ctxT(t, 30*time.Second)
	pairs := [][2]string{{"", "high"}, {"high", ""}, {"high", "low"}, {"low", "low"}, {"", "fair"}, {"fair", ""}, {"fair", "high"}}
	lane := func(p string) []strand.Option {
		if p == "fair" {
			return []strand.Option{strand.Key("tenant"), strand.Fair()}
		}
		return []strand.Option{strand.Priority(p)}
	}
	for i, p := range pairs {
		id := fmt.Sprintf("own-%d", i)
		if _, err := e.w.Submit(ctx, "add", []any{1, 2}, append([]strand.Option{strand.ID(id)}, lane(p[0])...)...); err != nil {
			t.Fatalf("%v first: %v", p, err)
		}
		if _, err := e.w.Submit(ctx, "add", []any{1, 2}, append([]strand.Option{strand.ID(id)}, lane(p[1])...)...); !errors.Is(err, strand.ErrDuplicate) {
			t.Fatalf("%v: the second submit of %s: %v, want a duplicate", p, id, err)
		}
	}
	h, err := e.w.Submit(ctx, "add", []any{1, 2}, strand.Priority("high"))
	if err != nil {
		t.Fatal(err)
	}
	if info, err := h.Info(ctx); err != nil || info.Status != strand.StatusPending {
		t.Fatalf("a queued high task reads %v, %v", info, err)
	}
	if err := h.Cancel(ctx); err != nil {
		t.Fatalf("cancel a queued high task: %v", err)
	}
	for _, opts := range [][]strand.Option{
		{strand.Priority("urgent")},
		{strand.Key("a.b")},
		{strand.Key("")},
		{strand.Unique("k", 500*time.Millisecond)}, // 0 holds it until finished; under 1s is refused
		{strand.Unique("k", 48*time.Hour)},
		{strand.Unique("k", time.Hour), strand.ResultTTL(time.Minute)},
		{strand.Debounce("k", 500*time.Millisecond)},
		{strand.Debounce("k", 25*time.Hour)},
		{strand.Unique("k", time.Minute), strand.Debounce("k", time.Minute)},
		{strand.Key("a"), strand.Key("b")},
	} {
		if _, err := e.w.Submit(ctx, "add", []any{1, 2}, opts...); !errors.Is(err, strand.ErrBadOption) {
			t.Errorf("options %v: %v, want strand.ErrBadOption", opts, err)
		}
	}
}

// Limits and queue weights that cannot work are refused when the worker
// is made.
func TestBadLimitsRefused(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	for _, cfg := range []reader.Config{
		{Limits: []reader.Limit{{Func: "add"}}},
		{Limits: []reader.Limit{{Func: "add", Max: -1}}},
		{Limits: []reader.Limit{{Func: "add", Rate: 5}}},
		{Limits: []reader.Limit{{Func: "add", Rate: 5, Per: time.Hour}}},
		{Limits: []reader.Limit{{Func: "add", Max: 3, Key: "header:x"}}},
		{Limits: []reader.Limit{{Func: "a.b", Max: 3}}},
		{Queues: []string{"a", "b"}, QueueWeights: map[string]int{"a": 0}},
		{Queues: []string{"a", "b"}, QueueWeights: map[string]int{"c": 2}},
	} {
		if _, err := reader.New(e.b, e.reg, cfg); !errors.Is(err, strand.ErrBadOption) {
			t.Errorf("config %+v: %v, want strand.ErrBadOption", cfg, err)
		}
	}
	if _, err := reader.New(e.b, e.reg, reader.Config{Limits: []reader.Limit{{Func: "add", Key: "meta:tenant", Max: 3}, {Key: "kwarg:user", Rate: 10, Per: time.Second}}}); err != nil {
		t.Errorf("good limits: %v", err)
	}
}
