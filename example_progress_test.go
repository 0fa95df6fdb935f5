package strand_test

import (
	"context"
	"fmt"

	strand "github.com/strand-run/strand"
	"github.com/strand-run/strand/codec"
	"github.com/strand-run/strand/registry"
	"github.com/strand-run/strand/runner"
)

// A handler reports how far it has come with Progress; whoever holds the
// task's handle reads it (writer: h.Progress, h.WatchProgress; here the
// inline runner's OnProgress, called at each report).
func ExampleProgress() {
	reg := registry.New()
	reg.MustRegister("work", func(ctx context.Context, steps int) string {
		for i := 1; i <= steps; i++ {
			strand.Progress(ctx, int64(i), int64(steps), fmt.Sprintf("step %d", i))
		}
		return "done"
	})
	strand.Progress(context.Background(), 1, 1, "outside a task it does nothing")

	h, err := runner.Inline(reg).Submit(context.Background(), "work", []any{3, runner.OnProgress(func(p codec.Progress) { fmt.Printf("%d/%d %s\n", p.Done, p.Total, p.Note) })})
	if err != nil {
		fmt.Println(err)
		return
	}
	var s string
	fmt.Println(h.Result(context.Background(), &s), s)
	// Output:
	// 1/3 step 1
	// 2/3 step 2
	// 3/3 step 3
	// <nil> done
}
