package main

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/strand-run/strand/internal/link"

	"github.com/rs/zerolog"

	"github.com/strand-run/strand/broker"
	"github.com/strand-run/strand/internal/broker/brokertest"
	"github.com/strand-run/strand/reader"
	"github.com/strand-run/strand/writer"
)

// TestMetricsEndpoint runs a worker as `strand worker --metrics` does and
// scrapes /metrics after real tasks.
func TestMetricsEndpoint(t *testing.T) {
	t.Parallel()
	srv, b := brokertest.New(t)
	var out bytes.Buffer
	a := &app{stdout: &out, stderr: io.Discard, log: zerolog.Nop()}
	var rc reader.Config
	stopMetrics, err := a.serveMetrics("127.0.0.1:0", &rc)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(stopMetrics)
	url := regexp.MustCompile(`http://\S+/metrics`).FindString(out.String())
	if url == "" {
		t.Fatalf("no metrics URL printed: %q", out.String())
	}
	reg, err := demoRegistry()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	wctx, stopWorker := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() {
		done <- a.runWorker(wctx, nil, link.Core(brokertest.Connect(t, srv, broker.Config{})), reg, rc)
	}()
	t.Cleanup(func() { stopWorker(); <-done })

	w, err := writer.New(b, writer.Config{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = w.Close() })
	for i := range 3 {
		h, err := w.Submit(ctx, "add", []any{i, 1})
		if err != nil {
			t.Fatal(err)
		}
		if err := h.Result(ctx, nil); err != nil {
			t.Fatal(err)
		}
	}
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{
		`strand_tasks_completed_total{func="add",queue="default"} 3`,
		`strand_tasks_started_total{func="add",queue="default"} 3`,
		`strand_task_duration_seconds_count{func="add",queue="default"} 3`,
		`strand_tasks_in_flight{func="add",queue="default"} 0`,
		"go_goroutines",
	} {
		if !strings.Contains(string(body), want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
}
