package main

import (
	"context"
	"strings"
	"testing"
	"time"
)

func TestRun(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var out, log strings.Builder
	if err := run(ctx, &out, &log); err != nil {
		t.Fatalf("run: %v\noutput:\n%s", err, out.String())
	}
	want := "10 adds at 20/s took at least 450ms: true\n" +
		"writer: submit sub: sub: caller \"svc-a\" may not call it (forbidden: true)\n" +
		"worker: sub: caller \"svc-a\" may not call it (status failed, forbidden: true)\n" +
		"admin: sub(5, 3) = 2\n" +
		"strand_tasks_submitted_total 10\n" +
		"strand_tasks_started_total 12\n" +
		"strand_tasks_completed_total 11\n" +
		"strand_tasks_failed_total 1\n"
	if out.String() != want {
		t.Fatalf("output:\n%s\nwant:\n%s", out.String(), want)
	}
	if n := strings.Count(log.String(), `"task_id"`); n != 12 {
		t.Fatalf("%d task log lines, want 12:\n%s", n, log.String())
	}
}
