package strand

import (
	"context"
	"fmt"
)

// Typed is a Handle whose result has the Go type R.
type Typed[R any] struct {
	h Handle
}

// ID is the task's id.
func (t *Typed[R]) ID() string { return t.h.ID() }

// Status is the task's status now.
func (t *Typed[R]) Status(ctx context.Context) (Status, error) { return t.h.Status(ctx) }

// Cancel stops the task.
func (t *Typed[R]) Cancel(ctx context.Context) error { return t.h.Cancel(ctx) }

// Handle is the untyped handle, for what only a runner's own handle offers.
func (t *Typed[R]) Handle() Handle { return t.h }

// Result waits for the task to end and returns its result, or its error.
func (t *Typed[R]) Result(ctx context.Context) (R, error) {
	var r R
	err := t.h.Result(ctx, &r)
	return r, err
}

func submit[R any](ctx context.Context, r Runner, name string, args ...any) (*Typed[R], error) {
	if r == nil {
		return nil, fmt.Errorf("submit %s: no runner", name)
	}
	h, err := r.Submit(ctx, name, args...)
	if err != nil {
		return nil, err
	}
	return &Typed[R]{h: h}, nil
}

// bind joins fixed leading args and options with a call's own, into a new slice.
func bind(parts ...[]any) []any {
	var all []any
	for _, p := range parts {
		all = append(all, p...)
	}
	return all
}

// Partial application (the original's init_args and init_kwargs): Bind
// fixes a function's first argument, With fixes options (kwargs, queue,
// timeout, …) for every call.
//
//	add := strand.Func2[int, int, int]("add", r)
//	addTen := add.Bind(10)  // an Fn1[int, int]
//	h, err := addTen.Call(ctx, 5) // add(10, 5)

// Bind fixes f's first argument.
func (f Fn1[A, R]) Bind(a A) Fn0[R] {
	return Fn0[R]{Name: f.Name, Runner: f.Runner, bound: bind(f.bound, []any{a})}
}

// Bind fixes f's first argument.
func (f Fn2[A, B, R]) Bind(a A) Fn1[B, R] {
	return Fn1[B, R]{Name: f.Name, Runner: f.Runner, bound: bind(f.bound, []any{a})}
}

// Bind fixes f's first argument.
func (f Fn3[A, B, C, R]) Bind(a A) Fn2[B, C, R] {
	return Fn2[B, C, R]{Name: f.Name, Runner: f.Runner, bound: bind(f.bound, []any{a})}
}

// With fixes options for every call of f.
func (f Fn0[R]) With(opts ...any) Fn0[R] { f.bound = bind(f.bound, opts); return f }

// With fixes options for every call of f.
func (f Fn1[A, R]) With(opts ...any) Fn1[A, R] { f.bound = bind(f.bound, opts); return f }

// With fixes options for every call of f.
func (f Fn2[A, B, R]) With(opts ...any) Fn2[A, B, R] { f.bound = bind(f.bound, opts); return f }

// With fixes options for every call of f.
func (f Fn3[A, B, C, R]) With(opts ...any) Fn3[A, B, C, R] { f.bound = bind(f.bound, opts); return f }

// Fn0 is the caller's typed view of a function of no arguments, bound to a
// runner: its calls go over the same <func, args, kwargs> wire as any other.
type Fn0[R any] struct {
	Name   string
	Runner Runner
	bound  []any // leading args and options fixed by Bind and With
}

// Func0 binds the function registered as name, of result type R, to r.
func Func0[R any](name string, r Runner) Fn0[R] { return Fn0[R]{Name: name, Runner: r} }

// Call submits a call; opts are r's options (queue, timeout, kwargs, …).
func (f Fn0[R]) Call(ctx context.Context, opts ...any) (*Typed[R], error) {
	return submit[R](ctx, f.Runner, f.Name, bind(f.bound, opts)...)
}

// Fn1 is the caller's typed view of a function of one argument.
type Fn1[A, R any] struct {
	Name   string
	Runner Runner
	bound  []any // leading args and options fixed by Bind and With
}

// Func1 binds the function registered as name to r.
func Func1[A, R any](name string, r Runner) Fn1[A, R] { return Fn1[A, R]{Name: name, Runner: r} }

// Call submits a call of f with a; opts are r's options.
func (f Fn1[A, R]) Call(ctx context.Context, a A, opts ...any) (*Typed[R], error) {
	return submit[R](ctx, f.Runner, f.Name, bind(f.bound, []any{a}, opts)...)
}

// Fn2 is the caller's typed view of a function of two arguments.
type Fn2[A, B, R any] struct {
	Name   string
	Runner Runner
	bound  []any // leading args and options fixed by Bind and With
}

// Func2 binds the function registered as name to r:
//
//	add := strand.Func2[int, int, int]("add", w.Runner())
//	h, err := add.Call(ctx, 2, 3)
//	sum, err := h.Result(ctx) // an int
func Func2[A, B, R any](name string, r Runner) Fn2[A, B, R] {
	return Fn2[A, B, R]{Name: name, Runner: r}
}

// Call submits a call of f with a and b; opts are r's options.
func (f Fn2[A, B, R]) Call(ctx context.Context, a A, b B, opts ...any) (*Typed[R], error) {
	return submit[R](ctx, f.Runner, f.Name, bind(f.bound, []any{a, b}, opts)...)
}

