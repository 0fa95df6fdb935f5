package main

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestDevMetrics scrapes the gateway's /metrics of `strand dev --http`
// after a task: the gateway's submission, the worker's run, the queue and
// the worker count, all on one page.
func TestDevMetrics(t *testing.T) {
	t.Parallel()
	base := startCommand(t, "dev", "--addr", "127.0.0.1:0", "--data", t.TempDir(), "--http", "127.0.0.1:0")
	if code, out := call(t, "POST", base+"/v1/tasks?wait=20s", "", `{"func": "add", "args": [2, 3]}`); code != http.StatusOK {
		t.Fatalf("submit: %d %v", code, out)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	series := []string{
		`strand_tasks_submitted_total{func="add",queue="default"} 1`,
		`strand_tasks_completed_total{func="add",queue="default"} 1`,
		`strand_queue_depth{queue="default"} 0`,
		`strand_workers 1`,
		`go_goroutines `,
	}
	// The worker's first heartbeat may land after the task's outcome, so
	// scrape until every series is there (or the deadline).
	var page []byte
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, base+"/metrics", nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		page, _ = io.ReadAll(resp.Body)
		resp.Body.Close()
		missing := ""
		for _, s := range series {
			if !strings.Contains(string(page), "\n"+s) {
				missing = s
				break
			}
		}
		if missing == "" {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("/metrics lacks %s:\n%s", missing, page)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func TestTraceFlagRefused(t *testing.T) {
	t.Parallel()
	var out, errOut bytes.Buffer
	code := run(context.Background(), []string{"worker", "--trace", "jaeger"}, &out, &errOut)
	if code != exitUsage || !strings.Contains(errOut.String(), `--trace "jaeger"`) {
		t.Fatalf("exit %d: %s", code, errOut.String())
	}
}
