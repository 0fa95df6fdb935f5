package strand

import (
	"context"
	"errors"
	"fmt"
)

// Typed is a Handle whose result has the Go type R: Result returns an R.
// The embedded Handle has the rest (Status, Cancel, Items, Info, …).
type Typed[R any] struct {
	Handle
}

// Result waits for the task to end and returns its result, or its error.
func (t *Typed[R]) Result(ctx context.Context) (R, error) {
	var r R
	err := t.Handle.Result(ctx, &r)
	return r, err
}

func submit[R any](ctx context.Context, r Runner, name string, bound []any, args []any, opts []Option) (*Typed[R], error) {
	if r == nil {
		return nil, fmt.Errorf("submit %s: no runner", name)
	}
	all := make([]any, 0, len(bound)+len(args))
	h, err := r.Submit(ctx, name, append(append(all, bound...), args...), opts...)
	if err != nil {
		return nil, err
	}
	return &Typed[R]{Handle: h}, nil
}

var errBoundRegister = errors.New("a task with bound arguments (Bind) cannot be registered: register the task it came from")

// A typed task is a function with its name (the original's as_task): one
// value gives both sides, with compile-time types over the same
// <func, args, kwargs> wire as any other call,
//
//	var add = strand.Task2("add", func(ctx context.Context, a, b int) (int, error) { return a + b, nil })
//	add.Register(reg)                 // the worker
//	h, err := add.Call(ctx, r, 2, 3)  // the caller, on any Runner
//	sum, err := h.Result(ctx)         // an int
//
// A caller that does not link the function gives nil for it:
// strand.Task2[int, int, int]("add", nil). Bind fixes the first argument
// (the original's init_args): add.Bind(10).Call(ctx, r, 5) calls add(10, 5).

// TaskFn0 is a typed task of no arguments (see Task2).
type TaskFn0[R any] struct {
	name  string
	fn    func(context.Context) (R, error)
	bound []any
}

// Task0 names fn as a task of no arguments.
func Task0[R any](name string, fn func(context.Context) (R, error)) TaskFn0[R] {
	return TaskFn0[R]{name: name, fn: fn}
}

// Register adds the task's function to reg under its name.
func (t TaskFn0[R]) Register(reg Registrar) error {
	if t.bound != nil {
		return fmt.Errorf("register %s: %w", t.name, errBoundRegister)
	}
	return reg.Register(t.name, t.fn)
}

// Call submits a call of the task to r.
func (t TaskFn0[R]) Call(ctx context.Context, r Runner, opts ...Option) (*Typed[R], error) {
	return submit[R](ctx, r, t.name, t.bound, nil, opts)
}

// TaskFn1 is a typed task of one argument (see Task2).
type TaskFn1[A, R any] struct {
	name  string
	fn    func(context.Context, A) (R, error)
	bound []any
}

// Task1 names fn as a task of one argument.
func Task1[A, R any](name string, fn func(context.Context, A) (R, error)) TaskFn1[A, R] {
	return TaskFn1[A, R]{name: name, fn: fn}
}

// Register adds the task's function to reg under its name.
func (t TaskFn1[A, R]) Register(reg Registrar) error {
	if t.bound != nil {
		return fmt.Errorf("register %s: %w", t.name, errBoundRegister)
	}
	return reg.Register(t.name, t.fn)
}

// Call submits a call of the task with a to r.
func (t TaskFn1[A, R]) Call(ctx context.Context, r Runner, a A, opts ...Option) (*Typed[R], error) {
	return submit[R](ctx, r, t.name, t.bound, []any{a}, opts)
}

// Bind fixes the task's argument: the result calls it with a.
func (t TaskFn1[A, R]) Bind(a A) TaskFn0[R] {
	return TaskFn0[R]{name: t.name, bound: append(append([]any{}, t.bound...), a)}
}

// TaskFn2 is a typed task of two arguments.
type TaskFn2[A, B, R any] struct {
	name  string
	fn    func(context.Context, A, B) (R, error)
	bound []any
}

// Task2 names fn as a task of two arguments.
func Task2[A, B, R any](name string, fn func(context.Context, A, B) (R, error)) TaskFn2[A, B, R] {
	return TaskFn2[A, B, R]{name: name, fn: fn}
}

// Register adds the task's function to reg under its name.
func (t TaskFn2[A, B, R]) Register(reg Registrar) error {
	if t.bound != nil {
		return fmt.Errorf("register %s: %w", t.name, errBoundRegister)
	}
	return reg.Register(t.name, t.fn)
}

// Call submits a call of the task with a and b to r.
func (t TaskFn2[A, B, R]) Call(ctx context.Context, r Runner, a A, b B, opts ...Option) (*Typed[R], error) {
	return submit[R](ctx, r, t.name, t.bound, []any{a, b}, opts)
}

// Bind fixes the task's first argument.
func (t TaskFn2[A, B, R]) Bind(a A) TaskFn1[B, R] {
	return TaskFn1[B, R]{name: t.name, bound: append(append([]any{}, t.bound...), a)}
}

// TaskFn3 is a typed task of three arguments.
type TaskFn3[A, B, C, R any] struct {
	name  string
	fn    func(context.Context, A, B, C) (R, error)
	bound []any
}

// Task3 names fn as a task of three arguments.
func Task3[A, B, C, R any](name string, fn func(context.Context, A, B, C) (R, error)) TaskFn3[A, B, C, R] {
	return TaskFn3[A, B, C, R]{name: name, fn: fn}
}

// Register adds the task's function to reg under its name.
func (t TaskFn3[A, B, C, R]) Register(reg Registrar) error {
	if t.bound != nil {
		return fmt.Errorf("register %s: %w", t.name, errBoundRegister)
	}
	return reg.Register(t.name, t.fn)
}

// Call submits a call of the task with a, b and c to r.
func (t TaskFn3[A, B, C, R]) Call(ctx context.Context, r Runner, a A, b B, c C, opts ...Option) (*Typed[R], error) {
	return submit[R](ctx, r, t.name, t.bound, []any{a, b, c}, opts)
}

// Bind fixes the task's first argument.
func (t TaskFn3[A, B, C, R]) Bind(a A) TaskFn2[B, C, R] {
	return TaskFn2[B, C, R]{name: t.name, bound: append(append([]any{}, t.bound...), a)}
}
