package reader_test

import (
	"context"
	"errors"
	"iter"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	strand "github.com/strand-run/strand"
	"github.com/strand-run/strand/reader"
)

// collect reads every item of h as an int, and the error that ends them.
func collect(ctx context.Context, h strand.Handle) ([]int, error) {
	var got []int
	for v, err := range strand.Items[int](ctx, h) {
		if err != nil {
			return got, err
		}
		got = append(got, v)
	}
	return got, nil
}

func TestItemsStreamAsProduced(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	released := make(chan struct{})
	e.reg.MustRegister("gen", func(ctx context.Context, n int) iter.Seq[int] {
		return func(yield func(int) bool) {
			for i := range n {
				if !yield(i) {
					return
				}
				if i == 0 {
					// Held until the caller has item 0: it came while
					// the handler was still running.
					select {
					case <-released:
					case <-ctx.Done():
						return
					}
				}
			}
		}
	})
	e.worker(reader.Config{Concurrency: 2})
	ctx := ctxT(t, 20*time.Second)
	h, err := e.w.Submit(ctx, "gen", []any{4})
	if err != nil {
		t.Fatal(err)
	}
	var got []int
	for v, err := range strand.Items[int](ctx, h) {
		if err != nil {
			t.Fatalf("after %v: %v", got, err)
		}
		if len(got) == 0 {
			if st, err := h.Status(ctx); err != nil || st.Terminal() {
				t.Fatalf("item 0 came with the task %s (%v)", st, err)
			}
			close(released)
		}
		got = append(got, v)
	}
	if !reflect.DeepEqual(got, []int{0, 1, 2, 3}) {
		t.Fatalf("items %v", got)
	}
	o, err := h.Wait(ctx)
	if err != nil || o.Status != strand.StatusCompleted || o.Items != 4 || o.Result != nil {
		t.Fatalf("outcome %+v, %v", o, err)
	}

	// A caller that attaches after the end still reads every item.
	late, err := e.w.Open(h.ID())
	if err != nil {
		t.Fatal(err)
	}
	if got, err := collect(ctx, late); err != nil || !reflect.DeepEqual(got, []int{0, 1, 2, 3}) {
		t.Fatalf("late: items %v, %v", got, err)
	}
	info, err := late.Info(ctx)
	if err != nil || info.Items != 4 {
		t.Fatalf("info %+v, %v", info, err)
	}
	// Breaking out early stops reading.
	for v, err := range strand.Items[int](ctx, late) {
		if err != nil || v != 0 {
			t.Fatalf("first item %d, %v", v, err)
		}
		break
	}
}

func TestItemsError(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.reg.MustRegister("dry", func(n int) iter.Seq2[int, error] {
		return func(yield func(int, error) bool) {
			for i := range n {
				if !yield(i, nil) {
					return
				}
			}
			yield(0, errors.New("ran dry"))
		}
	})
	e.reg.MustRegister("boom", func() iter.Seq[string] {
		return func(yield func(string) bool) {
			yield("a")
			panic("kaboom")
		}
	})
	e.worker(reader.Config{Concurrency: 2})
	ctx := ctxT(t, 20*time.Second)

	h, err := e.w.Submit(ctx, "dry", []any{3})
	if err != nil {
		t.Fatal(err)
	}
	got, err := collect(ctx, h)
	var te *strand.TaskError
	if !reflect.DeepEqual(got, []int{0, 1, 2}) || !errors.As(err, &te) || te.Kind != strand.ErrFailed ||
		!strings.Contains(te.Message, "ran dry") {
		t.Fatalf("items %v, error %v", got, err)
	}
	o, err := h.Wait(ctx)
	if err != nil || o.Status != strand.StatusFailed || o.Items != 3 || o.Err == nil || !strings.Contains(o.Err.Error(), "ran dry") {
		t.Fatalf("outcome %+v, %v", o, err)
	}

	h, err = e.w.Submit(ctx, "boom", nil)
	if err != nil {
		t.Fatal(err)
	}
	var items []string
	for s, ierr := range strand.Items[string](ctx, h) {
		if ierr != nil {
			err = ierr
			break
		}
		items = append(items, s)
	}
	if !reflect.DeepEqual(items, []string{"a"}) || !errors.Is(err, strand.ErrPanic) {
		t.Fatalf("items %v, error %v", items, err)
	}
	if o, err := h.Wait(ctx); err != nil || o.Status != strand.StatusFailed {
		t.Fatalf("outcome %+v, %v", o, err)
	}
	if st, _ := h.Status(ctx); st != strand.StatusFailed {
		t.Fatalf("status %s", st)
	}
}

