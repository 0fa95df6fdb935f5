package runner_test

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	strand "github.com/strand-run/strand"
	"github.com/strand-run/strand/runner"
	"github.com/strand-run/strand/writer"
)

// items reads every item of h as ints, and the error that ends them.
func items(ctx context.Context, t *testing.T, h strand.Handle) ([]int, error) {
	t.Helper()
	var got []int
	switch h := h.(type) {
	case *runner.Handle:
		for it, err := range h.Items(ctx) {
			if err != nil {
				return got, err
			}
			var v int
			if err := it.Decode(&v); err != nil {
				t.Fatal(err)
			}
			got = append(got, v)
		}
	case *writer.Handle:
		for v, err := range writer.Items[int](ctx, h) {
			if err != nil {
				return got, err
			}
			got = append(got, v)
		}
	default:
		t.Fatalf("handle %T", h)
	}
	return got, nil
}

// TestItemsOnEveryRunner: an iterator function's items reach the caller
// in order on every runner, and one that fails midway delivers the items
// so far, then its error.
func TestItemsOnEveryRunner(t *testing.T) {
	t.Parallel()
	for _, rc := range runners {
		t.Run(rc.name, func(t *testing.T) {
			t.Parallel()
			r := rc.make(t)
			ctx := ctxT(t, 30*time.Second)
			h, err := r.Submit(ctx, "count", 4)
			if err != nil {
				t.Fatal(err)
			}
			got, err := items(ctx, t, h)
			if err != nil || !slices.Equal(got, []int{0, 1, 2, 3}) {
				t.Errorf("count 4: got %v, %v", got, err)
			}
			if err := h.Result(ctx, nil); err != nil {
				t.Errorf("count 4: result %v", err)
			}

			h, err = r.Submit(ctx, "countfail", 2)
			if err != nil {
				t.Fatal(err)
			}
			got, err = items(ctx, t, h)
			var te *strand.TaskError
			if !slices.Equal(got, []int{0, 1}) || !errors.As(err, &te) || te.Kind != strand.ErrFailed || te.Message != "countfail: bad" {
				t.Errorf("countfail 2: got %v, %v; want [0 1] and countfail: bad", got, err)
			}
		})
	}
}

// TestCallbacks: Inline calls OnIter, then OnEnd or OnError, in the
// caller's goroutine before Submit returns (the original's sync runner).
func TestCallbacks(t *testing.T) {
	t.Parallel()
	r := runner.Inline(functions())
	ctx := ctxT(t, 30*time.Second)
	var got []int
	var ended *runner.Handle
	var failed error
	cbs := []any{
		runner.OnIter(func(it runner.Item) {
			var v int
			_ = it.Decode(&v)
			got = append(got, v)
		}),
		runner.OnEnd(func(h *runner.Handle) { ended = h }),
		runner.OnError(func(err error) { failed = err }),
	}
	h, err := r.Submit(ctx, "count", append([]any{3}, cbs...)...)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got, []int{0, 1, 2}) || ended != h || failed != nil {
		t.Errorf("count 3: items %v, OnEnd %v, OnError %v", got, ended, failed)
	}
	got, ended = nil, nil
	if _, err := r.Submit(ctx, "countfail", append([]any{1}, cbs...)...); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got, []int{0}) || ended != nil || strand.KindOf(failed) != strand.ErrFailed {
		t.Errorf("countfail 1: items %v, OnEnd %v, OnError %v", got, ended, failed)
	}

	// On a pool, OnEnd runs on the pool's goroutine once the call has its outcome.
	p := runner.Pool(functions(), 2)
	defer p.Close()
	var sum int
	done := make(chan struct{})
	h2, err := p.Submit(ctx, "add", 2, 3, runner.OnEnd(func(h *runner.Handle) {
		_ = h.Result(ctx, &sum)
		close(done)
	}))
	if err != nil {
		t.Fatal(err)
	}
	select {
	case <-done:
	case <-ctx.Done():
		t.Fatal("OnEnd never ran")
	}
	if sum != 5 || h2 == nil {
		t.Errorf("add on a pool: OnEnd saw %d", sum)
	}
}
