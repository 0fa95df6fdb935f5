package runner_test

import (
	"errors"
	"testing"
	"time"

	strand "github.com/strand-run/strand"
	"github.com/strand-run/strand/registry"
)

// Typed tasks on every runner: Call with the task's own types, Result
// typed, Bind fixing the first arguments (the original's init_args), the
// options beside them, and a client-only task (nil function) calling the
// function a worker registered.
func TestTypedOnEveryRunner(t *testing.T) {
	t.Parallel()
	greet := strand.Task1[string, string]("greet", nil) // registered as a plain function
	sub := strand.Task2[int, int, int]("typed_add", nil)
	for _, rc := range runners {
		t.Run(rc.name, func(t *testing.T) {
			t.Parallel()
			r := rc.make(t)
			ctx := ctxT(t, 30*time.Second)
			h, err := addTask.Call(ctx, r, 40, 2)
			if err != nil {
				t.Fatal(err)
			}
			if got, err := h.Result(ctx); err != nil || got != 42 {
				t.Errorf("typed_add: got %d, %v", got, err)
			}
			addTen := addTask.Bind(10)
			h, err = addTen.Call(ctx, r, 5)
			if err != nil {
				t.Fatal(err)
			}
			if got, err := h.Result(ctx); err != nil || got != 15 {
				t.Errorf("add(10, 5): %d, %v", got, err)
			}
			h, err = addTen.Bind(1).Call(ctx, r, strand.ID("typed-"+rc.name))
			if err != nil {
				t.Fatal(err)
			}
			if got, err := h.Result(ctx); err != nil || got != 11 || h.ID() != "typed-"+rc.name {
				t.Errorf("add(10, 1): %d, %v, id %s", got, err, h.ID())
			}
			hc, err := sub.Call(ctx, r, 1, 1)
			if err != nil {
				t.Fatal(err)
			}
			if got, err := hc.Result(ctx); err != nil || got != 2 {
				t.Errorf("client-only typed_add: %d, %v", got, err)
			}
			hg, err := greet.Call(ctx, r, "ada", strand.Kwargs(greetKw{Greeting: "hi"}))
			if err != nil {
				t.Fatal(err)
			}
			if got, err := hg.Result(ctx); err != nil || got != "hi, ada" {
				t.Errorf("greet with kwargs: %q, %v", got, err)
			}
			// The typed handle is a strand.Handle: status, outcome, cancel.
			if st, err := hg.Status(ctx); err != nil || st != strand.StatusCompleted {
				t.Errorf("status %s, %v", st, err)
			}
			fail := strand.Task1[string, struct{}]("fail", nil)
			hf, err := fail.Call(ctx, r, "no")
			if err != nil {
				t.Fatal(err)
			}
			if _, err := hf.Result(ctx); !errors.Is(err, strand.ErrFailed) {
				t.Errorf("fail: got %v", err)
			}
		})
	}
}

// A typed task registers its function under its name; a bound one is
// refused (register the task it came from), and a nil runner is an error.
func TestTypedRegister(t *testing.T) {
	t.Parallel()
	reg := registry.New()
	if err := addTask.Register(reg); err != nil {
		t.Fatal(err)
	}
	if _, ok := reg.Lookup("typed_add"); !ok {
		t.Fatal("typed_add not registered")
	}
	if err := addTask.Bind(1).Register(registry.New()); err == nil {
		t.Error("a bound task registered")
	}
	if err := addTask.Bind(1).Bind(2).Register(registry.New()); err == nil {
		t.Error("a fully bound task registered")
	}
	if err := addTask.Register(reg); err == nil {
		t.Error("a second registration under one name")
	}
	if err := strand.Task2[int, int, int]("client_only", nil).Register(reg); err == nil {
		t.Error("a client-only task (nil function) registered")
	}
	if _, err := addTask.Call(ctxT(t, time.Second), nil, 1, 2); err == nil {
		t.Error("a call with no runner")
	}
}
