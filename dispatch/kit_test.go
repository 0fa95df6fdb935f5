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
		{Func: "mul", Args: []any{4, 5}, Opts: []strand.Option{strand.ID("mul-4-5"), strand.Meta(map[string]string{"batch": "b1"})}},
	}
	g, err := dispatch.Submit(ctx, env.Writer, calls)
	if err != nil {
		t.Fatal(err)
	}
	env.RequireSubmitted(t, "mul", &strandtest.Match{Args: []any{2, 3}})
	sub := env.RequireSubmitted(t, "mul", &strandtest.Match{Args: []any{4, 5}, Meta: map[string]string{"batch": "b1"}})
	if sub.ID != "mul-4-5" || g.Handles()[1].ID() != "mul-4-5" || len(sub.Args) != 2 { // the options are not args
		t.Fatalf("submission %+v, group's task %s", sub, g.Handles()[1].ID())
	}

	want := []int{6, 20}
	for i, h := range g.Handles() {
		out := strandtest.WaitOutcome(t, h, 20*time.Second)
		var n int
		out.Decode(t, &n)
		if n != want[i] || out.Status != strand.StatusCompleted {
			t.Fatalf("task %d: %d %s", i, n, out.Status)
		}
	}
	if err := g.Wait(ctx, nil); err != nil || g.Count(strand.StatusCompleted) != 2 {
		t.Fatalf("group: %v, %d completed", err, g.Count(strand.StatusCompleted))
	}
}
