package broker

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/strand-run/strand/internal/codec"
)

// QueueInfo is one queue as its durable consumer counts it, or, for a
// queue that has tasks but no consumer (no worker ever consumed it), as
// its tasks in the stream count it.
type QueueInfo struct {
	Queue       string    // the queue's name
	Consumer    string    // its consumer, Names.Consumer(queue); "" when it has none
	Depth       uint64    // tasks waiting, not yet delivered (NumPending)
	InFlight    int       // delivered, not yet acknowledged (NumAckPending)
	Redelivered int       // delivered more than once, not yet acknowledged
	Waiting     int       // pull requests of workers waiting for tasks
	LastActive  time.Time // the last delivery or acknowledgement; zero if none
	// The tasks of Depth waiting in the high and low priority lanes.
	DepthHigh, DepthLow uint64
}

// Queues lists the queues, sorted by name: the durable consumers
// <prefix>-<queue> on the tasks stream whose filter is the queue's, and the
// queues that have tasks in the stream but no consumer (a queue no worker
// has consumed yet). The gateway, the metrics collector and `strand queues`
// all read it.
//
// The queues without a consumer are found by their tasks: when the stream
// holds more tasks than the consumers count, Queues reads the tasks it has
// not read before (up to queueWalk per call) for their queues' names, and
// remembers the names; each such queue then costs one direct get batch.
func (b *Broker) Queues(ctx context.Context) ([]QueueInfo, error) {
	st, err := b.js.Stream(ctx, b.names.TasksStream())
	if err != nil {
		return nil, fmt.Errorf("list queues: %w", err)
	}
	out, err := b.consumerQueues(ctx, st)
	if err != nil {
		return nil, err
	}
	out, err = b.queuesWithoutConsumer(ctx, st, out)
	if err != nil {
		return nil, err
	}
	slices.SortFunc(out, func(a, b QueueInfo) int { return strings.Compare(a.Queue, b.Queue) })
	return out, nil
}

// queueWalk bounds the tasks one Queues call reads to find queues.
const queueWalk = 4 * batchMax

// queuesSeen remembers the queues found by their tasks, and up to which
// sequence of the tasks stream every task's queue is known.
type queuesSeen struct {
	mu    sync.Mutex
	names map[string]bool
	upTo  uint64
}

// queuesWithoutConsumer adds to qs the queues that have tasks in the
// stream but no consumer.
func (b *Broker) queuesWithoutConsumer(ctx context.Context, st jetstream.Stream, qs []QueueInfo) ([]QueueInfo, error) {
	info := st.CachedInfo() // just read by Queues' lookup of the stream
	known := make(map[string]bool, len(qs))
	var counted uint64
	for _, q := range qs {
		known[q.Queue] = true
		counted += q.Depth + uint64(q.InFlight)
	}
	b.seen.mu.Lock()
	defer b.seen.mu.Unlock()
	if b.seen.names == nil {
		b.seen.names = map[string]bool{}
	}
	// The stream's tasks that the consumers do not count are in other
	// queues: read the tasks not read before for their queues' names.
	stream := b.names.TasksStream()
	counts := map[string]uint64{}
	if info.State.Msgs > counted+b.countSeen(ctx, known, counts) {
		from := max(b.seen.upTo+1, info.State.FirstSeq)
		for read := 0; read < queueWalk && from <= info.State.LastSeq; {
			recs, _, err := b.batch(ctx, stream, b.names.TaskSubjects(), from, batchMax)
			if err != nil {
				return nil, fmt.Errorf("list queues: %w", err)
			}
			if len(recs) == 0 {
				from = info.State.LastSeq + 1
				break
			}
			for _, rec := range recs {
				if q, _, ok := b.names.ParseTaskSubject(rec.Subject); ok && !known[q] {
					b.seen.names[q] = true
				}
				from = rec.Seq + 1
			}
			read += len(recs)
		}
		b.seen.upTo = from - 1
	} else {
		b.seen.upTo = max(b.seen.upTo, info.State.LastSeq)
	}
	b.countSeen(ctx, known, counts)
	for q, n := range counts {
		qs = append(qs, QueueInfo{Queue: q, Depth: n})
	}
	return qs, nil
}

// countSeen counts the tasks of the remembered queues that have no
// consumer and are not counted yet, into counts (forgetting those that
// have none left), and returns the sum of counts.
func (b *Broker) countSeen(ctx context.Context, known map[string]bool, counts map[string]uint64) uint64 {
	for q := range b.seen.names {
		if _, done := counts[q]; done {
			continue
		}
		if known[q] {
			delete(b.seen.names, q)
			continue
		}
		n, err := b.count(ctx, b.names.TasksStream(), b.names.QueueFilter(q))
		if err != nil {
			continue
		}
		if n == 0 {
			delete(b.seen.names, q)
			continue
		}
		counts[q] = n
	}
	var sum uint64
	for _, n := range counts {
		sum += n
	}
	return sum
}

// consumerQueues lists the queues that have a consumer.
func (b *Broker) consumerQueues(ctx context.Context, st jetstream.Stream) ([]QueueInfo, error) {
	var out []QueueInfo
	byQueue := map[string]int{}
	pre := b.names.Consumer("")
	lister := st.ListConsumers(ctx)
	for ci := range lister.Info() {
		token, ok := strings.CutPrefix(ci.Name, pre)
		queue, lane, _ := strings.Cut(token, laneSep)
		if !ok || codec.ValidQueue(queue) != nil || ci.Config.FilterSubject != b.names.LaneFilter(queue, lane) {
			continue
		}
		i, seen := byQueue[queue]
		if !seen {
			i = len(out)
			byQueue[queue] = i
			out = append(out, QueueInfo{Queue: queue, Consumer: b.names.Consumer(queue)})
		}
		q := &out[i]
		q.Depth += ci.NumPending
		q.InFlight += ci.NumAckPending
		q.Redelivered += ci.NumRedelivered
		q.Waiting += ci.NumWaiting
		switch lane {
		case LaneHigh:
			q.DepthHigh = ci.NumPending
		case LaneLow:
			q.DepthLow = ci.NumPending
		}
		for _, t := range []*time.Time{ci.Delivered.Last, ci.AckFloor.Last} {
			if t != nil && t.After(q.LastActive) {
				q.LastActive = *t
			}
		}
	}
	if err := lister.Err(); err != nil {
		return nil, fmt.Errorf("list queues: %w", err)
	}
	return out, nil
}

// DLQCounts returns how many dead tasks the dead-letter stream holds per
// queue (queues without any are absent).
func (b *Broker) DLQCounts(ctx context.Context) (map[string]uint64, error) {
	st, err := b.DLQ(ctx)
	if err != nil {
		return nil, err
	}
	info, err := st.Info(ctx, jetstream.WithSubjectFilter(b.names.DLQSubjects()))
	if err != nil {
		return nil, fmt.Errorf("dead letters: %w", err)
	}
	pre := b.names.DLQSubject("")
	out := make(map[string]uint64, len(info.State.Subjects))
	for subj, n := range info.State.Subjects {
		if q, ok := strings.CutPrefix(subj, pre); ok {
			out[q] += n
		}
	}
	return out, nil
}
