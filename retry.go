package strand

import (
	"errors"
	"time"

	"github.com/strand-run/strand/internal/taskctx"
)

// Retry asks for the task to run again after the given delay (0 = the
// worker's exponential backoff), as long as it has attempts left; err is
// recorded as the attempt's error. Past the last attempt the task is dead,
// as for any other error. Workers find the request anywhere in the chain of
// the handler's error; errors.Is and errors.As still see err.
func Retry(err error, after time.Duration) error {
	if err == nil {
		err = errors.New("retry requested")
	}
	if after < 0 {
		after = 0
	}
	return &taskctx.RetryError{Err: err, After: after}
}

// Permanent marks err as final: the task ends failed with this error and is
// never retried, whatever attempts it has left. errors.Is and errors.As still
// see err.
func Permanent(err error) error {
	if err == nil {
		err = errors.New("permanent failure")
	}
	return &taskctx.PermanentError{Err: err}
}
