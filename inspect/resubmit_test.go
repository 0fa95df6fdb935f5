package inspect_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	strand "github.com/strand-run/strand"
	"github.com/strand-run/strand/inspect"
	"github.com/strand-run/strand/reader"
	"github.com/strand-run/strand/scratch"
	"github.com/strand-run/strand/strandtest"
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
	ins := newInspector(t, env.Env)
	h, err := env.Writer.Submit(ctx, "div", []any{6, 0}, strand.Meta(map[string]string{"tenant": "acme"}), strand.Queue("default"))
	if err != nil {
		t.Fatal(err)
	}
	if err := h.Result(ctx, nil); err == nil {
		t.Fatal("div by zero completed")
	}
	nt, err := actOne(ctx, ins, "retry", h.ID())
	if err != nil {
		t.Fatal(err)
	}
	nh := open(t, env, nt.NewID)
	in, err := nh.Info(ctx)
	if err != nil || nt.NewID == h.ID() || nt.ID != h.ID() || nt.Queue != "default" ||
		in.Meta["tenant"] != "acme" || in.Meta["resubmit_of"] != h.ID() || in.Func != "div" {
		t.Fatalf("resubmitted: %+v %+v %v", nt, in, err)
	}
	if err := nh.Result(ctx, nil); err == nil {
		t.Fatalf("the same args fail the same way: %v", err)
	}
	ok, _ := env.Writer.Submit(ctx, "div", []any{6, 3})
	if err := ok.Result(ctx, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := actOne(ctx, ins, "retry", ok.ID()); !errors.Is(err, inspect.ErrWrongState) {
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
	nt, err = actOne(ctx, ins, "retry", dead.ID())
	if err != nil {
		t.Fatal(err)
	}
	if info, err := open(t, env, nt.NewID).Info(ctx); err != nil || info.Meta["replay_of"] != dead.ID() {
		t.Fatalf("a dead task is replayed from its dead letter: %+v %v", info, err)
	}
	var n int
	if err := open(t, env, nt.NewID).Result(ctx, &n); err != nil || n != 7 {
		t.Fatalf("dead task resubmitted: %d %v", n, err)
	}
	if dl, _ := ins.DeadLetters(ctx); len(dl) != 0 {
		t.Fatalf("its dead letter stays: %+v", dl)
	}
	if _, err := actOne(ctx, ins, "retry", "never-was"); !errors.Is(err, strand.ErrNotFound) {
		t.Fatalf("resubmit of an unknown task: %v", err)
	}
}
