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
	return b.ensureStream(ctx, "dead-letter", jetstream.StreamConfig{
		Name:        n.DLQStream(),
		Description: "strand dead letters: the envelopes of tasks whose every attempt failed, with the last error",
		Subjects:    []string{n.DLQSubjects()},
		MaxAge:      maxAge,
		Duplicates:  2 * time.Minute,
	})
}

// ensureStream creates a file-backed stream (limits retention unless cfg says otherwise) with the
// broker's replicas unless one of that name exists; an existing stream is
// used as it is, like the bucket.
func (b *Broker) ensureStream(ctx context.Context, what string, cfg jetstream.StreamConfig) error {
	cfg.Storage, cfg.Replicas = jetstream.FileStorage, b.cfg.Replicas
	err := retryTransient(ctx, func() error {
		_, err := b.js.Stream(ctx, cfg.Name)
		if errors.Is(err, jetstream.ErrStreamNotFound) {
			_, err = CreateRetrying(ctx, func() (jetstream.Stream, error) { return b.js.CreateStream(ctx, cfg) })
			if errors.Is(err, jetstream.ErrStreamNameAlreadyInUse) {
				err = nil
			}
		}
		return err
	})
	if err != nil {
		return fmt.Errorf("provision %s stream %s: %w", what, cfg.Name, err)
	}
	return nil
}
