package runner_test

import (
	"context"
	"fmt"

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

// Inline runs the call during Submit, with the original's callbacks in the
// caller's goroutine.
func ExampleInline() {
	reg := registry.New()
	reg.MustRegister("greet", func(name string) (string, error) { return "hello, " + name, nil })
	r := runner.Inline(reg)

	_, err := r.Submit(context.Background(), "greet", "ada",
		runner.OnEnd(func(h *runner.Handle) {
			var s string
			_ = h.Result(context.Background(), &s)
			fmt.Println(s)
		}),
		runner.OnError(func(err error) { fmt.Println("failed:", err) }))
	fmt.Println(err)
	// Output:
	// hello, ada
	// <nil>
}
