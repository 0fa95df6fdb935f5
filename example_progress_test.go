package strand_test

import (
	"context"
	"fmt"

	strand "github.com/strand-run/strand"
	"github.com/strand-run/strand/registry"
	"github.com/strand-run/strand/runner"
)

// A handler reports how far it has come with Progress; whoever holds the
// task's handle reads the last report (h.Progress, h.Info) or watches the
// reports as they come (h.WatchProgress). Here
// the inline runner, whose call has ended when Submit returns.
func ExampleProgress() {
	reg := registry.New()
	reg.MustRegister("work", func(ctx context.Context, steps int) string {
		for i := 1; i <= steps; i++ {
			strand.Progress(ctx, int64(i), int64(steps), fmt.Sprintf("step %d", i))
		}
		return "done"
	})
	strand.Progress(context.Background(), 1, 1, "outside a task it does nothing")

	ctx := context.Background()
	h, err := runner.Inline(reg).Submit(ctx, "work", []any{3})
	if err != nil {
		fmt.Println(err)
		return
	}
	p, _ := h.Progress(ctx)
	fmt.Printf("%d/%d %s\n", p.Done, p.Total, p.Note)
	var s string
	fmt.Println(h.Result(ctx, &s), s)
	// Output:
	// 3/3 step 3
	// <nil> done
}
