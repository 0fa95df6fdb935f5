package writer

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/strand-run/strand/codec"
)

// Workers lists the live workers: the heartbeat records in the workers
// bucket, sorted by id. A worker that stopped gracefully is gone at once;
// one that died stays listed until its record's TTL (three heartbeats)
// ends. Records that do not decode are skipped.
func (w *Writer) Workers(ctx context.Context) ([]codec.Worker, error) {
	kv, err := w.b.Workers(ctx)
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
				w.log.Warn().Err(err).Str("key", e.Key()).Msg("skipping a worker record")
				continue
			}
			out = append(out, *rec)
		case <-ctx.Done():
			return nil, fmt.Errorf("list workers: %w", ctx.Err())
		}
	}
}
