package runner_test

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	strand "github.com/strand-run/strand"
)

// items reads every item of h as ints, and the error that ends them.
func items(ctx context.Context, h strand.Handle) ([]int, error) {
	var got []int
	for v, err := range strand.Items[int](ctx, h) {
		if err != nil {
			return got, err
		}
		got = append(got, v)
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
			h, err := r.Submit(ctx, "count", []any{4})
			if err != nil {
				t.Fatal(err)
			}
			got, err := items(ctx, h)
			if err != nil || !slices.Equal(got, []int{0, 1, 2, 3}) {
				t.Errorf("count 4: got %v, %v", got, err)
			}
			if err := h.Result(ctx, nil); err != nil {
				t.Errorf("count 4: result %v", err)
			}
			if o, err := h.Wait(ctx); err != nil || o.Items != 4 {
				t.Errorf("count 4: outcome %+v, %v", o, err)
			}

			h, err = r.Submit(ctx, "countfail", []any{2})
			if err != nil {
				t.Fatal(err)
			}
			got, err = items(ctx, h)
			var te *strand.TaskError
			if !slices.Equal(got, []int{0, 1}) || !errors.As(err, &te) || te.Kind != strand.ErrFailed || te.Message != "countfail: bad" {
				t.Errorf("countfail 2: got %v, %v; want [0 1] and countfail: bad", got, err)
			}
		})
	}
}

// watched is what a caller following a task saw: its items as they came,
// its progress reports, and its outcome (ended) or the error it ended with
// (failed).
type watched struct {
	mu       sync.Mutex
	items    []int
	progress []strand.Report
	ended    *strand.Outcome
	failed   error
}

// watch follows h to its end as the original's callbacks did: the
// progress reports live on a goroutine of their own, each item as it
// comes, then the outcome. It returns the task's error, if any.
func watch(ctx context.Context, h strand.Handle) (*watched, error) {
	w := &watched{}
	done := make(chan struct{})
	go func() {
		defer close(done)
		_, _ = h.WatchProgress(ctx, func(p strand.Report) {
			w.mu.Lock()
			w.progress = append(w.progress, p)
			w.mu.Unlock()
		})
	}()
	defer func() { <-done }()
	for n, err := range strand.Items[int](ctx, h) {
		if err != nil {
			break // the task's error: its outcome has it too
		}
		w.items = append(w.items, n)
	}
	o, err := h.Wait(ctx)
	switch {
	case err != nil:
		w.failed = err
	case o.Status != strand.StatusCompleted:
		w.failed = o.Decode(nil)
	default:
		w.ended = o
	}
	return w, w.failed
}

// TestWatch: a caller sees an iterator's items, the progress reports and
// then the end (the outcome, or the task's error) on every runner: the
// original's on_iter, on_progress, on_end and on_error.
func TestWatch(t *testing.T) {
	t.Parallel()
	for _, rc := range runners {
		t.Run(rc.name, func(t *testing.T) {
			t.Parallel()
			r := rc.make(t)
			ctx := ctxT(t, 30*time.Second)

			h, err := r.Submit(ctx, "count", []any{3})
			if err != nil {
				t.Fatal(err)
			}
			w, err := watch(ctx, h)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(w.items, []int{0, 1, 2}) || w.ended == nil || w.ended.ID != h.ID() || w.failed != nil {
				t.Errorf("count 3: items %v, OnEnd %+v, OnError %v", w.items, w.ended, w.failed)
			}

			h, err = r.Submit(ctx, "countfail", []any{1})
			if err != nil {
				t.Fatal(err)
			}
			w, err = watch(ctx, h)
			if !slices.Equal(w.items, []int{0}) || w.ended != nil || strand.KindOf(w.failed) != strand.ErrFailed || err != w.failed {
				t.Errorf("countfail 1: items %v, OnEnd %+v, OnError %v, Watch %v", w.items, w.ended, w.failed, err)
			}

			h, err = r.Submit(ctx, "steps", []any{3})
			if err != nil {
				t.Fatal(err)
			}
			if w, err = watch(ctx, h); err != nil {
				t.Fatal(err)
			}
			var n int
			if err := w.ended.Decode(&n); err != nil || n != 3 {
				t.Errorf("steps 3: result %d, %v", n, err)
			}
			w.mu.Lock()
			defer w.mu.Unlock()
			// The last report is always seen; earlier ones may be coalesced.
			if len(w.progress) == 0 || len(w.progress) > 3 {
				t.Fatalf("steps 3: progress %+v", w.progress)
			}
			if last := w.progress[len(w.progress)-1]; last.Done != 3 || last.Total != 3 || last.Note != "step" {
				t.Errorf("steps 3: last report %+v", last)
			}
		})
	}
}
