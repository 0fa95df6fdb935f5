package strand_test

import (
	"context"
	"fmt"
	"time"

	strand "github.com/strand-run/strand"
	"github.com/strand-run/strand/runner"
)

// A typed task gives compile-time types to both sides of a call by name:
// the worker registers its function, callers call it on any runner, here
// the NATS workers of a scratch strand (the writer) and an inline runner.
func ExampleTask2() {
	add := strand.Task2("add", func(_ context.Context, a, b int) (int, error) { return a + b, nil })

	ctx := context.Background()
	env := exampleStrand.With(nil)                     // a server, a writer and a worker (scratch.Start)
	if err := add.Register(env.Registry); err != nil { // the worker side
		fmt.Println(err)
		return
	}

	h, err := add.Call(ctx, env.Writer, 2, 3) // on the workers
	if err != nil {
		fmt.Println(err)
		return
	}
	sum, err := h.Result(ctx) // an int
	fmt.Println(sum, err)

	h, _ = add.Call(ctx, runner.Inline(env.Registry), 20, 22) // in the caller
	sum, err = h.Result(ctx)
	fmt.Println(sum, err)
	// Output:
	// 5 <nil>
	// 42 <nil>
}

// A caller that does not link the function, only its name and types,
// declares the task with a nil function: it can call it, not register it.
// Options go after the arguments.
func ExampleTask2_client() {
	ctx := context.Background()
	env := exampleStrand.With(map[string]any{
		"concat": func(a string, n int) string { return fmt.Sprintf("%s×%d", a, n) },
	})

	concat := strand.Task2[string, int, string]("concat", nil)
	h, err := concat.Call(ctx, env.Writer, "ab", 3, strand.Timeout(time.Minute))
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(h.Result(ctx))
	fmt.Println(concat.Register(env.Registry) != nil) // no function to register
	// Output:
	// ab×3 <nil>
	// true
}

// Bind fixes a task's first argument (the original's init_args): the bound
// task is called with the rest, on any runner, and cannot be registered.
func ExampleTaskFn2_Bind() {
	ctx := context.Background()
	env := exampleStrand.With(nil)
	scale := strand.Task2("scale", func(_ context.Context, factor, n int) (int, error) { return factor * n, nil })
	if err := scale.Register(env.Registry); err != nil {
		fmt.Println(err)
		return
	}

	double := scale.Bind(2)
	h, err := double.Call(ctx, env.Writer, 21)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(h.Result(ctx))
	fmt.Println(double.Register(env.Registry))
	// Output:
	// 42 <nil>
	// register scale: a task with bound arguments (Bind) cannot be registered: register the task it came from
}

// A handler reads the task it runs as from its ctx: its id and attempt make
// its effects idempotent under at-least-once delivery, and the submitter's
// meta travels with it.
func ExampleTaskFrom() {
	ctx := context.Background()
	env := exampleStrand.With(map[string]any{
		"whoami": func(ctx context.Context) string {
			t, _ := strand.TaskFrom(ctx)
			return fmt.Sprintf("%s attempt %d on %s for %s", t.ID, t.Attempt, t.Queue, t.Meta["user"])
		},
	})

	_, ok := strand.TaskFrom(ctx)
	fmt.Println("outside a task:", ok)
	h, err := env.Writer.Submit(ctx, "whoami", nil, strand.ID("report-7"), strand.Meta(map[string]string{"user": "ann"}))
	if err != nil {
		fmt.Println(err)
		return
	}
	var s string
	fmt.Println(h.Result(ctx, &s), s)
	// Output:
	// outside a task: false
	// <nil> report-7 attempt 1 on default for ann
}
