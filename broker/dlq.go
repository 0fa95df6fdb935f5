package broker

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// DefaultDLQMaxAge is how long a dead letter is kept unless configured.
const DefaultDLQMaxAge = 30 * 24 * time.Hour

// Headers of a dead letter: the task's original envelope, with what it was
// and why it died. docs/protocol.md specifies them.
const (
	HeaderTaskID    = "Strand-Task-Id"
	HeaderQueue     = "Strand-Queue"
	HeaderErrorKind = "Strand-Error-Kind"
	HeaderError     = "Strand-Error"
	HeaderAttempts  = "Strand-Attempts"
	HeaderFailed    = "Strand-Failed" // unix ms
)

// DLQStream is the stream of dead letters: tasks whose every attempt failed.
func (n Names) DLQStream() string { return n.bucket + "_DLQ" }

// DLQSubject is the subject of queue's dead letters.
func (n Names) DLQSubject(queue string) string { return n.prefix + ".dlq." + queue }

// DLQSubjects matches every DLQSubject.
func (n Names) DLQSubjects() string { return n.prefix + ".dlq.>" }

// DLQ is the dead-letter stream.
func (b *Broker) DLQ(ctx context.Context) (jetstream.Stream, error) {
	return b.js.Stream(ctx, b.names.DLQStream())
}

// provisionDLQ creates the dead-letter stream unless it exists; an existing
// one is used as it is, like the bucket.
func (b *Broker) provisionDLQ(ctx context.Context) error {
	n := b.names
	maxAge := b.cfg.DLQMaxAge
	if maxAge <= 0 {
		maxAge = DefaultDLQMaxAge
	}
	_, err := b.js.Stream(ctx, n.DLQStream())
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		_, err = b.js.CreateStream(ctx, jetstream.StreamConfig{
			Name:        n.DLQStream(),
			Description: "strand dead letters: the envelopes of tasks whose every attempt failed, with the last error",
			Subjects:    []string{n.DLQSubjects()},
			Retention:   jetstream.LimitsPolicy,
			Storage:     jetstream.FileStorage,
			Replicas:    b.cfg.Replicas,
			MaxAge:      maxAge,
			Duplicates:  2 * time.Minute,
		})
		if errors.Is(err, jetstream.ErrStreamNameAlreadyInUse) {
			err = nil
		}
	}
	if err != nil {
		return fmt.Errorf("provision dead-letter stream %s: %w", n.DLQStream(), err)
	}
	return nil
}
