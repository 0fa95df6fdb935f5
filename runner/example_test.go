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
	type mulArgs struct{ A, B int }
	mul := strand.NewFunc("mul", func(_ context.Context, in mulArgs) (int, error) { return in.A * in.B, nil })
	reg := registry.New()
	if err := mul.Register(reg); err != nil {
		panic(err)
	}
	p := runner.Pool(reg, 4)
	defer p.Close()

	ctx := context.Background()
	h, err := mul.Call(ctx, p, mulArgs{A: 6, B: 7})
	if err != nil {
		panic(err)
	}
	product, err := mul.Result(ctx, h) // an int
	fmt.Println(product, err)
	// Output: 42 <nil>
}

// Inline runs the call during Submit; its handle then gives each item and
// the end, as the original's on_iter and on_end.
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
	for s, err := range strand.Items[string](ctx, h) {
		if err != nil {
			fmt.Println("failed:", err)
			return
		}
		fmt.Println("item", s)
	}
	o, err := h.Wait(ctx)
	fmt.Println("end", o.Status, o.Items, "items")
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
	proc := runner.Process(2)
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
