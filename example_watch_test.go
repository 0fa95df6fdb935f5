package strand_test

import (
	"context"
	"fmt"
	"iter"
	"time"

	strand "github.com/strand-run/strand"
)

// Items yields the items of an iterator handler decoded as one type, as
// the worker produces them, on any runner's handle.
func ExampleItems() {
	ctx := context.Background()
	env := exampleStrand.With(map[string]any{
		"squares": func(n int) iter.Seq[int] {
			return func(yield func(int) bool) {
				for i := 1; i <= n; i++ {
					if !yield(i * i) {
						return
					}
				}
			}
		},
	})

	h, err := env.Writer.Submit(ctx, "squares", []any{4})
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
	// Output: 1 4 9 16
}

// Watch calls back a task's items, progress and end (the original's
// on_iter, on_progress, on_end, on_error) on one goroutine; run it on a
// goroutine of its own to do other work meanwhile.
func ExampleWatch() {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	env := exampleStrand.With(map[string]any{
		"lines": func(ctx context.Context, n int) iter.Seq[string] {
			return func(yield func(string) bool) {
				for i := 1; i <= n; i++ {
					strand.Progress(ctx, int64(i), int64(n), "")
					if !yield(fmt.Sprintf("line %d", i)) {
						return
					}
				}
			}
		},
		"refuse": func() error { return fmt.Errorf("no") },
	})

	h, err := env.Writer.Submit(ctx, "lines", []any{2})
	if err != nil {
		fmt.Println(err)
		return
	}
	err = strand.Watch(ctx, h, strand.Callbacks{
		OnItem: func(v strand.Value) {
			var s string
			_ = v.Decode(&s)
			fmt.Println(s)
		},
		OnProgress: func(r strand.Report) { _ = r.Done }, // r.Done of r.Total: a progress bar's update
		OnEnd:      func(o *strand.Outcome) { fmt.Println("ended", o.Status, "with", o.Items, "items") },
	})
	fmt.Println(err)

	h, _ = env.Writer.Submit(ctx, "refuse", nil)
	err = strand.Watch(ctx, h, strand.Callbacks{OnError: func(err error) { fmt.Println("on error:", err) }})
	fmt.Println(strand.KindOf(err) == strand.ErrFailed)
	// Output:
	// line 1
	// line 2
	// ended completed with 2 items
	// <nil>
	// on error: refuse: no
	// true
}
