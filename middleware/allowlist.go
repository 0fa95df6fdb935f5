package middleware

import (
	"context"
	"fmt"
	"slices"

	strand "github.com/strand-run/strand"
	"github.com/strand-run/strand/internal/opt"
	"github.com/strand-run/strand/reader"
	"github.com/strand-run/strand/writer"
)

// Allowlist maps a caller identity to the functions it may call ("*": all
// of them). The identity is the task's meta["caller"], set with
// strand.Caller or writer.Config.Caller; a task without one is checked as
// the caller "". An identity missing from the list may call nothing.
//
// The identity is what the producer says it is: the allowlist keeps honest
// services apart, and is as strong as the control over who may write to
// the queue (NATS accounts and permissions, the gateway's bearer tokens).
type Allowlist map[string][]string

// allowed reports whether caller may call fn.
func (a Allowlist) allowed(caller, fn string) bool {
	fns, ok := a[caller]
	return ok && (slices.Contains(fns, "*") || slices.Contains(fns, fn))
}

// check returns the refusal of fn for caller, or nil.
func (a Allowlist) check(meta map[string]string, fn string) *strand.TaskError {
	caller := meta[opt.MetaCaller]
	if a.allowed(caller, fn) {
		return nil
	}
	return &strand.TaskError{Kind: strand.ErrForbidden, Message: fmt.Sprintf("%s: caller %q may not call it", fn, caller)}
}

// Reader refuses, on the worker, a task whose caller may not call its
// function: the task fails at once, never retried, with kind "forbidden"
// (matching strand.ErrForbidden) and the message
// `<func>: caller "<caller>" may not call it`.
func (a Allowlist) Reader() reader.Middleware {
	return func(next reader.Handler) reader.Handler {
		return func(ctx context.Context, c *reader.Call) (any, error) {
			if err := a.check(c.Task.Meta, c.Task.Func); err != nil {
				return nil, err
			}
			return next(ctx, c)
		}
	}
}

// Writer refuses at submit a task whose caller may not call its function,
// with a *strand.TaskError of kind forbidden (it matches
// strand.ErrForbidden); nothing is written.
func (a Allowlist) Writer() writer.Middleware {
	return func(next writer.SubmitFunc) writer.SubmitFunc {
		return func(ctx context.Context, env *writer.Envelope) error {
			if err := a.check(env.Meta, env.Func); err != nil {
				return err
			}
			return next(ctx, env)
		}
	}
}
