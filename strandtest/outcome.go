package strandtest

import (
	"context"
	"errors"
	"testing"
	"time"

	strand "github.com/strand-run/strand"
	"github.com/strand-run/strand/codec"
)

// Outcome is how a task ended, as WaitOutcome read it.
type Outcome struct {
	ID     string
	Status strand.Status // completed, failed, cancelled or dead
	// Err is nil for a completed task, else its *strand.TaskError
	// (errors.Is matches strand.ErrTimeout, strand.ErrBadArgs, …).
	Err error
	// Attempt, Worker and Items are the outcome record's, for a task of a
	// writer (a *writer.Handle); zero for the handles of package runner.
	Attempt int
	Worker  string
	Items   int64

	format codec.Format
	result codec.Raw
	h      strand.Handle // set when the result is read through h
}

// outcomeWaiter is a handle that returns its outcome record: *writer.Handle.
type outcomeWaiter interface {
	Wait(ctx context.Context) (*codec.Outcome, codec.Format, error)
}

// WaitOutcome waits up to timeout for the task of h (any runner's handle;
// a typed task's is its Handle()) to end and returns its outcome, whether
// it completed or not. It fails the test if the task has not ended by then,
// saying its status, or if its outcome cannot be read.
//
//	h, _ := env.Writer.Submit(ctx, "add", 2, 3)
//	out := strandtest.WaitOutcome(t, h, 10*time.Second)
//	var sum int
//	out.Decode(t, &sum)
func WaitOutcome(t testing.TB, h strand.Handle, timeout time.Duration) *Outcome {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	out := &Outcome{ID: h.ID()}
	if w, ok := h.(outcomeWaiter); ok {
		o, f, err := w.Wait(ctx)
		if err != nil {
			fatalWait(ctx, t, h, timeout, err)
		}
		out.Status, out.Err = o.Status, o.Error.Err()
		out.Attempt, out.Worker, out.Items = o.Attempt, o.Worker, o.Items
		out.format, out.result = f, o.Result
		if out.Err == nil && o.Status != strand.StatusCompleted {
			out.Err = &strand.TaskError{Kind: strand.Kind(o.Status), Message: "task " + h.ID() + " " + string(o.Status)}
		}
		return out
	}
	err := h.Result(ctx, nil)
	var te *strand.TaskError
	if err != nil && !errors.As(err, &te) {
		fatalWait(ctx, t, h, timeout, err)
	}
	st, serr := h.Status(ctx)
	if serr != nil {
		t.Fatalf("strandtest: task %s: status: %v", h.ID(), serr)
	}
	out.Status, out.Err, out.h = st, err, h
	return out
}

func fatalWait(ctx context.Context, t testing.TB, h strand.Handle, timeout time.Duration, err error) {
	t.Helper()
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
}

// Decode decodes the task's result into out (a pointer, or nil to discard
// it; a nil result leaves out as it is), failing the test if the task did
// not complete or its result does not fit out.
func (o *Outcome) Decode(t testing.TB, out any) {
	t.Helper()
	if o.Err != nil {
		t.Fatalf("strandtest: task %s did not complete (%s): %v", o.ID, o.Status, o.Err)
	}
	if o.h != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := o.h.Result(ctx, out); err != nil {
			t.Fatalf("strandtest: task %s: %v", o.ID, err)
		}
		return
	}
	if out == nil || o.result.IsNil() {
		return
	}
	if err := codec.DecodeValue(o.format, o.result, out, false); err != nil {
		t.Fatalf("strandtest: task %s: decode result into %T: %v", o.ID, out, err)
	}
}
