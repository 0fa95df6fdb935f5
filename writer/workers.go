package writer

import (
	"context"

	"github.com/strand-run/strand/codec"
)

// Workers lists the live workers: the heartbeat records in the workers
// bucket, sorted by id. A worker that stopped gracefully is gone at once;
// one that died stays listed until its record's TTL (three heartbeats)
// ends. Records that do not decode are skipped.
func (w *Writer) Workers(ctx context.Context) ([]codec.Worker, error) {
	return w.b.ListWorkers(ctx, func(id string, err error) {
		w.log.Warn().Err(err).Str("key", id).Msg("skipping a worker record")
	})
}
