package broker

import (
	"context"
	"errors"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Transient reports whether a JetStream write failed in a way that a
// retry can fix: the connection was lost or is reconnecting, the stream had
// no leader to answer (a cluster electing one), the answer timed out, or
// too many answers were outstanding to send it.
// Such a write may or may not have been stored; retry it with the same
// create-only expectation and treat "already exists" as possibly yours.
func Transient(err error) bool {
	if err == nil {
		return false
	}
	switch {
	case errors.Is(err, nats.ErrDisconnected),
		errors.Is(err, nats.ErrConnectionReconnecting),
		errors.Is(err, nats.ErrNoResponders),
		errors.Is(err, nats.ErrTimeout),
		errors.Is(err, context.DeadlineExceeded),
		errors.Is(err, jetstream.ErrNoStreamResponse),
		errors.Is(err, jetstream.ErrAsyncPublishTimeout),
		errors.Is(err, jetstream.ErrTooManyStalledMsgs): // 4096 answers outstanding: wait and send again
		return true
	}
	var apiErr *jetstream.APIError
	return errors.As(err, &apiErr) && apiErr.Code == 503 // JetStream temporarily unavailable
}
