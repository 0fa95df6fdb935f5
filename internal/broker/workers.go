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
// An existing bucket is used as it is, like the task bucket. Workers looks
// the bucket up on every call; callers keep what it returns.
func (b *Broker) Workers(ctx context.Context) (jetstream.KeyValue, error) {
	name := b.names.WorkersBucket()
	ctx, stop := b.refusable(ctx, "$JS.API.STREAM.>", "$JS.API.INFO")
	defer stop()
	kv, err := b.js.KeyValue(ctx, name)
	if errors.Is(err, jetstream.ErrBucketNotFound) {
		kv, err = CreateRetrying(ctx, func() (jetstream.KeyValue, error) {
			return b.js.CreateKeyValue(ctx, jetstream.KeyValueConfig{
				Bucket:         name,
				Description:    "strand workers: one heartbeat record per live worker, expiring by per-key TTL",
				History:        1,
				Storage:        jetstream.FileStorage,
				Replicas:       b.cfg.Replicas,
				LimitMarkerTTL: markerTTL,
			})
		})
		if errors.Is(err, jetstream.ErrBucketExists) || errors.Is(err, jetstream.ErrStreamNameAlreadyInUse) {
			kv, err = b.js.KeyValue(ctx, name)
		}
	}
	if err = refused(ctx, err); err != nil {
		return nil, fmt.Errorf("provision bucket %s: %w", name, err)
	}
	return kv, nil
}