// Fn3 is the caller's typed view of a function of three arguments.
type Fn3[A, B, C, R any] struct {
	Name   string
	Runner Runner
	bound  []any // leading args and options fixed by Bind and With
}

// Func3 binds the function registered as name to r.
func Func3[A, B, C, R any](name string, r Runner) Fn3[A, B, C, R] {
	return Fn3[A, B, C, R]{Name: name, Runner: r}
}

// Call submits a call of f with a, b and c; opts are r's options.
func (f Fn3[A, B, C, R]) Call(ctx context.Context, a A, b B, c C, opts ...any) (*Typed[R], error) {
	return submit[R](ctx, f.Runner, f.Name, bind(f.bound, []any{a, b, c}, opts)...)
}

// TaskFn0 is a function of no arguments with its name: the worker side
// registers it, the caller side calls it with compile-time types.
type TaskFn0[R any] struct {
	name string
	fn   func(context.Context) (R, error)
}

// Task0 names fn as a task (the original's as_task).
func Task0[R any](name string, fn func(context.Context) (R, error)) TaskFn0[R] {
	return TaskFn0[R]{name, fn}
}

// Name is the name the task is registered under.
func (t TaskFn0[R]) Name() string { return t.name }

// Register adds the task's function to reg under its name.
func (t TaskFn0[R]) Register(reg Registrar) error { return reg.Register(t.name, t.fn) }

// On binds the task to runner r.
func (t TaskFn0[R]) On(r Runner) Fn0[R] { return Func0[R](t.name, r) }

// Call submits a call of the task to r.
func (t TaskFn0[R]) Call(ctx context.Context, r Runner, opts ...any) (*Typed[R], error) {
	return t.On(r).Call(ctx, opts...)
}

// TaskFn1 is a function of one argument with its name.
type TaskFn1[A, R any] struct {
	name string
	fn   func(context.Context, A) (R, error)
}

// Task1 names fn as a task.
func Task1[A, R any](name string, fn func(context.Context, A) (R, error)) TaskFn1[A, R] {
	return TaskFn1[A, R]{name, fn}
}

// Name is the name the task is registered under.
func (t TaskFn1[A, R]) Name() string { return t.name }

// Register adds the task's function to reg under its name.
func (t TaskFn1[A, R]) Register(reg Registrar) error { return reg.Register(t.name, t.fn) }

// On binds the task to runner r.
func (t TaskFn1[A, R]) On(r Runner) Fn1[A, R] { return Func1[A, R](t.name, r) }

// Call submits a call of the task with a to r.
func (t TaskFn1[A, R]) Call(ctx context.Context, r Runner, a A, opts ...any) (*Typed[R], error) {
	return t.On(r).Call(ctx, a, opts...)
}

// TaskFn2 is a function of two arguments with its name.
type TaskFn2[A, B, R any] struct {
	name string
	fn   func(context.Context, A, B) (R, error)
}

// Task2 names fn as a task: one value gives both sides,
//
//	var add = strand.Task2("add", func(ctx context.Context, a, b int) (int, error) { return a + b, nil })
//	add.Register(reg)                 // the worker
//	h, err := add.Call(ctx, r, 2, 3)  // the caller, on any Runner
func Task2[A, B, R any](name string, fn func(context.Context, A, B) (R, error)) TaskFn2[A, B, R] {
	return TaskFn2[A, B, R]{name, fn}
}

// Name is the name the task is registered under.
func (t TaskFn2[A, B, R]) Name() string { return t.name }

// Register adds the task's function to reg under its name.
func (t TaskFn2[A, B, R]) Register(reg Registrar) error { return reg.Register(t.name, t.fn) }

// On binds the task to runner r.
func (t TaskFn2[A, B, R]) On(r Runner) Fn2[A, B, R] { return Func2[A, B, R](t.name, r) }

// Call submits a call of the task with a and b to r.
func (t TaskFn2[A, B, R]) Call(ctx context.Context, r Runner, a A, b B, opts ...any) (*Typed[R], error) {
	return t.On(r).Call(ctx, a, b, opts...)
}

// TaskFn3 is a function of three arguments with its name.
type TaskFn3[A, B, C, R any] struct {
	name string
	fn   func(context.Context, A, B, C) (R, error)
}

// Task3 names fn as a task.
func Task3[A, B, C, R any](name string, fn func(context.Context, A, B, C) (R, error)) TaskFn3[A, B, C, R] {
	return TaskFn3[A, B, C, R]{name, fn}
}

// Name is the name the task is registered under.
func (t TaskFn3[A, B, C, R]) Name() string { return t.name }

// Register adds the task's function to reg under its name.
func (t TaskFn3[A, B, C, R]) Register(reg Registrar) error { return reg.Register(t.name, t.fn) }

// On binds the task to runner r.
func (t TaskFn3[A, B, C, R]) On(r Runner) Fn3[A, B, C, R] { return Func3[A, B, C, R](t.name, r) }

// Call submits a call of the task with a, b and c to r.
func (t TaskFn3[A, B, C, R]) Call(ctx context.Context, r Runner, a A, b B, c C, opts ...any) (*Typed[R], error) {
	return t.On(r).Call(ctx, a, b, c, opts...)
}
