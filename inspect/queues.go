package inspect

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	strand "github.com/strand-run/strand"
	"github.com/strand-run/strand/internal/broker"
	"github.com/strand-run/strand/internal/codec"
)

// QueueInfo is one queue: what its consumer counts (or, for a queue no
// worker has consumed yet, what its tasks count), its dead letters, its
// live workers and its pause state.
type QueueInfo struct {
	Queue string
	// Consumed is set when a worker has consumed the queue: its durable
	// consumer exists and the counters below are the consumer's.
	Consumed    bool
	Depth       uint64    // tasks waiting, not yet delivered to a worker
	DepthHigh   uint64    // of Depth, in the high priority lane
	DepthLow    uint64    // of Depth, in the low priority lane
	InFlight    int       // delivered, not yet acknowledged
	Redelivered int       // in flight and delivered more than once
	Waiting     int       // workers' pull requests waiting for tasks
	LastActive  time.Time // the last delivery or acknowledgement; zero if none
	Dead        uint64    // tasks in the dead-letter stream
	Workers     int       // live workers that consume the queue
	Paused      bool      // paused across the fleet (Pause)
	PausedSince time.Time // when it was paused; zero when it is not
	// Idle is set when the queue has tasks and no live worker: its tasks
	// wait until one starts.
	Idle bool
}

// Queues lists every queue with tasks, queued or dead, with or without a
// consumer and workers, sorted by name; or, given names, those queues in
// that order, a queue with nothing in it too (a paused queue may have no
// task yet). A bad queue name is refused with an error wrapping
// strand.ErrBadOption.
func (in *Inspector) Queues(ctx context.Context, names ...string) ([]QueueInfo, error) {
	for _, q := range names {
		if err := codec.ValidQueue(q); err != nil {
			return nil, fmt.Errorf("queues: %w: %v", strand.ErrBadOption, err)
		}
	}
	qs, err := in.b.Queues(ctx)
	if err != nil {
		return nil, fmt.Errorf("queues: %w", err)
	}
	dead, err := in.b.DLQCounts(ctx)
	if err != nil {
		return nil, fmt.Errorf("queues: dead letters: %w", err)
	}
	ws, err := in.Workers(ctx)
	if err != nil {
		return nil, fmt.Errorf("queues: %w", err)
	}
	all := in.queues(ctx, qs, dead, ws)
	if len(names) == 0 {
		return all, nil
	}
	byName := make(map[string]QueueInfo, len(all))
	for _, q := range all {
		byName[q.Queue] = q
	}
	out := make([]QueueInfo, 0, len(names))
	for _, name := range names {
		q, ok := byName[name]
		if !ok { // nothing of it on the server but, perhaps, its pause record
			q = QueueInfo{Queue: name}
			for _, w := range ws {
				if slices.Contains(w.Queues, name) {
					q.Workers++
				}
			}
			if p, err := in.b.Paused(ctx, name); err == nil && p != nil {
				q.Paused, q.PausedSince = true, time.UnixMilli(p.Since)
			}
		}
		out = append(out, q)
	}
	return out, nil
}

func (in *Inspector) queues(ctx context.Context, qs []broker.QueueInfo, dead map[string]uint64, ws []WorkerInfo) []QueueInfo {
	workers := map[string]int{}
	for _, w := range ws {
		for _, q := range w.Queues {
			workers[q]++
		}
	}
	out := make([]QueueInfo, 0, len(qs))
	listed := map[string]bool{}
	for _, q := range qs {
		listed[q.Queue] = true
		out = append(out, QueueInfo{
			Queue: q.Queue, Consumed: q.Consumer != "", Depth: q.Depth, DepthHigh: q.DepthHigh, DepthLow: q.DepthLow,
			InFlight: q.InFlight, Redelivered: q.Redelivered, Waiting: q.Waiting, LastActive: q.LastActive,
			Dead: dead[q.Queue], Workers: workers[q.Queue],
		})
	}
	for q, n := range dead {
		if !listed[q] {
			out = append(out, QueueInfo{Queue: q, Dead: n, Workers: workers[q]})
		}
	}
	for i := range out {
		if p, err := in.b.Paused(ctx, out[i].Queue); err == nil && p != nil {
			out[i].Paused, out[i].PausedSince = true, time.UnixMilli(p.Since)
		}
	}
	for i := range out {
		q := &out[i]
		q.Idle = q.Workers == 0 && (q.Depth > 0 || q.InFlight > 0 || !q.Consumed)
	}
	slices.SortFunc(out, func(a, b QueueInfo) int { return strings.Compare(a.Queue, b.Queue) })
	return out
}

// WorkerInfo is one live worker, from its heartbeat record.
type WorkerInfo struct {
	ID          string
	Host        string
	PID         int
	Queues      []string // the queues it consumes
	Functions   []string // the functions it runs
	Concurrency int      // its pool size
	InFlight    int      // tasks it runs now
	Started     time.Time
	Beat        time.Time // its last heartbeat
	Version     string    // strand's module version it runs, or "dev"
}

// Workers lists the live workers, sorted by id. A worker that stopped
// gracefully is gone at once; one that died stays listed until its record's
// TTL (three heartbeats) ends. Records that do not decode are skipped.
func (in *Inspector) Workers(ctx context.Context) ([]WorkerInfo, error) {
	ws, err := in.b.ListWorkers(ctx, func(id string, err error) {
		in.log.Warn().Err(err).Str("key", id).Msg("skipping a worker record")
	})
	if err != nil {
		return nil, fmt.Errorf("workers: %w", err)
	}
	out := make([]WorkerInfo, 0, len(ws))
	for _, w := range ws {
		out = append(out, WorkerInfo{
			ID: w.ID, Host: w.Host, PID: w.PID, Queues: w.Queues, Functions: w.Functions,
			Concurrency: w.Concurrency, InFlight: w.InFlight,
			Started: time.UnixMilli(w.Started), Beat: time.UnixMilli(w.Beat), Version: w.Version,
		})
	}
	return out, nil
}

// Pause pauses queue across the fleet: its workers start none of its tasks
// until Resume, while producers may go on submitting and running tasks
// finish. The pause is a record on the server: it survives restarts of
// workers and servers.
func (in *Inspector) Pause(ctx context.Context, queue string) error {
	return in.b.Pause(ctx, queue, in.cfg.Caller)
}

// Resume lets queue's workers start its tasks again. Queues(ctx, queue)
// says whether a queue is paused, and since when.
func (in *Inspector) Resume(ctx context.Context, queue string) error {
	return in.b.Resume(ctx, queue)
}
