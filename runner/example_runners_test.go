package runner_test

import (
	"context"
	"fmt"

	strand "github.com/strand-run/strand"
	"github.com/strand-run/strand/runner"
	"github.com/strand-run/strand/scratch"
)

// strand.Runner is one call shape for every place a call can run: in the
// caller, on a goroutine pool, in a child process (this test binary, which
// calls runner.ServeChild in its TestMain) and on NATS workers (the
// writer). A typed task calls on each the same way.
func Example_runners() {
	ctx := context.Background()
	reg := functions() // add, typed_add, greet, exit, … (the child registers the same)
	env, err := scratch.Start(ctx, scratch.Options{Registry: reg})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer env.Close()
	pool := runner.Pool(reg, 2)
	defer pool.Close()
	proc := runner.Process(2)
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
		h, err := r.r.Submit(ctx, "add", []any{2, 3}) // by name
		if err != nil {
			fmt.Println(err)
			return
		}
		var sum int
		err = h.Result(ctx, &sum)
		th, terr := addTask.Call(ctx, r.r, addArgs{A: 40, B: 2}) // typed: the same wire
		if terr != nil {
			fmt.Println(terr)
			return
		}
		typed, terr := addTask.Result(ctx, th) // an int
		fmt.Println(r.name, sum, err, typed, terr)
	}
	// Output:
	// inline 5 <nil> 42 <nil>
	// pool 5 <nil> 42 <nil>
	// process 5 <nil> 42 <nil>
	// nats 5 <nil> 42 <nil>
}
