package broker

import (
	"context"
	"errors"
	"fmt"

	"github.com/nats-io/nats.go/jetstream"
)

// Workers returns the bucket of worker heartbeat records (Names.WorkersBucket),
// creating it when it is missing. Each worker writes its record under its id
// with a per-key TTL, so a worker that dies drops out of the bucket by itself.
// The bucket keeps its records in memory: they are soft state, rewritten
// every heartbeat, and a server that restarts has them back within one; on
// disk they left a block file that grew with every heartbeat until the
// server compacted it. An existing bucket is used as it is, like the task
// bucket. Workers looks the bucket up on every call; callers keep what it
// returns.
func (b *Broker) Workers(ctx context.Context) (jetstream.KeyValue, error) {
	name := b.names.WorkersBucket()
	ctx, stop := b.refusable(ctx, "$JS.API.STREAM.>", "$JS.API.INFO")
	defer stop()
	kv, err := b.js.KeyValue(ctx, name)
	if errors.Is(err, jetstream.ErrBucketNotFound) {
		cfg := jetstream.KeyValueConfig{
			Bucket:         name,
			Description:    "strand workers: one heartbeat record per live worker, expiring by per-key TTL",
			History:        1,
			Storage:        jetstream.MemoryStorage,
			Replicas:       b.cfg.Replicas,
			LimitMarkerTTL: markerTTL,
		}
		create := func() (jetstream.KeyValue, error) { return b.js.CreateKeyValue(ctx, cfg) }
		kv, err = CreateRetrying(ctx, create)
		if noMemory(err) {
			// A server or account that allows no memory storage: on disk.
			cfg.Storage = jetstream.FileStorage
			kv, err = CreateRetrying(ctx, create)
		}
		if errors.Is(err, jetstream.ErrBucketExists) || errors.Is(err, jetstream.ErrStreamNameAlreadyInUse) {
			kv, err = b.js.KeyValue(ctx, name)
		}
	}
	if err = refused(ctx, err); err != nil {
		return nil, fmt.Errorf("provision bucket %s: %w", name, err)
	}
	return kv, nil
}

// noMemory reports whether err is the server's refusal of a memory stream
// for want of memory storage (none configured, or the account's limit).
func noMemory(err error) bool {
	var apiErr *jetstream.APIError
	if !errors.As(err, &apiErr) {
		return false
	}
	switch apiErr.ErrorCode {
	case 10002, 10023, 10028: // account resources exceeded, insufficient resources, memory resources exceeded
		return true
	}
	return false
}
