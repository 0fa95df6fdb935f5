// Package demo holds the functions that strand's own binary runs: enough to
// try a queue end to end (strand dev, strand worker) without writing a worker.
package demo

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"time"

	strand "github.com/strand-run/strand"
	"github.com/strand-run/strand/registry"
)

// functions are the demo functions by name, in the order help texts list them.
var functions = []struct {
	name string
	fn   any
}{
	{"add", Add},
	{"echo", Echo},
	{"sleep", Sleep},
	{"fail", Fail},
	{"count", Count},
	{"work", Work},
	{"scaled_add", ScaledAdd},
	{"sum", Sum},
}

// Names lists the demo functions' names, for help texts.
func Names() []string {
	names := make([]string, len(functions))
	for i, f := range functions {
		names[i] = f.name
	}
	return names
}

// Register adds the demo functions (see Names) to reg.
func Register(reg *registry.Registry) error {
	for _, f := range functions {
		if err := reg.Register(f.name, f.fn); err != nil {
			return fmt.Errorf("demo: %w", err)
		}
	}
	return nil
}

// Add returns a + b: the smallest task with a result to check.
func Add(a, b int) int { return a + b }

// Echo returns x unchanged, to see how a value travels through a queue.
func Echo(x any) any { return x }

// Sleep waits ms milliseconds, or until the task is cancelled or times out,
// in which case it returns ctx.Err(): a long task to cancel or time out.
func Sleep(ctx context.Context, ms int) error {
	if ms < 0 {
		return fmt.Errorf("negative duration %d ms", ms)
	}
	t := time.NewTimer(time.Duration(ms) * time.Millisecond)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Fail returns an error with message msg: a task that always fails.
func Fail(msg string) error { return errors.New(msg) }

// CountEvery is the pause between two items of Count.
const CountEvery = 50 * time.Millisecond

// Count yields 0 … n-1, one every CountEvery, stopping early when the task
// is cancelled or times out: an iterator task whose items stream visibly.
func Count(ctx context.Context, n int) (iter.Seq[int], error) {
	if n < 0 {
		return nil, fmt.Errorf("negative count %d", n)
	}
	return func(yield func(int) bool) {
		t := time.NewTimer(0)
		defer t.Stop()
		for i := range n {
			if i > 0 {
				t.Reset(CountEvery)
				select {
				case <-t.C:
				case <-ctx.Done():
					return
				}
			}
			if !yield(i) {
				return
			}
		}
	}, nil
}

// Work runs steps steps of ms milliseconds each, reporting its progress
// after each one, and returns "done N steps": a task to watch progress on.
func Work(ctx context.Context, steps, ms int) (string, error) {
	if steps < 0 || ms < 0 {
		return "", fmt.Errorf("negative steps %d or duration %d ms", steps, ms)
	}
	t := time.NewTimer(0)
	defer t.Stop()
	<-t.C
	for i := range steps {
		t.Reset(time.Duration(ms) * time.Millisecond)
		select {
		case <-t.C:
		case <-ctx.Done():
			return "", ctx.Err()
		}
		strand.Progress(ctx, int64(i+1), int64(steps), fmt.Sprintf("step %d of %d", i+1, steps))
	}
	return fmt.Sprintf("done %d steps", steps), nil
}

// Sum returns the sum of xs: the callback of a fan-in (a chord's list of
// results), as in `strand flow run` of docs/protocol.md's examples.
func Sum(xs []int) int {
	n := 0
	for _, x := range xs {
		n += x
	}
	return n
}

// ScaleKwargs are ScaledAdd's keyword arguments.
type ScaleKwargs struct {
	Scale int `msgpack:"scale"` // the factor; 0 or absent means 1
}

// ScaledAdd returns (a + b) × kw.Scale: a task that takes kwargs, as in
// docs/protocol.md's example scaled_add(2, 3, scale=10), for clients to try
// keyword arguments against.
func ScaledAdd(a, b int, kw ScaleKwargs) int {
	if kw.Scale == 0 {
		kw.Scale = 1
	}
	return (a + b) * kw.Scale
}
