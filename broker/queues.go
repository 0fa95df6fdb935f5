package broker

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/strand-run/strand/codec"
)

// QueueInfo is one queue as its durable consumer counts it.
type QueueInfo struct {
	Queue       string    // the queue's name
	Consumer    string    // its consumer, Names.Consumer(queue)
	Depth       uint64    // tasks waiting, not yet delivered (NumPending)
	InFlight    int       // delivered, not yet acknowledged (NumAckPending)
	Redelivered int       // delivered more than once, not yet acknowledged
	Waiting     int       // pull requests of workers waiting for tasks
	LastActive  time.Time // the last delivery or acknowledgement; zero if none
	// The tasks of Depth waiting in the high and low priority lanes.
	DepthHigh, DepthLow uint64
}

// Queues lists the queues, sorted by name: the durable consumers
// <prefix>-<queue> on the tasks stream whose filter is the queue's.
// The gateway, the metrics collector and `strand queues` all read it.
func (b *Broker) Queues(ctx context.Context) ([]QueueInfo, error) {
	st, err := b.js.Stream(ctx, b.names.TasksStream())
	if err != nil {
		return nil, fmt.Errorf("list queues: %w", err)
	}
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
	slices.SortFunc(out, func(a, b QueueInfo) int { return strings.Compare(a.Queue, b.Queue) })
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
