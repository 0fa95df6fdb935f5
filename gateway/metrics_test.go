package gateway

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"testing"
	"time"

	ib "github.com/strand-run/strand/internal/broker"
	"github.com/strand-run/strand/internal/link"

	"github.com/prometheus/client_golang/prometheus"

	strand "github.com/strand-run/strand"

	"github.com/strand-run/strand/internal/broker/brokertest"
	"github.com/strand-run/strand/internal/demo"
	"github.com/strand-run/strand/middleware"
	"github.com/strand-run/strand/reader"
	"github.com/strand-run/strand/registry"
	"github.com/strand-run/strand/writer"
)

// TestMetrics scrapes /metrics after real tasks: first queued with no
// worker (depth), then run by one worker (counts, failures by kind,
// worker count, dead letters).
func TestMetrics(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	_, b := brokertest.New(t)
	reg := prometheus.NewRegistry()
	submitted, err := middleware.SubmitMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	worker, err := middleware.WorkerMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	w, err := writer.New(b, writer.Config{Middleware: []writer.Middleware{submitted}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = w.Close() })
	srv := httptest.NewServer(New(w, b, Config{Metrics: reg}))
	t.Cleanup(srv.Close)
	scrape := func() string {
		t.Helper()
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL+"/metrics", nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("/metrics: %d %s", resp.StatusCode, body)
		}
		return string(body)
	}
	want := func(page, series string) {
		t.Helper()
		if !regexp.MustCompile(`(?m)^` + series + `$`).MatchString(page) {
			t.Errorf("/metrics lacks %s in:\n%s", series, page)
		}
	}

	// Queued, no worker: the queue's consumer exists (as a worker that
	// ran once leaves it) and counts the waiting tasks.
	if _, err := link.Core(b).EnsureQueue(ctx, "default", ib.QueueConfig{}); err != nil {
		t.Fatal(err)
	}
	var hs []strand.Handle
	for i := range 3 {
		h, err := w.Submit(ctx, "add", []any{i, 1})
		if err != nil {
			t.Fatal(err)
		}
		hs = append(hs, h)
	}
	page := scrape()
	want(page, `strand_queue_depth\{queue="default"\} 3`)
	want(page, `strand_queue_in_flight\{queue="default"\} 0`)
	want(page, `strand_workers 0`)
	want(page, `strand_tasks_submitted_total\{func="add",queue="default"\} 3`)

	// One worker runs them, and a task that fails twice and dies.
	dr := registry.New()
	if err := demo.Register(dr); err != nil {
		t.Fatal(err)
	}
	r, err := reader.New(b, dr, reader.Config{
		Concurrency: 2, RunningAfter: -1, ShutdownTimeout: 100 * time.Millisecond, RetryBase: 10 * time.Millisecond,
		Middleware: []reader.Middleware{worker},
	})
	if err != nil {
		t.Fatal(err)
	}
	rctx, stop := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = r.Run(rctx) }()
	t.Cleanup(func() { stop(); <-done })
	h, err := w.Submit(ctx, "fail", []any{"boom"}, strand.MaxAttempts(2))
	if err != nil {
		t.Fatal(err)
	}
	hs = append(hs, h)
	for _, h := range hs {
		_ = h.Result(ctx, nil) // the failure is expected
	}
	// The worker's heartbeat record is written as it starts; the DLQ copy
	// before the outcome. Both are there by now.
	page = scrape()
	want(page, `strand_tasks_completed_total\{func="add",queue="default"\} 3`)
	want(page, `strand_tasks_failed_total\{func="fail",kind="error",queue="default"\} 2`)
	want(page, `strand_task_duration_seconds_count\{func="add",queue="default"\} 3`)
	want(page, `strand_queue_depth\{queue="default"\} 0`)
	want(page, `strand_workers 1`)
	want(page, `strand_dlq_tasks\{queue="default"\} 1`)
}
