package strand

import "errors"

// Kind is the kind of a task's error: why a task did not complete. The
// kinds are the wire values of an outcome's error.kind (docs/protocol.md),
// and each kind is also the sentinel error that matches it:
//
//	if errors.Is(err, strand.ErrTimeout) { … }
//	switch strand.KindOf(err) { case strand.ErrBadArgs: … }
type Kind string

// The error kinds, each the sentinel of its kind.
const (
	// ErrFailed (kind "error"): the handler returned an error.
	ErrFailed Kind = "error"
	// ErrPanic: the handler panicked.
	ErrPanic Kind = "panic"
	// ErrTimeout: the task ran past its time limit.
	ErrTimeout Kind = "timeout"
	// ErrCancelled: the task was cancelled.
	ErrCancelled Kind = "cancelled"
	// ErrUnknownFunc: no handler is registered under the task's function name.
	ErrUnknownFunc Kind = "unknown_func"
	// ErrBadArgs: the task's args or kwargs do not fit the handler's signature.
	ErrBadArgs Kind = "bad_args"
	// ErrMalformed: the bytes of a task are not a valid envelope.
	ErrMalformed Kind = "malformed"
	// ErrTooLarge: an envelope or a result is larger than the server accepts.
	ErrTooLarge Kind = "too_large"
	// ErrLost: the task's workers died (or lost it) on every delivery.
	ErrLost Kind = "lost"
	// ErrCrashed: the child process running the task died without an outcome.
	ErrCrashed Kind = "crashed"
	// ErrForbidden: the task's caller may not call its function (an
	// authorisation middleware refused it); it is never retried.
	ErrForbidden Kind = "forbidden"
)

var kindText = map[Kind]string{
	ErrFailed:      "task failed",
	ErrPanic:       "handler panicked",
	ErrTimeout:     "task timed out",
	ErrCancelled:   "task cancelled",
	ErrUnknownFunc: "unknown function",
	ErrBadArgs:     "bad arguments",
	ErrMalformed:   "malformed envelope",
	ErrTooLarge:    "payload too large",
	ErrLost:        "task lost",
	ErrCrashed:     "task process crashed",
	ErrForbidden:   "forbidden",
}

// Error describes the kind ("strand: task timed out"); a kind from a newer
// peer that this version does not know reads "strand: <kind>".
func (k Kind) Error() string {
	if t, ok := kindText[k]; ok {
		return "strand: " + t
	}
	return "strand: " + string(k)
}

// Sentinel errors of the API (not error kinds of a task).
var (
	// ErrDuplicate: a task with this id (or unique key) already exists.
	ErrDuplicate = errors.New("strand: duplicate task id")
	// ErrNotFound: no record of the task exists (never submitted, or expired).
	ErrNotFound = errors.New("strand: task not found")
	// ErrFinished: the task already has an outcome, so it cannot be cancelled.
	ErrFinished = errors.New("strand: task already finished")
	// ErrBadOption: a submission's option (queue, id, TTL, …) is invalid, or
	// not one the runner can honour.
	ErrBadOption = errors.New("strand: bad option")
	// ErrClosed: the writer or runner was closed while the call waited.
	ErrClosed = errors.New("strand: closed")
)

// TaskError is the error of a task that did not complete: its kind and a
// readable message naming the function. errors.Is matches it against its
// kind's sentinel.
type TaskError struct {
	Kind    Kind
	Message string
}

// Error returns the message; the kind is in Kind.
func (e *TaskError) Error() string { return e.Message }

// Unwrap returns the kind, so that errors.Is(err, strand.ErrTimeout) holds
// for a task that timed out.
func (e *TaskError) Unwrap() error { return e.Kind }

// KindOf returns the error kind of err: the kind of a TaskError, a Kind
// found in its chain, else ErrFailed.
func KindOf(err error) Kind {
	var te *TaskError
	if errors.As(err, &te) && te.Kind != "" {
		return te.Kind
	}
	var k Kind
	if errors.As(err, &k) {
		return k
	}
	return ErrFailed
}
