package writer_test

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"time"

	strand "github.com/strand-run/strand"
	"github.com/strand-run/strand/writer"
)

// A handler that returns an iterator streams its items as it produces
// them; the caller ranges over them while the task runs, or later, from
// the first.
func ExampleWriter_Submit_items() {
	env := exampleStrand.With(map[string]any{
		"squares": func(n int) iter.Seq[int] {
			return func(yield func(int) bool) {
				for i := range n {
					if !yield(i * i) {
						return
					}
				}
			}
		},
	})
	ctx := context.Background()
	h, err := env.Writer.Submit(ctx, "squares", []any{5})
	if err != nil {
		fmt.Println(err)
		return
	}
	for sq, err := range strand.Items[int](ctx, h) {
		if err != nil {
			fmt.Println(err)
			return
		}
		fmt.Print(sq, " ")
	}
	fmt.Println()
	// Output: 0 1 4 9 16
}

// Each item as it comes, then the end (the original's on_iter, on_end and
// on_error): an iterator that fails midway delivers the items so far, then
// its error.
func ExampleWriter_Submit_watch() {
	env := exampleStrand.With(map[string]any{
		"lines": func(n int) iter.Seq2[string, error] {
			return func(yield func(string, error) bool) {
				for i := range n {
					if i == 2 {
						yield("", fmt.Errorf("line %d unreadable", i))
						return
					}
					if !yield(fmt.Sprint("line ", i), nil) {
						return
					}
				}
			}
		},
	})
	ctx := context.Background()
	for _, lines := range []int{2, 5} {
		h, err := env.Writer.Submit(ctx, "lines", []any{lines})
		if err != nil {
			fmt.Println(err)
			return
		}
		n := 0
		for s, err := range strand.Items[string](ctx, h) {
			if err != nil {
				fmt.Println("error:", err)
				break
			}
			fmt.Println(n, s)
			n++
		}
		if o, err := h.Wait(ctx); err == nil && o.Status == strand.StatusCompleted {
			fmt.Println("end:", o.Status, o.Items, "items")
		}
	}
	// Output:
	// 0 line 0
	// 1 line 1
	// end: completed 2 items
	// 0 line 0
	// 1 line 1
	// error: lines: line 2 unreadable
}

// A handler's progress reports are stored in its state while it runs:
// Progress reads the last one (WatchProgress follows them live).
func ExampleWriter_Submit_progress() {
	proceed := make(chan struct{})
	env := exampleStrand.With(map[string]any{
		"import_rows": func(ctx context.Context, rows int) int {
			strand.Progress(ctx, int64(rows/2), int64(rows), "half way")
			<-proceed
			return rows
		},
	})
	ctx := context.Background()
	h, err := env.Writer.Submit(ctx, "import_rows", []any{1000})
	if err != nil {
		fmt.Println(err)
		return
	}
	for {
		p, err := h.Progress(ctx)
		if err != nil {
			fmt.Println(err)
			return
		}
		if p != nil {
			fmt.Printf("%d/%d %s\n", p.Done, p.Total, p.Note)
			break
		}
		time.Sleep(10 * time.Millisecond) // the worker writes its state after 5ms
	}
	close(proceed)
	var n int
	fmt.Println(h.Result(ctx, &n), n)
	// Output:
	// 500/1000 half way
	// <nil> 1000
}

// WatchProgress follows a task's progress live, until its outcome. (Here
// the handler waits for each report to be seen before it goes on, so that
// the output is the same on every run: a worker writes at most one report
// every 100ms, always the last.)
func ExampleWriter_Submit_watchProgress() {
	seen := make(chan struct{}, 1)
	env := exampleStrand.With(map[string]any{
		"migrate": func(ctx context.Context, steps int) string {
			for i := 1; i <= steps; i++ {
				strand.Progress(ctx, int64(i), int64(steps), fmt.Sprintf("table %d", i))
				if i < steps {
					select {
					case <-seen:
					case <-ctx.Done():
					}
				}
			}
			return "migrated"
		},
	})
	ctx := context.Background()
	h, err := env.Writer.Submit(ctx, "migrate", []any{3})
	if err != nil {
		fmt.Println(err)
		return
	}
	o, err := h.WatchProgress(ctx, func(p strand.Report) {
		fmt.Printf("%d/%d %s\n", p.Done, p.Total, p.Note)
		select {
		case seen <- struct{}{}:
		default:
		}
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(o.Status)
	// Output:
	// 1/3 table 1
	// 2/3 table 2
	// 3/3 table 3
	// completed
}

// SubmitBatch pipelines many submissions into about one round trip; each
// call's error is its own.
func ExampleWriter_SubmitBatch() {
	env := exampleStrand.With(map[string]any{"double": func(n int) int { return 2 * n }})
	ctx := context.Background()
	hs, errs := env.Writer.SubmitBatch(ctx, []writer.Call{
		{Func: "double", Args: []any{1}},
		{Func: "double", Args: []any{2}, Opts: []strand.Option{strand.ID("double-2")}},
		{Func: "double", Args: []any{3}, Opts: []strand.Option{strand.ID("double-2")}}, // a taken id
	})
	for i, h := range hs {
		if errs[i] != nil {
			fmt.Println(i, errors.Is(errs[i], strand.ErrDuplicate))
			continue
		}
		var n int
		fmt.Println(i, h.Result(ctx, &n), n)
	}
	// Output:
	// 0 <nil> 2
	// 1 <nil> 4
	// 2 true
}
