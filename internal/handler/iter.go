package handler

import (
	"fmt"
	"reflect"
	"runtime/debug"
)

var boolType = reflect.TypeFor[bool]()

// iterYield reports whether t is shaped like iter.Seq[T] (func(yield
// func(T) bool)) or iter.Seq2[T, error] (func(yield func(T, error) bool)),
// named or not, and returns the type of its yield function.
func iterYield(t reflect.Type) (reflect.Type, bool) {
	if t.Kind() != reflect.Func || t.NumIn() != 1 || t.NumOut() != 0 || t.IsVariadic() {
		return nil, false
	}
	y := t.In(0)
	if y.Kind() != reflect.Func || y.NumOut() != 1 || y.Out(0) != boolType || y.IsVariadic() {
		return nil, false
	}
	switch y.NumIn() {
	case 1:
		return y, true
	case 2:
		return y, y.In(1) == errType
	}
	return nil, false
}

// Iterator reports whether the handler returns an iterator (iter.Seq[T] or
// iter.Seq2[T, error], optionally with a trailing error result): Call then
// returns the sequence, and Each ranges over it, so that a worker can send
// each item as it is produced.
func (f *Func) Iterator() bool { return f.iter != nil }

// Each ranges over seq, a sequence returned by Call of an iterator handler,
// calling yield with each item; yield returns false to stop early. An
// iter.Seq2[T, error] that yields a non-nil error passes it to yield as
// "<name>: <err>" (with a nil item); whether to go on is yield's choice.
// A panic inside the iterator ends the range and is returned as a
// *PanicError (matching strand.ErrPanic) with the stack.
func (f *Func) Each(seq any, yield func(item any, err error) bool) (err error) {
	if f.iter == nil {
		return fmt.Errorf("%s: not an iterator handler", f.name)
	}
	v := reflect.ValueOf(seq)
	if !v.IsValid() || v.Kind() != reflect.Func || v.IsNil() {
		return nil // a nil sequence yields nothing
	}
	two := f.iter.NumIn() == 2
	fn := reflect.MakeFunc(f.iter, func(args []reflect.Value) []reflect.Value {
		var e error
		item := args[0].Interface()
		if two {
			if x, _ := args[1].Interface().(error); x != nil {
				item, e = nil, fmt.Errorf("%s: %w", f.name, x)
			}
		}
		return []reflect.Value{reflect.ValueOf(yield(item, e))}
	})
	defer func() {
		if p := recover(); p != nil {
			err = &PanicError{Func: f.name, Value: p, Stack: debug.Stack()}
		}
	}()
	v.Call([]reflect.Value{fn})
	return nil
}
