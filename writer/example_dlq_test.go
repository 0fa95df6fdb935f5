package writer_test

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/strand-run/strand"
	"github.com/strand-run/strand/writer"
)

// A task whose every attempt failed ends dead and is kept as a dead letter;
// Replay runs it again as a fresh task (once what made it fail is fixed),
// and Purge frees a finished task's id at once.
func ExampleWriter_Replay() {
	var fixed atomic.Bool
	env := exampleStrand.With(map[string]any{
		"export": func(report string) (string, error) {
			if !fixed.Load() {
				return "", errors.New("disk full")
			}
			return report + " exported", nil
		},
	})
	ctx := context.Background()
	h, err := env.Writer.Submit(ctx, "export", []any{"q3"}, strand.ID("export-q3"), strand.MaxAttempts(2))
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(h.Result(ctx, nil))
	st, _ := h.Status(ctx)
	fmt.Println(st)

	var dead []writer.DeadTask
	for len(dead) == 0 { // the dead letter is written beside the outcome
		if dead, err = env.Writer.DLQ(ctx); err != nil {
			fmt.Println(err)
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	fmt.Println(dead[0].ID, dead[0].Func, dead[0].Attempts, dead[0].Error)

	fixed.Store(true)
	again, err := env.Writer.Replay(ctx, "export-q3")
	if err != nil {
		fmt.Println(err)
		return
	}
	var s string
	fmt.Println(again.Result(ctx, &s), s)

	fmt.Println(h.(interface{ Purge(context.Context) error }).Purge(ctx)) // the dead task's records go; its id is free
	st, _ = h.Status(ctx)
	fmt.Println(st)
	// Output:
	// export: disk full
	// dead
	// export-q3 export 2 export: disk full
	// <nil> q3 exported
	// <nil>
	// unknown
}
