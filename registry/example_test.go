package registry_test

import (
	"context"
	"fmt"

	strand "github.com/strand-run/strand"
	"github.com/strand-run/strand/registry"
	"github.com/strand-run/strand/runner"
)

type greeting struct {
	Excited bool `msgpack:"excited"`
}

// Handlers are plain functions; args are decoded into their parameter
// types, kwargs into a trailing struct. A worker runs them by name; here
// runner.Inline does, in the caller.
func ExampleRegistry_Register() {
	reg := registry.New()
	reg.MustRegister("greet", func(ctx context.Context, name string, g greeting) string {
		if g.Excited {
			return "hello, " + name + "!"
		}
		return "hello, " + name
	})
	ctx := context.Background()
	r := runner.Inline(reg)
	h, _ := r.Submit(ctx, "greet", []any{"ann"}, strand.Kwargs(map[string]any{"excited": true}))
	var s string
	fmt.Println(h.Result(ctx, &s), s)
	h, _ = r.Submit(ctx, "greet", []any{42})
	fmt.Println(h.Result(ctx, nil))
	// Output:
	// <nil> hello, ann!
	// greet: arg 1: want string, got int 42
}
