package strandtest

import (
	"context"
	"testing"
	"time"

	strand "github.com/strand-run/strand"
)

// WaitOutcome waits up to timeout for the task of h (any runner's handle,
// a typed call's too) to end and returns its outcome, whether it completed
// or not. It fails the test if the task has not ended by then, saying its
// status, or if its outcome cannot be read.
//
//	h, _ := env.Writer.Submit(ctx, "add", []any{2, 3})
//	out := strandtest.WaitOutcome(t, h, 10*time.Second)
//	var sum int
//	out.Decode(t, &sum)
func WaitOutcome(t testing.TB, h strand.Handle, timeout time.Duration) *Result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	o, err := h.Wait(ctx)
	if err == nil {
		return &Result{Outcome: o, Task: strand.Task{ID: o.ID, Attempt: o.Attempt, Worker: o.Worker}, waited: true}
	}
	if ctx.Err() != nil {
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		st, serr := h.Status(sctx)
		if serr != nil {
			t.Fatalf("strandtest: task %s has no outcome after %v (status: %v)", h.ID(), timeout, serr)
		}
		t.Fatalf("strandtest: task %s has no outcome after %v: still %s", h.ID(), timeout, st)
	}
	t.Fatalf("strandtest: task %s: wait: %v", h.ID(), err)
	return nil
}
