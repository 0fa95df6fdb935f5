package strand

import (
	"context"
	"iter"
	"time"
)

// Runner runs a call of a function by name somewhere — on NATS workers
// (*writer.Writer), in the caller (runner.Inline), on a goroutine pool
// (runner.Pool) or in a child process (runner.Process) — and returns a
// Handle to it. args are the function's positional args, encoded as on the
// wire; opts configure the call.
type Runner interface {
	Submit(ctx context.Context, fn string, args []any, opts ...Option) (Handle, error)
}

// Handle is the caller's hold on one submitted task, the same for every
// runner.
type Handle interface {
	// ID is the task's id.
	ID() string
	// Status is the task's status now; StatusUnknown when nothing
	// describes the id.
	Status(ctx context.Context) (Status, error)
	// Info is what is known of the task now: status, times, attempt,
	// worker, progress, meta and, once it has ended, its outcome.
	Info(ctx context.Context) (*Info, error)
	// Wait waits for the task to end and returns its outcome; the error is
	// that of waiting (ctx, ErrClosed, ErrNotFound), not the task's.
	Wait(ctx context.Context) (*Outcome, error)
	// Result waits for the task to end and decodes its result into out (a
	// pointer, or nil to discard it). A task that did not complete returns
	// its error: a *TaskError, matching ErrBadArgs, ErrTimeout, … with
	// errors.Is.
	Result(ctx context.Context, out any) error
	// Cancel stops the task: a pending one never runs, a running one has
	// its ctx cancelled. ErrFinished if it already had an outcome,
	// ErrNotFound if nothing describes it.
	Cancel(ctx context.Context) error
	// Progress is the task's last progress report, nil if none.
	Progress(ctx context.Context) (*Report, error)
	// WatchProgress calls fn with each progress report as it comes, until
	// the task ends, and returns its outcome.
	WatchProgress(ctx context.Context, fn func(Report)) (*Outcome, error)
	// Items yields the items an iterator handler produces, as they come
	// and from the first, then ends when the task does; a task that fails
	// midway yields the items so far, then its error.
	Items(ctx context.Context) iter.Seq2[Value, error]
}

// Value is an encoded value from a task — its result, or an item — that
// Decode turns into a Go value (a pointer to it), as the handler's return
// value was encoded.
type Value interface {
	Decode(out any) error
}

// Outcome is how a task ended, written once and never changed.
type Outcome struct {
	ID     string
	Status Status // completed, failed, cancelled or dead
	// Err is the task's error when it did not complete: a *TaskError of
	// its kind. Nil for a completed task.
	Err     error
	Attempt int // the attempt that ended it
	Worker  string
	Started time.Time
	Ended   time.Time
	Items   int64 // how many items an iterator handler produced
	// Result is the handler's return value, nil unless completed (and nil
	// for a handler that returns none).
	Result Value
}

// Decode decodes the task's result into out: the task's error if it did
// not complete; nothing (and nil) for a completed task without a result.
func (o *Outcome) Decode(out any) error {
	switch {
	case o.Status != StatusCompleted:
		if o.Err != nil {
			return o.Err
		}
		return &TaskError{Kind: Kind(o.Status), Message: "task " + o.ID + " " + string(o.Status)}
	case o.Result == nil || out == nil:
		return nil
	}
	return o.Result.Decode(out)
}

// Report is a handler's report of how far it has come (strand.Progress).
type Report struct {
	Done  int64
	Total int64 // 0 when unknown
	Note  string
	At    time.Time // when it was reported (zero if unknown)
}

// Info is what is known of a task now.
type Info struct {
	ID       string
	Queue    string
	Func     string
	Status   Status
	Attempt  int
	Worker   string
	Created  time.Time
	Started  time.Time
	Finished time.Time
	Progress *Report
	// Err is the task's error (a *TaskError) once it failed, was
	// cancelled, or while it waits to retry.
	Err   error
	Meta  map[string]string
	Items int64
	// RunAt is when a delayed task (status scheduled) becomes due.
	RunAt time.Time
	// Waiting says why a pending task has not started, when the server
	// knows a reason: "paused" (its queue is paused), "limit: …" or
	// "rate: …" (a worker holds it for a limit), "priority" (a low task),
	// "" otherwise.
	Waiting string
	// Priority is a queued task's priority lane: "high", "low", or "" (normal).
	Priority string
	// NextAttempt is when a retrying task runs again (zero otherwise).
	NextAttempt time.Time
}

// Items yields the items of h's task decoded as T, as they come; see
// Handle.Items.
func Items[T any](ctx context.Context, h Handle) iter.Seq2[T, error] {
	return func(yield func(T, error) bool) {
		for v, err := range h.Items(ctx) {
			var t T
			if err == nil {
				err = v.Decode(&t)
			}
			if !yield(t, err) || err != nil {
				return
			}
		}
	}
}
