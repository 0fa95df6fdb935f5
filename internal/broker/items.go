package broker

import (
	"context"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// DefaultItemsMaxAge is how long streamed items are kept unless configured:
// the default result TTL, so that items live as long as the outcome.
const DefaultItemsMaxAge = 24 * time.Hour

// Headers of streamed items and of the end marker that follows them;
// docs/protocol.md specifies them. An end marker may carry HeaderErrorKind
// and HeaderError.
const (
	HeaderItem    = "Strand-Item"    // an item's number, from 0
	HeaderEnd     = "Strand-End"     // the end marker: how many items came before it
	HeaderAttempt = "Strand-Attempt" // the attempt that produced the message
)

// ItemsStream is the stream of items streamed by iterator handlers.
func (n Names) ItemsStream() string { return n.bucket + "_ITEMS" }

// ItemsSubject is the subject of the items and end marker of task id in queue.
func (n Names) ItemsSubject(queue, id string) string { return n.prefix + ".items." + queue + "." + id }

// ItemsSubjects matches every ItemsSubject.
func (n Names) ItemsSubjects() string { return n.prefix + ".items.>" }

// ItemsConsumer returns an ordered consumer of the items of task id in
// queue, from the first. A user who may not read them gets an error
// wrapping strand.ErrForbidden at once.
func (b *Broker) ItemsConsumer(ctx context.Context, queue, id string) (jetstream.Consumer, error) {
	n := b.names
	ctx, stop := b.refusable(ctx, "$JS.API.CONSUMER.CREATE."+n.ItemsStream()+".>")
	defer stop()
	cons, err := b.js.OrderedConsumer(ctx, n.ItemsStream(), jetstream.OrderedConsumerConfig{
		FilterSubjects: []string{n.ItemsSubject(queue, id)}, DeliverPolicy: jetstream.DeliverAllPolicy,
	})
	if err = refused(ctx, err); err != nil {
		return nil, fmt.Errorf("read items of %s: %w", id, err)
	}
	return cons, nil
}

// provisionItems creates the items stream unless it exists; an existing one
// is used as it is, like the bucket.
func (b *Broker) provisionItems(ctx context.Context) error {
	n := b.names
	maxAge := b.cfg.ItemsMaxAge
	if maxAge <= 0 {
		maxAge = DefaultItemsMaxAge
	}
	return b.ensureStream(ctx, "items", jetstream.StreamConfig{
		Name:        n.ItemsStream(),
		Description: "strand streamed items: what iterator handlers yield, then an end marker, per task",
		Subjects:    []string{n.ItemsSubjects()},
		MaxAge:      maxAge,
	})
}
