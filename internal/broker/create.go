package broker

import (
	"context"
	"errors"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// CreateRetrying runs create (a stream or bucket creation) again when the
// server failed to create the store on disk: nats-server 2.15 answers
// "error creating store for stream" (err_code 10049, status 500) now and
// then on a loaded machine, and a second try succeeds. Other errors, and a
// ctx that ends, return at once.
func CreateRetrying[T any](ctx context.Context, create func() (T, error)) (T, error) {
	for try := 1; ; try++ {
		v, err := create()
		var apiErr *jetstream.APIError
		if err == nil || try == 4 || !errors.As(err, &apiErr) || apiErr.Code != 500 {
			return v, err
		}
		select {
		case <-ctx.Done():
			return v, err
		case <-time.After(time.Duration(try) * 100 * time.Millisecond):
		}
	}
}
