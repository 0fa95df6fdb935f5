package runner_test

import (
	"errors"
	"testing"
	"time"

	strand "github.com/strand-run/strand"
	"github.com/strand-run/strand/internal/handler"
	"github.com/strand-run/strand/registry"
)

// Typed tasks on every runner: Call with the task's own types, Result
// typed, a struct argument as the kwargs and any other as the one
// positional arg, the options beside it, and a client-only task (nil
// function) calling the function a worker registered.
func TestTypedOnEveryRunner(t *testing.T) {
	t.Parallel()
	upper := strand.NewFunc[string, string]("upper", nil) // registered as a plain function
	sub := strand.NewFunc[addArgs, int]("typed_add", nil)
	for _, rc := range runners {
		t.Run(rc.name, func(t *testing.T) {
			t.Parallel()
			r := rc.make(t)
			ctx := ctxT(t, 30*time.Second)
			h, err := addTask.Call(ctx, r, addArgs{A: 40, B: 2})
			if err != nil {
				t.Fatal(err)
			}
			if got, err := addTask.Result(ctx, h); err != nil || got != 42 {
				t.Errorf("typed_add: got %d, %v", got, err)
			}
			h, err = addTask.Call(ctx, r, addArgs{A: 10, B: 1}, strand.ID("typed-"+rc.name))
			if err != nil {
				t.Fatal(err)
			}
			if got, err := addTask.Result(ctx, h); err != nil || got != 11 || h.ID() != "typed-"+rc.name {
				t.Errorf("add(10, 1): %d, %v, id %s", got, err, h.ID())
			}
			hc, err := sub.Call(ctx, r, addArgs{A: 1, B: 1})
			if err != nil {
				t.Fatal(err)
			}
			if got, err := sub.Result(ctx, hc); err != nil || got != 2 {
				t.Errorf("client-only typed_add: %d, %v", got, err)
			}
			hg, err := upper.Call(ctx, r, "ada")
			if err != nil {
				t.Fatal(err)
			}
			if got, err := upper.Result(ctx, hg); err != nil || got != "ADA" {
				t.Errorf("upper: %q, %v", got, err)
			}
			// A typed call's handle is a strand.Handle: status, outcome, cancel.
			if st, err := hg.Status(ctx); err != nil || st != strand.StatusCompleted {
				t.Errorf("status %s, %v", st, err)
			}
			fail := strand.NewFunc[string, struct{}]("fail", nil)
			hf, err := fail.Call(ctx, r, "no")
			if err != nil {
				t.Fatal(err)
			}
			if _, err := fail.Result(ctx, hf); !errors.Is(err, strand.ErrFailed) {
				t.Errorf("fail: got %v", err)
			}
			// A struct argument is the call's kwargs: a Kwargs beside it is refused.
			if _, err := addTask.Call(ctx, r, addArgs{}, strand.Kwargs(map[string]int{"a": 1})); !errors.Is(err, strand.ErrBadOption) {
				t.Errorf("Kwargs beside a struct argument: %v", err)
			}
		})
	}
}

// A typed task registers its function under its name; a client-only one
// (nil function) and a second registration are refused, and a nil runner
// is an error.
func TestTypedRegister(t *testing.T) {
	t.Parallel()
	reg := registry.New()
	if err := addTask.Register(reg); err != nil {
		t.Fatal(err)
	}
	if names := (*handler.Table)(reg).Names(); len(names) != 1 || names[0] != "typed_add" {
		t.Fatalf("registered %v", names)
	}
	if err := addTask.Register(reg); err == nil {
		t.Error("a second registration under one name")
	}
	if err := strand.NewFunc[addArgs, int]("client_only", nil).Register(reg); err == nil {
		t.Error("a client-only task (nil function) registered")
	}
	if _, err := addTask.Call(ctxT(t, time.Second), nil, addArgs{A: 1, B: 2}); err == nil {
		t.Error("a call with no runner")
	}
}
