package strandtest

import (
	"context"
	"testing"
	"time"

	strand "github.com/strand-run/strand"
)

// Outcome is how a task ended (a strand.Outcome: ID, Status, Err, Attempt,
// Worker, Items, Result), with a Decode that fails the test.
type Outcome struct {
	*strand.Outcome
}

// WaitOutcome waits up to timeout for the task of h (any runner's handle,
// a typed task's too) to end and returns its outcome, whether it completed
// or not. It fails the test if the task has not ended by then, saying its
// status, or if its outcome cannot be read.
//
//	h, _ := env.Writer.Submit(ctx, "add", []any{2, 3})
//	out := strandtest.WaitOutcome(t, h, 10*time.Second)
//	var sum int
//	out.Decode(t, &sum)
func WaitOutcome(t testing.TB, h strand.Handle, timeout time.Duration) *Outcome {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	o, err := h.Wait(ctx)
	if err == nil {
		return &Outcome{Outcome: o}
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

// Decode decodes the task's result into out (a pointer, or nil to discard
// it; a nil result leaves out as it is), failing the test if the task did
// not complete or its result does not fit out.
func (o *Outcome) Decode(t testing.TB, out any) {
	t.Helper()
	if o.Status != strand.StatusCompleted {
		t.Fatalf("strandtest: task %s did not complete (%s): %v", o.ID, o.Status, o.Outcome.Decode(nil))
	}
	if err := o.Outcome.Decode(out); err != nil {
		t.Fatalf("strandtest: task %s: decode result into %T: %v", o.ID, out, err)
	}
}
