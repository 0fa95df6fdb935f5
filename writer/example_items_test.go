package writer_test

import (
	"context"
	"fmt"
	"iter"
	"time"

	strand "github.com/strand-run/strand"
	"github.com/strand-run/strand/codec"
	"github.com/strand-run/strand/writer"
)

// A handler that returns an iterator streams its items as it produces
// them; the caller ranges over them while the task runs, or later, from
// the first.
func ExampleItems() {
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
	h, err := env.Writer.Submit(ctx, "squares", 5)
	if err != nil {
		fmt.Println(err)
		return
	}
	for sq, err := range writer.Items[int](ctx, h) {
		if err != nil {
			fmt.Println(err)
			return
		}
		fmt.Print(sq, " ")
	}
	fmt.Println()
	// Output: 0 1 4 9 16
}

// Stream hands the items and the end to callbacks; an iterator that fails
// midway delivers the items so far, then its error.
func ExampleHandle_Stream() {
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
	cb := writer.Callbacks{
		OnIter: func(it writer.Item) {
			var s string
			_ = it.Decode(&s)
			fmt.Println(it.N, s)
		},
		OnEnd:   func(o *codec.Outcome) { fmt.Println("end:", o.Status, o.Items, "items") },
		OnError: func(err error) { fmt.Println("error:", err) },
	}
	for _, n := range []int{2, 5} {
		h, err := env.Writer.Submit(ctx, "lines", n)
		if err != nil {
			fmt.Println(err)
			return
		}
		_ = h.Stream(ctx, cb)
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
func ExampleHandle_Progress() {
	proceed := make(chan struct{})
	env := exampleStrand.With(map[string]any{
		"import_rows": func(ctx context.Context, rows int) int {
			strand.Progress(ctx, int64(rows/2), int64(rows), "half way")
			<-proceed
			return rows
		},
	})
	ctx := context.Background()
	h, err := env.Writer.Submit(ctx, "import_rows", 1000)
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
