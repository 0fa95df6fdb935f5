package writer_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	strand "github.com/strand-run/strand"
	"github.com/strand-run/strand/reader"
	"github.com/strand-run/strand/scratch"
	"github.com/strand-run/strand/strandtest"
	"github.com/strand-run/strand/writer"
)

// A failed task runs again, with its arguments and meta, under a new id;
// a dead one too (from its dead letter, which goes); others are refused.
func TestResubmit(t *testing.T) {
	t.Parallel()
	var flaky atomic.Bool
	flaky.Store(true)
	env := strandtest.New(t, scratch.Options{NoWorker: true, Funcs: map[string]any{
		"div": func(a, b int) (int, error) {
			if b == 0 {
				return 0, errors.New("division by zero")
			}
			return a / b, nil
		},
		"flaky": func(n int) (int, error) {
			if flaky.Load() {
				return 0, errors.New("not yet")
			}
			return n, nil
		},
	}})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := env.StartWorker(ctx, reader.Config{Concurrency: 1, RetryBase: time.Millisecond}); err != nil {
		t.Fatal(err)
	}
	h, err := env.Writer.Submit(ctx, "div", []any{6, 0}, strand.Meta(map[string]string{"tenant": "acme"}), strand.Queue("default"))
	if err != nil {
		t.Fatal(err)
	}
	if err := h.Result(ctx, nil); err == nil {
		t.Fatal("div by zero completed")
	}
	nh, err := admin(h).Resubmit(ctx)
	if err != nil {
		t.Fatal(err)
	}
	in, err := nh.Info(ctx)
	if err != nil || nh.ID() == h.ID() || in.Meta["tenant"] != "acme" || in.Meta[writer.ResubmitOf] != h.ID() || in.Func != "div" {
		t.Fatalf("resubmitted: %s %+v %v", nh.ID(), in, err)
	}
	if err := nh.Result(ctx, nil); err == nil {
		t.Fatalf("the same args fail the same way: %v", err)
	}
	ok, _ := env.Writer.Submit(ctx, "div", []any{6, 3})
	if err := ok.Result(ctx, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := admin(ok).Resubmit(ctx); !errors.Is(err, writer.ErrNotRetryable) {
		t.Fatalf("resubmit of a completed task: %v", err)
	}
	dead, _ := env.Writer.Submit(ctx, "flaky", []any{7}, strand.MaxAttempts(2))
	if err := dead.Result(ctx, nil); err == nil {
		t.Fatal("flaky completed")
	}
	if st, _ := dead.Status(ctx); st != strand.StatusDead {
		t.Fatalf("flaky: %s", st)
	}
	flaky.Store(false)
	again, err := admin(dead).Resubmit(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var n int
	if err := again.Result(ctx, &n); err != nil || n != 7 {
		t.Fatalf("dead task resubmitted: %d %v", n, err)
	}
	if dl, _ := env.Writer.DLQ(ctx); len(dl) != 0 {
		t.Fatalf("its dead letter stays: %+v", dl)
	}
}
