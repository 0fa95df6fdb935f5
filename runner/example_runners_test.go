package runner_test

import (
	"context"
	"errors"
	"fmt"

	strand "github.com/strand-run/strand"
	"github.com/strand-run/strand/runner"
	"github.com/strand-run/strand/scratch"
)

// strand.Runner is one call shape for every place a call can run: in the
// caller, on a goroutine pool, in a child process (this test binary, which
// calls runner.ServeChild in its TestMain) and on NATS workers.
func Example_runners() {
	ctx := context.Background()
	reg := functions() // add, greet, exit, … (the child registers the same)
	env, err := scratch.Start(ctx, scratch.Options{Registry: reg})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer env.Close()
	pool := runner.Pool(reg, 2)
	defer pool.Close()
	proc := runner.Process(runner.ProcessConfig{Concurrency: 2})
	defer proc.Close()

	for _, r := range []struct {
		name string
		r    strand.Runner
	}{
		{"inline", runner.Inline(reg)},
		{"pool", pool},
		{"process", proc},
		{"nats", env.Writer},
	} {
		h, err := r.r.Submit(ctx, "add", []any{2, 3})
		if err != nil {
			fmt.Println(err)
			return
		}
		var sum int
		err = h.Result(ctx, &sum)
		fmt.Println(r.name, sum, err)
	}

	// A child process that dies fails its call, not the caller.
	h, _ := proc.Submit(ctx, "exit", []any{3})
	err = h.Result(ctx, nil)
	fmt.Println(errors.Is(err, strand.ErrCrashed))
	// Output:
	// inline 5 <nil>
	// pool 5 <nil>
	// process 5 <nil>
	// nats 5 <nil>
	// true
}
