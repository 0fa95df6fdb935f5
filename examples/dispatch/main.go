// Command dispatch submits many tasks at once and gathers their outcomes:
// strand's form of the original TaskDispatcher.
//
// It starts an embedded NATS server and a worker in the process, then
// dispatches 200 squares in one pipelined batch, waits for all of them and
// sums the results in call order; then dispatches 20 probes, stops at the
// first failure with a custom predicate, and cancels the probes that have
// not finished.
//
//	go run ./examples/dispatch
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"time"

	strand "github.com/strand-run/strand"
	"github.com/strand-run/strand/dispatch"
	"github.com/strand-run/strand/reader"
	"github.com/strand-run/strand/registry"
	"github.com/strand-run/strand/scratch"
	"github.com/strand-run/strand/writer"
)

// functions are what the worker runs.
func functions() *registry.Registry {
	reg := registry.New()
	reg.MustRegister("square", func(n int) int { return n * n })
	reg.MustRegister("probe", func(ctx context.Context, i int) (int, error) {
		if i == 5 {
			return 0, fmt.Errorf("probe %d: host unreachable", i)
		}
		if i > 5 {
			// Later probes take a while: the group stops before they end.
			select {
			case <-ctx.Done():
				return 0, ctx.Err()
			case <-time.After(time.Duration(i) * 100 * time.Millisecond):
			}
		}
		return i, nil
	})
	return reg
}

func run(ctx context.Context, out io.Writer) error {
	env, err := scratch.Start(ctx, scratch.Options{
		Registry: functions(),
		Worker:   reader.Config{Concurrency: 4, ShutdownTimeout: time.Second},
	})
	if err != nil {
		return err
	}
	defer env.Close()
	// 1. Many tasks, one round trip; wait for all, results in call order.
	calls := make([]writer.Call, 200)
	for i := range calls {
		calls[i] = writer.Call{Func: "square", Args: []any{i}}
	}
	g, err := dispatch.Submit(ctx, env.Writer, calls)
	if err != nil {
		return err
	}
	if err := g.Wait(ctx, nil); err != nil {
		return err
	}
	sum := 0
	for _, o := range g.Outcomes() {
		var sq int
		if err := o.Decode(&sq); err != nil {
			return err
		}
		sum += sq
	}
	fmt.Fprintf(out, "squares: %d completed, %d failed, sum %d\n",
		g.Count(strand.StatusCompleted), g.Count(strand.StatusFailed, strand.StatusDead), sum)

	// 2. Stop at the first failure, then cancel what has not finished.
	probes := make([]writer.Call, 20)
	for i := range probes {
		probes[i] = writer.Call{Func: "probe", Args: []any{i}}
	}
	g, err = dispatch.Submit(ctx, env.Writer, probes)
	if err != nil {
		return err
	}
	firstFailure := func(g *dispatch.Group) bool { return g.Count(strand.StatusFailed, strand.StatusDead) > 0 }
	if err := g.Wait(ctx, firstFailure); err != nil {
		return err
	}
	for _, o := range g.Outcomes() {
		if o != nil && o.Err != nil {
			fmt.Fprintf(out, "probes: stopped at the first failure: %v\n", o.Err)
			break
		}
	}
	if _, err := g.CancelRest(ctx); err != nil {
		return err
	}
	// CancelRest waits for no outcome: the group's own count catches up.
	if err := g.Wait(ctx, nil); err != nil {
		return err
	}
	ended := g.Count(strand.StatusCompleted, strand.StatusFailed, strand.StatusDead, strand.StatusCancelled)
	fmt.Fprintf(out, "probes: %d pending after CancelRest; every one of %d has an outcome: %v\n",
		g.Count(strand.StatusPending), len(probes), ended == len(probes))
	return nil
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, os.Stdout); err != nil && !errors.Is(err, context.Canceled) {
		fmt.Fprintln(os.Stderr, "dispatch:", err)
		os.Exit(1)
	}
}
