package permtest

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/strand-run/strand/internal/link"

	strand "github.com/strand-run/strand"
	"github.com/strand-run/strand/reader"
	"github.com/strand-run/strand/registry"
	"github.com/strand-run/strand/writer"
)

// TestRolesTime: with the least privileges of perms.conf, a producer of
// queue a delays tasks, reads them scheduled and cancels them; the worker
// of a queues the firings of a's delayed tasks and of a schedule the admin
// keeps; neither reaches queue b.
func TestRolesTime(t *testing.T) {
	url := startServer(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	admin := connect(t, url, "admin")
	if err := link.Core(admin).SchedulesReady(); err != nil {
		t.Fatal(err)
	}
	adminW, err := writer.New(admin, writer.Config{Queue: "a"})
	must(t, err)
	defer adminW.Close()

	producer := connect(t, url, "producer-a")
	if err := link.Core(producer).SchedulesReady(); err != nil {
		t.Fatalf("producer: %v", err)
	}
	w, err := writer.New(producer, writer.Config{Queue: "a"})
	must(t, err)
	defer w.Close()

	var mu sync.Mutex
	ran := map[string]int{}
	reg := registry.New()
	must(t, reg.Register("add", func(ctx context.Context, a, b int) int {
		tk, _ := strand.TaskFrom(ctx)
		mu.Lock()
		ran[tk.ID]++
		mu.Unlock()
		return a + b
	}))
	worker := connect(t, url, "worker-a")
	r, err := reader.New(worker, reg, reader.Config{Queues: []string{"a"}})
	must(t, err)
	runCtx, stopRun := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- r.Run(runCtx) }()
	defer func() { stopRun(); <-done }()

	later, err := w.Submit(ctx, "add", []any{1, 2}, strand.After(2*time.Second))
	must(t, err)
	never, err := w.Submit(ctx, "add", []any{1, 1}, strand.After(time.Hour))
	must(t, err)
	same, err := w.Open(later.ID(), strand.Queue("a"))
	must(t, err)
	if st, err := same.Status(ctx); err != nil || st != strand.StatusScheduled {
		t.Fatalf("status %s %v", st, err)
	}
	must(t, never.Cancel(ctx))
	must(t, adminW.PutSchedule(ctx, "perm", "@every 1s", "add", []any{2, 2}))
	var sum int
	if err := later.Result(ctx, &sum); err != nil || sum != 3 {
		t.Fatalf("delayed: %d %v", sum, err)
	}
	for ctx.Err() == nil {
		if ss, err := adminW.Schedules(ctx, "perm"); err == nil && ss[0].LastTask != "" {
			h, err := adminW.Open(ss[0].LastTask, strand.Queue("a"))
			must(t, err)
			if err := h.Result(ctx, &sum); err != nil || sum != 4 {
				t.Fatalf("firing: %d %v", sum, err)
			}
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	must(t, adminW.DeleteSchedule(ctx, "perm"))
	if st, err := never.Status(ctx); err != nil || st != strand.StatusCancelled {
		t.Fatalf("cancelled: %s %v", st, err)
	}
	mu.Lock()
	n := ran[never.ID()]
	mu.Unlock()
	if n != 0 {
		t.Fatalf("the cancelled delayed task ran %d times", n)
	}
	// Queue b is out of reach for a delayed task too.
	_, err = w.Submit(ctx, "add", []any{1, 1}, strand.Queue("b"), strand.After(time.Hour))
	if !errors.Is(err, strand.ErrForbidden) || !strings.Contains(err.Error(), "b") {
		t.Fatalf("delayed submit to b: %v", err)
	}
}
