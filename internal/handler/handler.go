// Package handler is a registered Go function with its signature analysed
// once: how a task's args and kwargs decode into its parameters, and how
// it is called (its ctx, result, error, iterator, panic). package registry
// maps names to them; workers and runners call them.
package handler

import (
	"context"
	"fmt"
	"reflect"
	"runtime/debug"
	"strings"
	"time"

	strand "github.com/strand-run/strand"
	"github.com/strand-run/strand/internal/codec"
)

var (
	ctxType   = reflect.TypeFor[context.Context]()
	errType   = reflect.TypeFor[error]()
	timeType  = reflect.TypeFor[time.Time]()
	anyType   = reflect.TypeFor[any]()
	emptyArgs = []codec.Raw{}
)

// Func is a registered handler, its signature analysed once.
type Func struct {
	name     string
	fn       reflect.Value
	hasCtx   bool
	params   []reflect.Type // positional, the last one the slice type if variadic
	variadic bool
	kwargs   reflect.Type // nil: takes no kwargs; else a struct or *struct type
	hasValue bool
	hasErr   bool
	// iter is set when the result is an iterator (iter.Seq[T] or
	// iter.Seq2[T, error] shaped): its yield function's type.
	iter reflect.Type
}

// New analyses fn, a handler registered as name.
func New(name string, fn any) (*Func, error) {
	v := reflect.ValueOf(fn)
	if v.Kind() != reflect.Func || v.IsNil() {
		return nil, fmt.Errorf("register %s: want a function, got %T", name, fn)
	}
	t := v.Type()
	f := &Func{name: name, fn: v, variadic: t.IsVariadic()}
	in := make([]reflect.Type, t.NumIn())
	for i := range in {
		in[i] = t.In(i)
	}
	if len(in) > 0 && in[0] == ctxType {
		f.hasCtx, in = true, in[1:]
	}
	if n := len(in); n > 0 && !f.variadic && isKwargs(in[n-1]) {
		f.kwargs, in = in[n-1], in[:n-1]
	}
	for i, p := range in {
		if p == ctxType {
			return nil, fmt.Errorf("register %s: context.Context must be the first parameter", name)
		}
		if err := decodable(p); err != nil {
			return nil, fmt.Errorf("register %s: parameter %d (%s): %v", name, i+1, p, err)
		}
	}
	f.params = in
	switch t.NumOut() {
	case 0:
	case 1:
		if t.Out(0) == errType {
			f.hasErr = true
		} else {
			f.hasValue = true
		}
	case 2:
		if t.Out(1) != errType {
			return nil, fmt.Errorf("register %s: the second result must be error, got %s", name, t.Out(1))
		}
		f.hasValue, f.hasErr = true, true
	default:
		return nil, fmt.Errorf("register %s: want at most (value, error) results, got %d", name, t.NumOut())
	}
	if f.hasValue {
		if y, ok := iterYield(t.Out(0)); ok {
			f.iter = y
			if err := decodable(y.In(0)); err != nil {
				return nil, fmt.Errorf("register %s: items %s: %v", name, y.In(0), err)
			}
			return f, nil
		}
		if err := decodable(t.Out(0)); err != nil {
			return nil, fmt.Errorf("register %s: result %s: %v", name, t.Out(0), err)
		}
	}
	return f, nil
}

func isKwargs(t reflect.Type) bool {
	if t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	return t.Kind() == reflect.Struct && t != timeType
}

func decodable(t reflect.Type) error {
	switch t.Kind() {
	case reflect.Chan, reflect.Func, reflect.UnsafePointer, reflect.Complex64, reflect.Complex128:
		return fmt.Errorf("%s values cannot travel in a task", t.Kind())
	case reflect.Interface:
		if t != anyType && t != errType {
			return fmt.Errorf("interface %s cannot be decoded; use a concrete type or any", t)
		}
	}
	return nil
}

// Name is the name the handler is registered under.
func (f *Func) Name() string { return f.name }

// Call decodes args and kwargs (in format) into the handler's parameters and
// runs it. Errors name the function: decoding errors match strand.ErrBadArgs,
// a panic becomes a *PanicError (matching strand.ErrPanic) with the stack,
// and the handler's own error is returned wrapped as "<name>: <err>".
func (f *Func) Call(ctx context.Context, format codec.Format, args []codec.Raw, kwargs codec.Raw) (result any, err error) {
	in, err := f.decode(format, args, kwargs)
	if err != nil {
		return nil, err
	}
	if f.hasCtx {
		in = append([]reflect.Value{reflect.ValueOf(ctx)}, in...)
	}
	defer func() {
		if p := recover(); p != nil {
			result, err = nil, &PanicError{Func: f.name, Value: p, Stack: debug.Stack()}
		}
	}()
	var out []reflect.Value
	if f.variadic {
		out = f.fn.CallSlice(in)
	} else {
		out = f.fn.Call(in)
	}
	if f.hasErr {
		if e, _ := out[len(out)-1].Interface().(error); e != nil {
			return nil, fmt.Errorf("%s: %w", f.name, e)
		}
	}
	if f.hasValue {
		return out[0].Interface(), nil
	}
	return nil, nil
}

