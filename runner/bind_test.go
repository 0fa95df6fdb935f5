package runner_test

import (
	"testing"
	"time"

	strand "github.com/strand-run/strand"
	"github.com/strand-run/strand/runner"
	"github.com/strand-run/strand/writer"
)

// Bind and With are the original's init_args and init_kwargs: a typed
// function with its first argument and its options fixed, on every runner.
func TestBindAndWith(t *testing.T) {
	t.Parallel()
	for _, rc := range runners {
		t.Run(rc.name, func(t *testing.T) {
			t.Parallel()
			r := rc.make(t)
			ctx := ctxT(t, 30*time.Second)
			addTen := strand.Func2[int, int, int]("add", r).Bind(10)
			h, err := addTen.Call(ctx, 5)
			if err != nil {
				t.Fatal(err)
			}
			if got, err := h.Result(ctx); err != nil || got != 15 {
				t.Fatalf("add(10, 5): %d, %v", got, err)
			}
			h, err = addTen.Bind(1).Call(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if got, err := h.Result(ctx); err != nil || got != 11 {
				t.Fatalf("add(10, 1): %d, %v", got, err)
			}
			kw := any(runner.Kwargs(greetKw{Greeting: "hi"}))
			if rc.name == "nats" {
				kw = writer.Kwargs(greetKw{Greeting: "hi"})
			}
			greet := strand.Func1[string, string]("greet", r).With(kw)
			hg, err := greet.Call(ctx, "ada")
			if err != nil {
				t.Fatal(err)
			}
			if got, err := hg.Result(ctx); err != nil || got != "hi, ada" {
				t.Fatalf("greet with bound kwargs: %q, %v", got, err)
			}
		})
	}
}
