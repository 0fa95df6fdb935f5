package middleware_test

import (
	"context"
	"errors"
	"fmt"

	strand "github.com/strand-run/strand"
	"github.com/strand-run/strand/middleware"
	"github.com/strand-run/strand/reader"
	"github.com/strand-run/strand/scratch"
	"github.com/strand-run/strand/writer"
)

// An Allowlist says which caller may call which functions: as writer
// middleware it refuses a task at submit, as reader middleware on the
// worker, whatever producer sent the task.
func ExampleAllowlist() {
	allow := middleware.Allowlist{"billing": {"charge"}, "admin": {"*"}}
	ctx := context.Background()
	env, err := scratch.Start(ctx, scratch.Options{
		Funcs:  map[string]any{"charge": func(cents int) string { return fmt.Sprintf("charged %d", cents) }},
		Worker: reader.Config{Middleware: []reader.Middleware{allow.Reader()}},
		Writer: writer.Config{Caller: "billing", Middleware: []writer.Middleware{allow.Writer()}},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer env.Close()

	h, err := env.Writer.Submit(ctx, "charge", []any{250})
	if err != nil {
		fmt.Println(err)
		return
	}
	var s string
	fmt.Println(h.Result(ctx, &s), s)

	_, err = env.Writer.Submit(ctx, "charge", []any{250}, strand.Caller("web")) // refused at submit
	fmt.Println(errors.Is(err, strand.ErrForbidden), err)

	// A writer without the allowlist gets its task written; the worker refuses it.
	other, err := writer.New(env.Broker, writer.Config{Caller: "web"})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer other.Close()
	h, err = other.Submit(ctx, "charge", []any{250})
	if err != nil {
		fmt.Println(err)
		return
	}
	err = h.Result(ctx, nil)
	fmt.Println(errors.Is(err, strand.ErrForbidden), err)
	// Output:
	// <nil> charged 250
	// true submit charge: charge: caller "web" may not call it
	// true charge: caller "web" may not call it
}