func (f *Func) badArgs(format string, a ...any) error {
	return &strand.TaskError{Kind: strand.ErrBadArgs, Message: f.name + ": " + fmt.Sprintf(format, a...)}
}

func (f *Func) decode(format codec.Format, args []codec.Raw, kwargs codec.Raw) ([]reflect.Value, error) {
	if args == nil {
		args = emptyArgs
	}
	n := len(f.params)
	switch {
	case f.variadic && len(args) < n-1:
		return nil, f.badArgs("want at least %d args, got %d", n-1, len(args))
	case !f.variadic && len(args) != n:
		return nil, f.badArgs("want %d args, got %d", n, len(args))
	}
	in := make([]reflect.Value, 0, n+1)
	for i, p := range f.params {
		if f.variadic && i == n-1 {
			rest := reflect.MakeSlice(p, 0, len(args)-i)
			for j := i; j < len(args); j++ {
				v, err := decodeArg(format, args[j], p.Elem())
				if err != nil {
					return nil, f.badArgs("arg %d: %v", j+1, err)
				}
				rest = reflect.Append(rest, v)
			}
			in = append(in, rest)
			break
		}
		v, err := decodeArg(format, args[i], p)
		if err != nil {
			return nil, f.badArgs("arg %d: %v", i+1, err)
		}
		in = append(in, v)
	}
	if f.kwargs == nil {
		if !kwargs.IsNil() {
			if v, err := codec.ToAny(format, kwargs); err != nil || !isEmptyMap(v) {
				return nil, f.badArgs("takes no kwargs, got %s", codec.Describe(format, kwargs))
			}
		}
		return in, nil
	}
	kt, ptr := f.kwargs, false
	if kt.Kind() == reflect.Pointer {
		kt, ptr = kt.Elem(), true
	}
	kv := reflect.New(kt)
	if !kwargs.IsNil() {
		if err := codec.DecodeValue(format, kwargs, kv.Interface(), true); err != nil {
			return nil, f.badArgs("kwargs: %s", strings.TrimPrefix(err.Error(), "msgpack: "))
		}
	}
	if ptr {
		return append(in, kv), nil
	}
	return append(in, kv.Elem()), nil
}

func isEmptyMap(v any) bool {
	switch m := v.(type) {
	case map[string]any:
		return len(m) == 0
	case map[any]any:
		return len(m) == 0
	}
	return false
}

// decodeArg decodes one argument into a new value of type t, refusing what
// would be silently changed: nil for a non-nillable type, fractions or
// out-of-range numbers for integers.
func decodeArg(format codec.Format, r codec.Raw, t reflect.Type) (reflect.Value, error) {
	want := func() error {
		return fmt.Errorf("want %s, got %s", t, codec.Describe(format, r))
	}
	if r.IsNil() {
		switch t.Kind() {
		case reflect.Pointer, reflect.Interface, reflect.Slice, reflect.Map:
			return reflect.Zero(t), nil
		}
		return reflect.Value{}, want()
	}
	switch t.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return decodeInt(format, r, t, want)
	}
	v := reflect.New(t)
	if err := codec.DecodeValue(format, r, v.Interface(), false); err != nil {
		return reflect.Value{}, want()
	}
	return v.Elem(), nil
}

func decodeInt(format codec.Format, r codec.Raw, t reflect.Type, want func() error) (reflect.Value, error) {
	x, err := codec.ToAny(format, r)
	if err != nil {
		return reflect.Value{}, want()
	}
	v := reflect.New(t).Elem()
	var i int64
	var u uint64
	var neg bool
	switch n := x.(type) {
	case int8:
		i = int64(n)
	case int16:
		i = int64(n)
	case int32:
		i = int64(n)
	case int64:
		i = n
	case uint8:
		u = uint64(n)
	case uint16:
		u = uint64(n)
	case uint32:
		u = uint64(n)
	case uint64:
		u = n
	default:
		return reflect.Value{}, want()
	}
	switch x.(type) {
	case int8, int16, int32, int64:
		if i < 0 {
			neg = true
		} else {
			u = uint64(i)
		}
	}
	switch t.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		if !neg {
			if u > 1<<63-1 {
				return reflect.Value{}, fmt.Errorf("want %s, got int %d (out of range)", t, u)
			}
			i = int64(u)
		}
		if v.OverflowInt(i) {
			return reflect.Value{}, fmt.Errorf("want %s, got int %d (out of range)", t, i)
		}
		v.SetInt(i)
	default:
		if neg || v.OverflowUint(u) {
			return reflect.Value{}, fmt.Errorf("want %s, got %s (out of range)", t, codec.Describe(format, r))
		}
		v.SetUint(u)
	}
	return v, nil
}

// PanicError is a handler's panic, recovered: the value and the stack.
type PanicError struct {
	Func  string
	Value any
	Stack []byte
}

func (e *PanicError) Error() string { return fmt.Sprintf("%s: panic: %v", e.Func, e.Value) }

// Unwrap returns strand.ErrPanic, the kind of a panic, so that errors.Is
// and strand.KindOf see it.
func (e *PanicError) Unwrap() error { return strand.ErrPanic }
