package registry

import (
	"fmt"
	"strings"

	"github.com/strand-run/strand/internal/handler"
)

// Registry maps function names to handlers. It is safe for concurrent use;
// workers look names up on every task, registration happens at start-up.
type Registry handler.Table

// New returns an empty registry.
func New() *Registry { return (*Registry)(handler.NewTable()) }

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
	f, err := handler.New(name, fn)
	if err != nil {
		return err
	}
	return (*handler.Table)(r).Add(f)
}

// MustRegister is Register that panics on error, for start-up code.
func (r *Registry) MustRegister(name string, fn any) {
	if err := r.Register(name, fn); err != nil {
		panic(err)
	}
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
