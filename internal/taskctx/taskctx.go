// Package taskctx is the plumbing between strand's runners (the reader, the
// runner package, strandtest) and a handler: the context values behind
// strand.TaskFrom and strand.Progress, and the error types behind
// strand.Retry and strand.Permanent, which runners read back.
package taskctx

import (
	"context"
	"time"
)

type taskKey struct{}

type progressKey struct{}

// WithTask returns a context carrying t, a strand.Task (strand.TaskFrom
// reads it back with Task).
func WithTask(ctx context.Context, t any) context.Context {
	return context.WithValue(ctx, taskKey{}, t)
}

// Task returns the value WithTask put in ctx, nil if none.
func Task(ctx context.Context) any { return ctx.Value(taskKey{}) }

// ProgressFunc receives a handler's progress reports.
type ProgressFunc func(done, total int64, note string)

// WithProgress returns a context whose strand.Progress reports go to report.
func WithProgress(ctx context.Context, report ProgressFunc) context.Context {
	return context.WithValue(ctx, progressKey{}, report)
}

// Progress returns the report function of ctx, nil if none.
func Progress(ctx context.Context) ProgressFunc {
	f, _ := ctx.Value(progressKey{}).(ProgressFunc)
	return f
}

// RetryError is what strand.Retry returns: a handler's request to run the
// task again after a delay, within the task's attempts. Workers find it
// with errors.As anywhere in the chain of the handler's error.
type RetryError struct {
	Err   error
	After time.Duration // 0: the worker's backoff policy
}

// Error returns the wrapped error's message.
func (e *RetryError) Error() string { return e.Err.Error() }

// Unwrap returns the wrapped error, so errors.Is and errors.As see it.
func (e *RetryError) Unwrap() error { return e.Err }

// PermanentError is what strand.Permanent returns: an error no retry can
// mend. Workers find it with errors.As and end the task failed at once.
type PermanentError struct {
	Err error
}

// Error returns the wrapped error's message.
func (e *PermanentError) Error() string { return e.Err.Error() }

// Unwrap returns the wrapped error, so errors.Is and errors.As see it.
func (e *PermanentError) Unwrap() error { return e.Err }
