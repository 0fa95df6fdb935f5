package strand_test

import (
	"context"
	"fmt"
	"iter"

	strand "github.com/strand-run/strand"
)

// Items yields the items of an iterator handler decoded as one type, as
// the worker produces them, on any runner's handle.
func ExampleItems() {
	ctx := context.Background()
	env := exampleStrand.With(map[string]any{
		"squares": func(n int) iter.Seq[int] {
			return func(yield func(int) bool) {
				for i := 1; i <= n; i++ {
					if !yield(i * i) {
						return
					}
				}
			}
		},
	})

	h, err := env.Writer.Submit(ctx, "squares", []any{4})
	if err != nil {
		fmt.Println(err)
		return
	}
	for sq, err := range strand.Items[int](ctx, h) {
		if err != nil {
			fmt.Println(err)
			return
		}
		fmt.Print(sq, " ")
	}
	fmt.Println()
	// Output: 1 4 9 16
}
