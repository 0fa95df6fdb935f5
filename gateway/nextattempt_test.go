package gateway

import (
	"testing"
	"time"

	strand "github.com/strand-run/strand"
)

// GET /v1/tasks/{id} of a task that waits to retry has its next_attempt.
func TestInfoJSONNextAttempt(t *testing.T) {
	t.Parallel()
	next := time.UnixMilli(1767225660000)
	body := infoJSON(&strand.Info{ID: "x", Status: strand.StatusRetrying, NextAttempt: next})
	if body.NextAttempt != "2026-01-01T00:01:00Z" {
		t.Fatalf("next_attempt %q, want 2026-01-01T00:01:00Z", body.NextAttempt)
	}
	if body := infoJSON(&strand.Info{ID: "x", Status: strand.StatusPending}); body.NextAttempt != "" {
		t.Fatalf("next_attempt %q of a pending task", body.NextAttempt)
	}
}
