package scratch_test

import (
	"context"
	"fmt"

	"github.com/strand-run/strand/scratch"
)

// Start gives a script or a test a whole strand in one call: an embedded
// server on a free loopback port with its data in a temporary directory,
// a writer, and a worker running the functions given. Close removes it all.
func ExampleStart() {
	ctx := context.Background()
	env, err := scratch.Start(ctx, scratch.Options{Funcs: map[string]any{
		"add": func(a, b int) int { return a + b },
	}})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer env.Close()

	h, err := env.Writer.Submit(ctx, "add", []any{2, 3})
	if err != nil {
		fmt.Println(err)
		return
	}
	var sum int
	fmt.Println(h.Result(ctx, &sum), sum)
	// Output: <nil> 5
}
