package broker

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/strand-run/strand/internal/codec"
)

// This file is the wire of worker heartbeats: each worker rewrites its
// record in the workers bucket (Names.WorkersBucket) with a TTL, and
// deletes it when it stops; writers list the records.

// EnsureWorkers makes the workers bucket unless it exists: a heartbeat
// has nowhere to go before.
func (b *Broker) EnsureWorkers(ctx context.Context) error {
	_, err := b.Workers(ctx)
	return err
}

// Beat writes worker id's heartbeat record (an encoded codec.Worker) with
// a TTL, so that the record of a worker that dies drops out by itself, and
// waits for the server.
func (b *Broker) Beat(ctx context.Context, id string, data []byte, ttl time.Duration) error {
	msg := &nats.Msg{Subject: b.names.WorkerSubject(id), Data: data}
	_, err := b.js.PublishMsg(ctx, msg, jetstream.WithMsgTTL(ttl))
	return err
}

// Retire deletes worker id's heartbeat record with a delete marker that
// itself expires after ttl, so that a worker that stops drops out at once.
func (b *Broker) Retire(ctx context.Context, id string, ttl time.Duration) error {
	msg := &nats.Msg{Subject: b.names.WorkerSubject(id), Header: nats.Header{}}
	msg.Header.Set(headerKVOperation, "DEL")
	_, err := b.js.PublishMsg(ctx, msg, jetstream.WithMsgTTL(ttl))
	return err
}

// Worker reads worker id's heartbeat record: nil while it has none.
func (b *Broker) Worker(ctx context.Context, id string) (*codec.Worker, error) {
	kv, err := b.Workers(ctx)
	if err != nil {
		return nil, err
	}
	e, err := kv.Get(ctx, id)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("worker %s: %w", id, err)
	}
	return codec.DecodeWorker(e.Value())
}

// ListWorkers reads the live workers' heartbeat records, sorted by id.
// Records that do not decode are skipped, each passed to skip (if not nil)
// with its error.
func (b *Broker) ListWorkers(ctx context.Context, skip func(id string, err error)) ([]codec.Worker, error) {
	kv, err := b.Workers(ctx)
	if err != nil {
		return nil, err
	}
	// One watcher reads every record with its value; it ends its initial
	// values with a nil entry.
	watch, err := kv.WatchAll(ctx, jetstream.IgnoreDeletes())
	if err != nil {
		return nil, fmt.Errorf("list workers: %w", err)
	}
	defer func() { _ = watch.Stop() }()
	var out []codec.Worker
	for {
		select {
		case e, ok := <-watch.Updates():
			if !ok {
				return nil, fmt.Errorf("list workers: watcher closed")
			}
			if e == nil {
				slices.SortFunc(out, func(a, b codec.Worker) int { return strings.Compare(a.ID, b.ID) })
				return out, nil
			}
			if len(e.Value()) == 0 {
				continue // a marker: the record was deleted or expired
			}
			rec, err := codec.DecodeWorker(e.Value())
			if err != nil {
				if skip != nil {
					skip(e.Key(), err)
				}
				continue
			}
			out = append(out, *rec)
		case <-ctx.Done():
			return nil, fmt.Errorf("list workers: %w", ctx.Err())
		}
	}
}
