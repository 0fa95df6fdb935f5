package writer

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	strand "github.com/strand-run/strand"
)

// ErrNotFinished: the task has no outcome yet, so its records cannot be purged.
var ErrNotFinished = errors.New("strand: task not finished")

// purgeMarkerTTL is how long the delete markers Purge leaves stay: after
// it, the id is free again.
const purgeMarkerTTL = time.Minute

// Purge removes a finished task's records now instead of when their TTLs
// end: its outcome, its state, its streamed items, and its task record. The
// id becomes free again a minute later. A task without an outcome is
// refused with ErrNotFinished (cancel it first), an unknown one with
// strand.ErrNotFound.
func (h *Handle) Purge(ctx context.Context) error {
	o, _, err := h.outcome(ctx)
	if err != nil {
		return err
	}
	if o == nil {
		tr, err := h.task(ctx)
		if err != nil {
			return err
		}
		if tr != nil {
			return fmt.Errorf("purge %s: %w", h.id, ErrNotFinished)
		}
		return fmt.Errorf("purge %s: %w", h.id, strand.ErrNotFound)
	}
	n := h.w.names
	queue := o.Queue
	if queue == "" {
		queue = h.queue
	}
	// Delete markers, not purges: a rollup purge on the bucket's stream
	// can drop the queue consumer's pending redeliveries (decisions.md).
	keys := []string{n.StateKey(h.id), n.ResultKey(h.id)}
	if queue != "" {
		keys = append([]string{n.TaskKey(queue, h.id)}, keys...)
	}
	for _, key := range keys {
		m := &nats.Msg{Subject: n.KeySubject(key), Header: nats.Header{}}
		m.Header.Set(headerKVOperation, "DEL")
		if _, err := h.w.b.JetStream().PublishMsg(ctx, m, jetstream.WithMsgTTL(purgeMarkerTTL)); err != nil {
			return fmt.Errorf("purge %s: delete %s: %w", h.id, key, err)
		}
	}
	items, err := h.w.b.JetStream().Stream(ctx, n.ItemsStream())
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		return nil
	}
	if err == nil {
		err = items.Purge(ctx, jetstream.WithPurgeSubject(n.ItemsSubject(h.id)))
	}
	if err != nil {
		return fmt.Errorf("purge %s: items: %w", h.id, err)
	}
	return nil
}
