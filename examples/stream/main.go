// Command stream shows a task that streams its results as it produces them
// and one that reports its progress, on a throwaway strand:
//
//	go run ./examples/stream
package main

import (
	"context"
	"fmt"
	"io"
	"iter"
	"os"
	"time"

	strand "github.com/strand-run/strand"
	"github.com/strand-run/strand/scratch"
)

// squares yields n squares, one every 20ms: each reaches the caller as
// soon as it is yielded.
func squares(ctx context.Context, n int) iter.Seq[int] {
	return func(yield func(int) bool) {
		for i := range n {
			select {
			case <-ctx.Done():
				return
			case <-time.After(20 * time.Millisecond):
			}
			if !yield(i * i) {
				return
			}
		}
	}
}

// crunch works in steps and says how far it has come.
func crunch(ctx context.Context, steps int) (string, error) {
	for i := 1; i <= steps; i++ {
		time.Sleep(150 * time.Millisecond)
		strand.Progress(ctx, int64(i), int64(steps), fmt.Sprintf("step %d", i))
	}
	return "crunched", nil
}

func main() {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := run(ctx, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "error:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, out io.Writer) error {
	env, err := scratch.Start(ctx, scratch.Options{Funcs: map[string]any{"squares": squares, "crunch": crunch}})
	if err != nil {
		return err
	}
	defer env.Close()

	h, err := env.Writer.Submit(ctx, "squares", []any{5})
	if err != nil {
		return err
	}
	for sq, err := range strand.Items[int](ctx, h) {
		if err != nil {
			return err
		}
		fmt.Fprintln(out, "item", sq)
	}

	h, err = env.Writer.Submit(ctx, "crunch", []any{3})
	if err != nil {
		return err
	}
	steps := 0
	o, err := h.WatchProgress(ctx, func(p strand.Report) { steps++ })
	if err != nil {
		return err
	}
	var v string
	if err := o.Decode(&v); err != nil {
		return err
	}
	fmt.Fprintf(out, "crunch: %q (progress reported: %v)\n", v, steps > 0)
	return env.Close()
}
