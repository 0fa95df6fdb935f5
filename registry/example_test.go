package registry_test

import (
	"context"
	"fmt"

	"github.com/strand-run/strand/internal/codec"
	"github.com/strand-run/strand/registry"
)

type greeting struct {
	Excited bool `msgpack:"excited"`
}

// Handlers are plain functions; args are decoded into their parameter
// types, kwargs into a trailing struct.
func ExampleRegistry_Register() {
	reg := registry.New()
	reg.MustRegister("greet", func(ctx context.Context, name string, g greeting) string {
		if g.Excited {
			return "hello, " + name + "!"
		}
		return "hello, " + name
	})
	fn, _ := reg.Lookup("greet")
	args := []codec.Raw{[]byte(`"ann"`)}
	out, err := fn.Call(context.Background(), codec.JSON, args, []byte(`{"excited": true}`))
	fmt.Println(out, err)
	_, err = fn.Call(context.Background(), codec.JSON, []codec.Raw{[]byte(`42`)}, nil)
	fmt.Println(err)
	// Output:
	// hello, ann! <nil>
	// greet: arg 1: want string, got int 42
}
