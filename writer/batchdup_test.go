package writer_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	strand "github.com/strand-run/strand"
	"github.com/strand-run/strand/reader"
	"github.com/strand-run/strand/scratch"
	"github.com/strand-run/strand/writer"
)

// TestBatchTakenIDAfterItsTaskRan: a batch that names one id twice gets
// the second refused as ErrDuplicate even when the first task has run,
// been acked and left the queue before the second reaches the server —
// both were made in the same millisecond, and that must not make the
// first one's outcome pass for the second's.
func TestBatchTakenIDAfterItsTaskRan(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	env, err := scratch.Start(ctx, scratch.Options{Worker: reader.Config{Concurrency: 4},
		Funcs: map[string]any{"double": func(n int) int { return 2 * n }}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = env.Close() })
	for i := range 200 {
		id := fmt.Sprintf("twice-%d", i)
		hs, errs := env.Writer.SubmitBatch(ctx, []writer.Call{
			{Func: "double", Args: []any{1}, Opts: []strand.Option{strand.ID(id)}},
			{Func: "double", Args: []any{2}, Opts: []strand.Option{strand.ID(id)}},
		})
		if errs[0] != nil {
			t.Fatalf("%s: first call: %v", id, errs[0])
		}
		if !errors.Is(errs[1], strand.ErrDuplicate) {
			var n int
			err := hs[1].Result(ctx, &n)
			t.Fatalf("%s: second call of a taken id: error %v (its result %d, %v), want ErrDuplicate", id, errs[1], n, err)
		}
	}
}
