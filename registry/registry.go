package registry

import (
	"context"
	"fmt"
	"reflect"
	"runtime/debug"
	"slices"
	"strings"
	"sync"
	"time"

	strand "github.com/strand-run/strand"
	"github.com/strand-run/strand/internal/codec"
)

// Registry maps function names to handlers. It is safe for concurrent use;
// workers look names up on every task, registration happens at start-up.
type Registry struct {
	mu    sync.RWMutex
	funcs map[string]*Func
}

// New returns an empty registry.
func New() *Registry { return &Registry{funcs: make(map[string]*Func)} }

// Register adds fn under name. fn is a plain Go function:
//
//	func([ctx context.Context,] p1 T1, …, pN TN[, kw K]) ([R,] [error])
//
// The optional leading context.Context receives the task's context (its
// deadline, cancellation, and strand.TaskFrom). Positional parameters are
// decoded from the task's args. An optional trailing struct (or pointer to
// struct) parameter K is filled from the task's kwargs by its msgpack tags
// (json tags when a field has none); unknown kwargs are refused. A variadic
// last parameter takes the remaining args. A result of type iter.Seq[T] or
// iter.Seq2[T, error] makes an iterator handler (see Func.Iterator), whose
// items a worker streams as they are produced. Register refuses signatures it
// cannot call, names already taken, and names that are not 1–128 printable
// characters without spaces.
func (r *Registry) Register(name string, fn any) error {
	if err := validName(name); err != nil {
		return err
	}
	f, err := newFunc(name, fn)
	if err != nil {
		return err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, dup := r.funcs[name]; dup {
		return fmt.Errorf("register %s: name already registered", name)
	}
	r.funcs[name] = f
	return nil
}

// MustRegister is Register that panics on error, for start-up code.
func (r *Registry) MustRegister(name string, fn any) {
	if err := r.Register(name, fn); err != nil {
		panic(err)
	}
}

// Lookup returns the handler registered under name.
func (r *Registry) Lookup(name string) (*Func, bool) {
	r.mu.RLock()
	f, ok := r.funcs[name]
	r.mu.RUnlock()
	return f, ok
}

// Names lists the registered names, sorted.
func (r *Registry) Names() []string {
	r.mu.RLock()
	defer r.mu.RUnlock()
	names := make([]string, 0, len(r.funcs))
	for n := range r.funcs {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

func validName(name string) error {
	if name == "" || len(name) > 128 {
		return fmt.Errorf("register %q: a name has 1-128 characters", name)
	}
	if strings.ContainsFunc(name, func(c rune) bool { return c <= ' ' || c == 0x7f }) {
		return fmt.Errorf("register %q: a name has no spaces or control characters", name)
	}
	return nil
}

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

func newFunc(name string, fn any) (*Func, error) {
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
