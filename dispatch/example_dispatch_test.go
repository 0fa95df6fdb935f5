package dispatch_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	strand "github.com/strand-run/strand"
	"github.com/strand-run/strand/dispatch"
	"github.com/strand-run/strand/internal/examplestrand"
	"github.com/strand-run/strand/reader"
	"github.com/strand-run/strand/scratch"
	"github.com/strand-run/strand/writer"
)

// exampleStrand is the scratch strand (server, writer, worker) that this
// package's Examples share; each registers its own functions on it.
var exampleStrand = examplestrand.New(scratch.Options{Worker: reader.Config{Concurrency: 4}})

func TestMain(m *testing.M) { exampleStrand.Main(m) }

// Submit sends many calls in one pipeline; the group waits for all of
// them and gives their outcomes in call order.
func ExampleSubmit() {
	env := exampleStrand.With(map[string]any{"square": func(n int) int { return n * n }})
	ctx := context.Background()
	calls := make([]writer.Call, 10)
	for i := range calls {
		calls[i] = writer.Call{Func: "square", Args: []any{i}}
	}
	g, err := dispatch.Submit(ctx, env.Writer, calls)
	if err != nil {
		fmt.Println(err)
		return
	}
	if err := g.Wait(ctx, nil); err != nil {
		fmt.Println(err)
		return
	}
	sum := 0
	for _, o := range g.Outcomes() {
		var sq int
		if err := o.Decode(&sq); err != nil {
			fmt.Println(err)
			return
		}
		sum += sq
	}
	fmt.Println(g.Count(strand.StatusCompleted), "completed, sum", sum)
	// Output: 10 completed, sum 285
}

// Wait stops waiting when a predicate of yours has seen enough (here
// the first failure); CancelRest then cancels the tasks still running.
func ExampleGroup_Wait() {
	env := exampleStrand.With(map[string]any{
		"probe": func(ctx context.Context, i int) (int, error) {
			if i == 0 {
				return 0, fmt.Errorf("probe %d: host unreachable", i)
			}
			select { // the other probes take long
			case <-time.After(time.Minute):
				return i, nil
			case <-ctx.Done():
				return 0, ctx.Err()
			}
		},
	})
	ctx := context.Background()
	calls := []writer.Call{{Func: "probe", Args: []any{0}}, {Func: "probe", Args: []any{1}}, {Func: "probe", Args: []any{2}}}
	g, err := dispatch.Submit(ctx, env.Writer, calls)
	if err != nil {
		fmt.Println(err)
		return
	}
	err = g.Wait(ctx, func(g *dispatch.Group) bool { return g.Count(strand.StatusFailed, strand.StatusDead) > 0 })
	fmt.Println(err, g.Count(strand.StatusFailed), "failed:", g.Outcomes()[0].Decode(nil))
	n, err := g.CancelRest(ctx)
	fmt.Println(n, "cancelled", err)
	if err := g.Wait(ctx, nil); err != nil {
		fmt.Println(err)
		return
	}
	for _, o := range g.Outcomes()[1:] {
		fmt.Print(o.Status, " ")
	}
	fmt.Println(g.Count(strand.StatusCancelled))
	// Output:
	// <nil> 1 failed: probe: probe 0: host unreachable
	// 2 cancelled <nil>
	// cancelled cancelled 2
}
