package strand_test

import (
	"context"
	"fmt"
	"strings"
	"time"

	strand "github.com/strand-run/strand"
	"github.com/strand-run/strand/runner"
)

// addArgs are the arguments of the typed task add: a struct travels as
// the task's kwargs, by its fields' msgpack names.
type addArgs struct {
	A int `msgpack:"a"`
	B int `msgpack:"b"`
}

// A typed task gives compile-time types to both sides of a call by name:
// the worker registers its function, callers call it on any runner, here
// the NATS workers of a scratch strand (the writer) and an inline runner.
func ExampleNewFunc() {
	add := strand.NewFunc("add", func(_ context.Context, in addArgs) (int, error) { return in.A + in.B, nil })

	ctx := context.Background()
	env := exampleStrand.With(nil)                     // a server, a writer and a worker (scratch.Start)
	if err := add.Register(env.Registry); err != nil { // the worker side
		fmt.Println(err)
		return
	}

	h, err := add.Call(ctx, env.Writer, addArgs{A: 2, B: 3}) // on the workers
	if err != nil {
		fmt.Println(err)
		return
	}
	sum, err := add.Result(ctx, h) // an int
	fmt.Println(sum, err)

	h, _ = add.Call(ctx, runner.Inline(env.Registry), addArgs{A: 20, B: 22}) // in the caller
	sum, err = add.Result(ctx, h)
	fmt.Println(sum, err)
	// Output:
	// 5 <nil>
	// 42 <nil>
}

// A caller that does not link the function, only its name and types,
// declares the task with a nil function: it can call it, not register it.
// An argument that is not a struct is the task's one positional arg, here
// of a plain function registered by name; options go after it.
func ExampleNewFunc_client() {
	ctx := context.Background()
	env := exampleStrand.With(map[string]any{
		"shout": func(s string) string { return strings.ToUpper(s) + "!" },
	})

	shout := strand.NewFunc[string, string]("shout", nil)
	h, err := shout.Call(ctx, env.Writer, "hello", strand.Timeout(time.Minute))
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(shout.Result(ctx, h))
	fmt.Println(shout.Register(env.Registry))
	// Output:
	// HELLO! <nil>
	// register shout: no function (a caller-side task, declared with nil)
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
