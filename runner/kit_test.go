package runner_test

import (
	"context"
	"testing"
	"time"

	strand "github.com/strand-run/strand"
	"github.com/strand-run/strand/scratch"
	"github.com/strand-run/strand/strandtest"
)

// Typed calls on the NATS runner are plain submissions on the wire: the
// function's name, a struct argument as the kwargs, any other as the one
// arg, the options beside them.
func TestTypedCallsOnTheWire(t *testing.T) {
	t.Parallel()
	env := strandtest.New(t, scratch.Options{NoWorker: true})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	w := env.Writer

	if _, err := addTask.Call(ctx, w, addArgs{A: 2, B: 3}); err != nil {
		t.Fatal(err)
	}
	env.RequireSubmitted(t, "typed_add", &strandtest.Match{Args: []any{}, Kwargs: map[string]any{"a": 2, "b": 3}, Queue: "default"})

	if _, err := addTask.Call(ctx, w, addArgs{A: 10, B: 5}, strand.Queue("sums"), strand.MaxAttempts(2), strand.Meta(map[string]string{"k": "v"})); err != nil {
		t.Fatal(err)
	}
	sub := env.RequireSubmitted(t, "typed_add", &strandtest.Match{Kwargs: addArgs{A: 10, B: 5}, Queue: "sums", Meta: map[string]string{"k": "v"}})
	if sub.MaxAttempts != 2 {
		t.Fatalf("max attempts %d", sub.MaxAttempts)
	}

	greet := strand.NewFunc[string, string]("greet", nil)
	if _, err := greet.Call(ctx, w, "ann", strand.Kwargs(greetKw{Greeting: "hi"})); err != nil {
		t.Fatal(err)
	}
	env.RequireSubmitted(t, "greet", &strandtest.Match{Args: []any{"ann"}, Kwargs: map[string]any{"greeting": "hi"}})
	env.RequireNotSubmitted(t, "typed_add", &strandtest.Match{Kwargs: addArgs{A: 5, B: 10}})
	env.RequireNotSubmitted(t, "greet", &strandtest.Match{Args: []any{"bob"}})
}

// A typed task runs inline with a worker's task context, as on a worker.
func TestTypedTaskWorkedInline(t *testing.T) {
	t.Parallel()
	res := strandtest.RunInline(t, context.Background(), addTask, strandtest.Inline{Kwargs: addArgs{A: 20, B: 22}})
	var sum int
	res.Decode(t, &sum)
	if sum != 42 || res.Task.Func != "typed_add" {
		t.Fatalf("%d %+v", sum, res.Task)
	}
}