func TestItemsOfPlainTask(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	register(t, e)
	e.worker(reader.Config{Concurrency: 2})
	ctx := ctxT(t, 20*time.Second)
	h, err := e.w.Submit(ctx, "add", []any{2, 3})
	if err != nil {
		t.Fatal(err)
	}
	if got, err := collect(ctx, h); err != nil || len(got) != 0 {
		t.Fatalf("items %v, %v", got, err)
	}
	h, err = e.w.Submit(ctx, "fail", []any{"nope"})
	if err != nil {
		t.Fatal(err)
	}
	if got, err := collect(ctx, h); len(got) != 0 || err == nil || !strings.Contains(err.Error(), "nope") {
		t.Fatalf("items %v, %v", got, err)
	}
	h, err = e.w.Submit(ctx, "add", []any{1, 1})
	if err != nil {
		t.Fatal(err)
	}
	if got, err := collect(ctx, h); err != nil || len(got) != 0 {
		t.Fatalf("items of add: %v, %v", got, err)
	}
	if o, err := h.Wait(ctx); err != nil || o.Status != strand.StatusCompleted {
		t.Fatalf("add after its items: %+v, %v", o, err)
	}
}

func TestProgressReachesCaller(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	released := make(chan struct{})
	e.reg.MustRegister("half", func(ctx context.Context) (string, error) {
		strand.Progress(ctx, 1, 2, "half way")
		select {
		case <-released:
		case <-ctx.Done():
			return "", ctx.Err()
		}
		strand.Progress(ctx, 2, 2, "done")
		return "ok", nil
	})
	e.worker(reader.Config{Concurrency: 2})
	ctx := ctxT(t, 20*time.Second)
	h, err := e.w.Submit(ctx, "half", nil)
	if err != nil {
		t.Fatal(err)
	}
	var once sync.Once
	var seen []strand.Report
	o, err := h.WatchProgress(ctx, func(p strand.Report) {
		seen = append(seen, p)
		once.Do(func() {
			// The task still runs: the report came before its end.
			if p, err := h.Progress(ctx); err != nil || p == nil || p.Done != 1 || p.Note != "half way" {
				t.Errorf("Progress: %+v, %v", p, err)
			}
			close(released)
		})
	})
	if err != nil || o.Status != strand.StatusCompleted {
		t.Fatalf("outcome %+v, %v", o, err)
	}
	if len(seen) == 0 || seen[0] != (strand.Report{Done: 1, Total: 2, Note: "half way"}) {
		t.Fatalf("progress seen %+v", seen)
	}
}

// TestLastProgressWritten: reports faster than the write throttle are
// folded, but the last one is always written before the outcome.
func TestLastProgressWritten(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.reg.MustRegister("quick", func(ctx context.Context) (string, error) {
		time.Sleep(20 * time.Millisecond) // running is written (after RunningAfter)
		for i := int64(1); i <= 3; i++ {
			strand.Progress(ctx, i, 3, "step")
		}
		return "ok", nil
	})
	e.worker(reader.Config{Concurrency: 2})
	ctx := ctxT(t, 20*time.Second)
	h, err := e.w.Submit(ctx, "quick", nil)
	if err != nil {
		t.Fatal(err)
	}
	var seen []strand.Report
	o, err := h.WatchProgress(ctx, func(p strand.Report) { seen = append(seen, p) })
	if err != nil || o.Status != strand.StatusCompleted {
		t.Fatalf("outcome %+v, %v", o, err)
	}
	if len(seen) == 0 || seen[len(seen)-1] != (strand.Report{Done: 3, Total: 3, Note: "step"}) {
		t.Fatalf("progress seen %+v, want the last report 3/3 last", seen)
	}
}
