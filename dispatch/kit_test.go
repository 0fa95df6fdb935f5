package dispatch_test

import (
	"context"
	"testing"
	"time"

	strand "github.com/strand-run/strand"
	"github.com/strand-run/strand/dispatch"
	"github.com/strand-run/strand/scratch"
	"github.com/strand-run/strand/strandtest"
	"github.com/strand-run/strand/writer"
)

// A dispatch goes through the writer's submit path: each call is recorded
// by the writer's middleware as submitted, with its args and options, and
// the group's handles are ordinary handles.
func TestDispatchSubmitsThroughTheWriter(t *testing.T) {
	t.Parallel()
	env := strandtest.New(t, scratch.Options{Funcs: map[string]any{"mul": func(a, b int) int { return a * b }}})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	calls := []writer.Call{
		{Func: "mul", Args: []any{2, 3}},
		{Func: "mul", Args: []any{4, 5, strand.ID("mul-4-5"), strand.Meta(map[string]string{"batch": "b1"})}},
	}
	g, err := dispatch.New(env.Writer).Submit(ctx, calls)
	if err != nil {
		t.Fatal(err)
	}
	strandtest.RequireSubmitted(t, env, "mul", &strandtest.Match{Args: []any{2, 3}})
	sub := strandtest.RequireSubmitted(t, env, "mul", &strandtest.Match{Args: []any{4, 5}, Meta: map[string]string{"batch": "b1"}})
	if sub.ID != "mul-4-5" || g.IDs()[1] != "mul-4-5" || sub.NumArgs() != 2 { // the options are not args
		t.Fatalf("submission %s, group ids %v", sub, g.IDs())
	}

	want := []int{6, 20}
	for i := range g.Len() {
		out := strandtest.WaitOutcome(t, g.Handle(i), 20*time.Second)
		var n int
		out.Decode(t, &n)
		if n != want[i] || out.Status != strand.StatusCompleted {
			t.Fatalf("task %d: %d %s", i, n, out.Status)
		}
	}
	if err := g.Wait(ctx); err != nil || g.Completed() != 2 {
		t.Fatalf("group: %v, %d completed", err, g.Completed())
	}
}
