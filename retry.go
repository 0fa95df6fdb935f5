package strand

import (
	"errors"
	"time"
)

// RetryError is what Retry returns: a handler's request to run the task
// again after a delay, within the task's attempts. Workers find it with
// errors.As anywhere in the chain of the handler's error.
type RetryError struct {
	Err   error
	After time.Duration // 0: the worker's backoff policy
}

// Retry asks for the task to run again after the given delay (0 = the
// worker's exponential backoff), as long as it has attempts left; err is
// recorded as the attempt's error. Past the last attempt the task is dead,
// as for any other error.
func Retry(err error, after time.Duration) error {
	if err == nil {
		err = errors.New("retry requested")
	}
	if after < 0 {
		after = 0
	}
	return &RetryError{Err: err, After: after}
}

// Error returns the wrapped error's message.
func (e *RetryError) Error() string { return e.Err.Error() }

// Unwrap returns the wrapped error, so errors.Is and errors.As see it.
func (e *RetryError) Unwrap() error { return e.Err }

// PermanentError is what Permanent returns: an error that no retry can
// mend. Workers find it with errors.As and end the task failed at once.
type PermanentError struct {
	Err error
}

// Permanent marks err as final: the task ends failed with this error and is
// never retried, whatever attempts it has left. errors.Is and errors.As still
// see err.
func Permanent(err error) error {
	if err == nil {
		err = errors.New("permanent failure")
	}
	return &PermanentError{Err: err}
}

// Error returns the wrapped error's message.
func (e *PermanentError) Error() string { return e.Err.Error() }

// Unwrap returns the wrapped error, so errors.Is and errors.As see it.
func (e *PermanentError) Unwrap() error { return e.Err }
