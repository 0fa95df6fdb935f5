package strand

import "errors"

// Sentinel errors that callers branch on with errors.Is.
var (
	// ErrUnknownFunc: no handler is registered under the task's function name.
	ErrUnknownFunc = errors.New("strand: unknown function")
	// ErrBadArgs: the task's args or kwargs do not fit the handler's signature.
	ErrBadArgs = errors.New("strand: bad arguments")
	// ErrMalformed: the bytes of a task are not a valid envelope.
	ErrMalformed = errors.New("strand: malformed envelope")
	// ErrDuplicate: a task with this id already exists.
	ErrDuplicate = errors.New("strand: duplicate task id")
	// ErrTooLarge: an envelope or a result is larger than the server accepts.
	ErrTooLarge = errors.New("strand: payload too large")
	// ErrNotFound: no record of the task exists (never submitted, or expired).
	ErrNotFound = errors.New("strand: task not found")
	// ErrFinished: the task already has an outcome, so it cannot be cancelled.
	ErrFinished = errors.New("strand: task already finished")
	// ErrCancelled: the task was cancelled.
	ErrCancelled = errors.New("strand: task cancelled")
	// ErrTimeout: the task ran past its time limit.
	ErrTimeout = errors.New("strand: task timed out")
	// ErrPanic: the handler panicked.
	ErrPanic = errors.New("strand: handler panicked")
	// ErrBadOption: a submission's option (queue, id, TTL, …) is invalid.
	ErrBadOption = errors.New("strand: bad option")
	// ErrClosed: the writer was closed while the call waited.
	ErrClosed = errors.New("strand: closed")
	// ErrCrashed: the child process running the task died without an outcome.
	ErrCrashed = errors.New("strand: task process crashed")
)

// Error kinds, the wire values of an outcome's error.kind.
const (
	KindError       = "error"        // the handler returned an error
	KindPanic       = "panic"        // the handler panicked
	KindTimeout     = "timeout"      // the handler ran past timeout_ms
	KindCancelled   = "cancelled"    // the task was cancelled
	KindUnknownFunc = "unknown_func" // no handler for the function name
	KindBadArgs     = "bad_args"     // args/kwargs do not fit the signature
	KindMalformed   = "malformed"    // the envelope could not be decoded
	KindTooLarge    = "too_large"    // the result is larger than the server accepts
	KindLost        = "lost"         // the task's workers died too many times
	KindCrashed     = "crashed"      // the child process running the task died
)

// TaskError is the error of a task that did not complete: its kind (one of
// the Kind constants) and a readable message naming the function.
type TaskError struct {
	Kind    string
	Message string
}

// Error returns the message; the kind is in Kind.
func (e *TaskError) Error() string { return e.Message }

// Is lets errors.Is match a TaskError against the sentinel of its kind.
func (e *TaskError) Is(target error) bool {
	switch target {
	case ErrUnknownFunc:
		return e.Kind == KindUnknownFunc
	case ErrBadArgs:
		return e.Kind == KindBadArgs
	case ErrMalformed:
		return e.Kind == KindMalformed
	case ErrTooLarge:
		return e.Kind == KindTooLarge
	case ErrCancelled:
		return e.Kind == KindCancelled
	case ErrTimeout:
		return e.Kind == KindTimeout
	case ErrPanic:
		return e.Kind == KindPanic
	case ErrCrashed:
		return e.Kind == KindCrashed
	case ErrForbidden:
		return e.Kind == KindForbidden
	}
	return false
}

// KindOf returns the error kind for err: the kind of a TaskError, or the
// kind matching a sentinel, else KindError.
func KindOf(err error) string {
	var te *TaskError
	if errors.As(err, &te) && te.Kind != "" {
		return te.Kind
	}
	for _, k := range []struct {
		err  error
		kind string
	}{
		{ErrUnknownFunc, KindUnknownFunc}, {ErrBadArgs, KindBadArgs}, {ErrMalformed, KindMalformed},
		{ErrTooLarge, KindTooLarge}, {ErrCancelled, KindCancelled}, {ErrTimeout, KindTimeout}, {ErrPanic, KindPanic},
		{ErrCrashed, KindCrashed}, {ErrForbidden, KindForbidden},
	} {
		if errors.Is(err, k.err) {
			return k.kind
		}
	}
	return KindError
}
