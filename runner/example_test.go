package runner_test

import (
	"context"
	"errors"
	"fmt"
	"iter"

	strand "github.com/strand-run/strand"
	"github.com/strand-run/strand/registry"
	"github.com/strand-run/strand/runner"
)

// A typed task registers its function and calls it on any runner: here a
// goroutine pool.
func ExamplePool() {
	mul := strand.Task2("mul", func(_ context.Context, a, b int) (int, error) { return a * b, nil })
	reg := registry.New()
	if err := mul.Register(reg); err != nil {
		panic(err)
	}
	p := runner.Pool(reg, 4)
	defer p.Close()

	ctx := context.Background()
	h, err := mul.Call(ctx, p, 6, 7)
	if err != nil {
		panic(err)
	}
	product, err := h.Result(ctx) // an int
	fmt.Println(product, err)
	// Output: 42 <nil>
}

// Inline runs the call during Submit; strand.Watch then calls back its
// items and its end, as the original's on_iter and on_end.
func ExampleInline() {
	reg := registry.New()
	reg.MustRegister("letters", func(s string) iter.Seq[string] {
		return func(yield func(string) bool) {
			for _, r := range s {
				if !yield(string(r)) {
					return
				}
			}
		}
	})
	r := runner.Inline(reg)

	ctx := context.Background()
	h, err := r.Submit(ctx, "letters", []any{"abc"})
	if err != nil {
		panic(err)
	}
	err = strand.Watch(ctx, h, strand.Callbacks{
		OnItem: func(v strand.Value) {
			var s string
			_ = v.Decode(&s)
			fmt.Println("item", s)
		},
		OnEnd:   func(o *strand.Outcome) { fmt.Println("end", o.Status, o.Items, "items") },
		OnError: func(err error) { fmt.Println("failed:", err) },
	})
	fmt.Println(err)
	// Output:
	// item a
	// item b
	// item c
	// end completed 3 items
	// <nil>
}

// A child process that dies fails its call, not the caller (this test
// binary is its own child: its TestMain calls runner.ServeChild).
func ExampleProcess() {
	proc := runner.Process(runner.ProcessConfig{Concurrency: 2})
	defer proc.Close()
	ctx := context.Background()

	h, err := proc.Submit(ctx, "add", []any{2, 3})
	if err != nil {
		panic(err)
	}
	var sum int
	fmt.Println(h.Result(ctx, &sum), sum)

	h, _ = proc.Submit(ctx, "exit", []any{3})
	err = h.Result(ctx, nil)
	fmt.Println(errors.Is(err, strand.ErrCrashed))
	// Output:
	// <nil> 5
	// true
}
