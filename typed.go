package strand

import (
	"context"
	"fmt"
	"reflect"
	"time"

	"github.com/strand-run/strand/internal/opt"
)

// Func is a typed task: a function with its name (the original's as_task),
// so that one value gives both sides of a call by name, with compile-time
// types over the same <func, args, kwargs> wire as any other call. Its
// function takes one argument A and returns an R:
//
//	type AddArgs struct{ A, B int }
//	var add = strand.NewFunc("add", func(ctx context.Context, in AddArgs) (int, error) { return in.A + in.B, nil })
//	add.Register(reg)                               // the worker
//	h, err := add.Call(ctx, r, AddArgs{A: 2, B: 3}) // the caller, on any Runner: a Handle
//	sum, err := add.Result(ctx, h)                  // an int
//
// A of a struct type (or a pointer to one) travels as the task's kwargs,
// by its fields' msgpack (or json) names, the way the registry binds a
// handler's trailing struct, as River's job args do; any other A (a
// string, an int, a slice, time.Time) travels as the one positional arg.
// A task of no argument takes a struct{}. A caller that does not link the
// function gives nil for it: strand.NewFunc[AddArgs, int]("add", nil).
type Func[A, R any] struct {
	name string
	fn   func(context.Context, A) (R, error)
}

// NewFunc names fn as a typed task; fn may be nil on the caller's side.
func NewFunc[A, R any](name string, fn func(context.Context, A) (R, error)) Func[A, R] {
	return Func[A, R]{name: name, fn: fn}
}

// Register adds the task's function to reg (a *registry.Registry) under
// its name; a task declared with a nil function has none to register.
func (f Func[A, R]) Register(reg interface {
	Register(name string, fn any) error
}) error {
	if f.fn == nil {
		return fmt.Errorf("register %s: no function (a caller-side task, declared with nil)", f.name)
	}
	return reg.Register(f.name, f.fn)
}

// Call submits a call of the task with a to r and returns its Handle, the
// same as any Submit's; opts configure it as for any Submit. A struct a is
// the call's kwargs, so it takes no strand.Kwargs beside it.
func (f Func[A, R]) Call(ctx context.Context, r Runner, a A, opts ...Option) (Handle, error) {
	if r == nil {
		return nil, fmt.Errorf("submit %s: no runner", f.name)
	}
	args := []any{a}
	if kwargsType(reflect.TypeFor[A]()) {
		var o opt.Call
		for _, apply := range opts {
			if apply != nil {
				apply(&o)
			}
		}
		if o.Has("Kwargs") {
			return nil, fmt.Errorf("submit %s: %w: Kwargs: the task's argument %T is its kwargs already", f.name, ErrBadOption, a)
		}
		args, opts = nil, append([]Option{Kwargs(a)}, opts...)
	}
	return r.Submit(ctx, f.name, args, opts...)
}

// Result waits for the task of h (a call of f) to end and returns its
// result as an R, or the task's error (see Handle.Result).
func (f Func[A, R]) Result(ctx context.Context, h Handle) (R, error) {
	var r R
	err := h.Result(ctx, &r)
	return r, err
}

// kwargsType is the registry's rule for a handler's trailing parameter: a
// struct or a pointer to one, time.Time aside, binds the kwargs.
func kwargsType(t reflect.Type) bool {
	if t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	return t.Kind() == reflect.Struct && t != reflect.TypeFor[time.Time]()
}
