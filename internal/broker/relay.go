package broker

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	strand "github.com/strand-run/strand"
	"github.com/strand-run/strand/internal/codec"
	"github.com/strand-run/strand/internal/cron"
)

// defaultTaskTTL is the task TTL of a firing whose schedule names none.
const defaultTaskTTL = 14 * 24 * time.Hour

// Relay moves the firings of queue — delayed tasks the server found due,
// and named schedules' firings — into the queue as tasks, until ctx ends.
// Every worker of the queue runs it; they share one durable consumer, so
// each firing is moved by one of them, and a firing moved twice (a worker
// that died before its ack) is refused the second time by the task's id.
// onErr hears of firings that could not be moved (nil: ignored).
func (b *Broker) Relay(ctx context.Context, queue string, onErr func(error)) error {
	if onErr == nil {
		onErr = func(error) {}
	}
	if err := b.SchedulesReady(); err != nil {
		return err
	}
	n := b.names
	var cons jetstream.Consumer
	err := retryTransient(ctx, func() (err error) {
		cons, err = b.js.CreateOrUpdateConsumer(ctx, n.SchedulesStream(), jetstream.ConsumerConfig{
			Durable:       n.RelayConsumer(queue),
			Description:   "strand: firings of queue " + queue + " into its tasks",
			FilterSubject: n.FiringsFilter(queue),
			DeliverPolicy: jetstream.DeliverAllPolicy,
			AckPolicy:     jetstream.AckExplicitPolicy,
			AckWait:       30 * time.Second,
			MaxAckPending: 256,
			Replicas:      b.cfg.Replicas,
		})
		return err
	})
	if err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return fmt.Errorf("relay of queue %s: %w", queue, refusal(err, n.RelayConsumer(queue)))
	}
	it, err := cons.Messages(jetstream.PullMaxMessages(64))
	if err != nil {
		return fmt.Errorf("relay of queue %s: %w", queue, err)
	}
	stop := context.AfterFunc(ctx, it.Stop)
	defer stop()
	// Firings are moved by a few goroutines at once, so that their
	// publishes share round trips (many delayed tasks are due at once).
	work := make(chan jetstream.Msg)
	var movers sync.WaitGroup
	for range relayMovers {
		movers.Go(func() {
			for msg := range work {
				if err := b.relayOne(ctx, msg); err != nil {
					onErr(err)
					if ctx.Err() == nil && Transient(err) {
						_ = msg.NakWithDelay(time.Second)
						continue
					}
				}
				_ = msg.Ack()
			}
		})
	}
	defer func() { close(work); movers.Wait() }()
	for {
		msg, err := it.Next()
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			if errors.Is(err, jetstream.ErrMsgIteratorClosed) || errors.Is(err, jetstream.ErrConsumerDeleted) ||
				errors.Is(err, jetstream.ErrConsumerNotFound) {
				it.Stop()
				return fmt.Errorf("relay of queue %s: %w", queue, err)
			}
			onErr(fmt.Errorf("relay of queue %s: %w", queue, err))
			continue
		}
		work <- msg
	}
}

// relayMovers is how many firings a relay moves at once.
const relayMovers = 16

// relayOne queues the task a firing stands for. A refusal because the id
// is taken is success: that firing was queued before.
func (b *Broker) relayOne(ctx context.Context, msg jetstream.Msg) error {
	kind, queue, name, ok := b.names.ParseSchedSubject(msg.Subject())
	if !ok {
		return fmt.Errorf("relay: %s is no firing", msg.Subject())
	}
	h := msg.Headers()
	f, err := codec.ParseContentType(h.Get(codec.HeaderContentType))
	if err != nil {
		f = codec.Sniff(msg.Data())
	}
	fired := time.Now()
	meta, _ := msg.Metadata()
	if meta != nil {
		fired = meta.Timestamp
	}
	ttl, err := parseTTL(h.Get(HeaderTaskTTL))
	if err != nil || ttl <= 0 {
		ttl = defaultTaskTTL
	}
	// The task TTL counts from when the task was due.
	ttl = max(ttl-time.Since(fired), MinTTL)
	t := &Task{
		Queue: queue, Func: h.Get(codec.HeaderFunc), Trace: h.Get(codec.HeaderTrace),
		Format: f, Data: msg.Data(), TTL: ttl, relayed: true,
	}
	var last *lastRun
	switch kind {
	case SchedDue:
		t.ID, t.OwnID = name, h.Get(HeaderOwnID) != ""
		if !t.OwnID && meta != nil && meta.NumDelivered > 1 {
			// Moved before by a worker that died before its ack: the task
			// may have run and left its queue since.
			if o, err := b.Outcome(ctx, queue, t.ID); err != nil || o != nil {
				return err
			}
		}
	case SchedTick:
		at := firingTime(h, fired)
		t.ID, t.OwnID = FiringID(name, at), true
		t.Data = firingEnvelope(f, msg.Data(), t.ID, name, at)
		last = &lastRun{Task: t.ID, Fired: at.UnixMilli()}
		if next, err := time.Parse(time.RFC3339Nano, h.Get(headerScheduleNext)); err == nil {
			last.Next = next.UnixMilli()
		}
	default:
		return fmt.Errorf("relay: %s is no firing", msg.Subject())
	}
	err = b.Submit(ctx, t)[0]
	switch {
	case errors.Is(err, strand.ErrDuplicate):
		err = nil // this firing is queued, or has run, already
	case errors.Is(err, strand.ErrTooLarge):
		return fmt.Errorf("relay: firing %s: %w", msg.Subject(), err) // acked: it can never be queued
	case err != nil:
		return fmt.Errorf("relay: firing %s: %w", msg.Subject(), err)
	}
	if last != nil {
		data, _ := json.Marshal(last)
		m := schedMsg(b.names.SchedSubject(SchedLast, queue, name), data)
		m.Header.Set(codec.HeaderContentType, codec.JSON.ContentType())
		if _, err := b.publishRetrying(ctx, m); err != nil {
			return fmt.Errorf("relay: last run of schedule %s: %w", name, err)
		}
	}
	return nil
}

// lastRun is the record of a named schedule's last firing a worker queued.
type lastRun struct {
	Task  string `json:"task"`
	Fired int64  `json:"fired"`          // unix ms of the firing's time
	Next  int64  `json:"next,omitempty"` // unix ms of the next, as the server announced it
}

// FiringID is the task id of the firing of schedule name at time at: the
// name, a dash and the firing's unix second. A firing seen twice (a
// restart, a failover) gets the same id, so it runs once.
func FiringID(name string, at time.Time) string {
	return name + "-" + strconv.FormatInt(at.Unix(), 10)
}

// firingTime is the time a firing stands for: the last time of its spec
// before the next one the server announces with it (the server computes
// that next from this firing's time, so every copy of one firing names the
// same), else the second it was stored in.
func firingTime(h interface{ Get(string) string }, stored time.Time) time.Time {
	next, err := time.Parse(time.RFC3339Nano, h.Get(headerScheduleNext))
	if err == nil {
		if spec, err := cron.Parse(h.Get(HeaderSchedule), h.Get(HeaderScheduleTZ)); err == nil {
			if at := spec.Prev(next); !at.IsZero() {
				return at
			}
		}
	}
	return stored.UTC().Truncate(time.Second)
}

// firingEnvelope is a schedule's task template as the task of one firing:
// its id and creation time set, and meta "schedule" naming the schedule.
// A template that does not decode goes as it is, and its worker fails the
// task as malformed, with a message that says why.
func firingEnvelope(f codec.Format, data []byte, id, name string, at time.Time) []byte {
	env, err := codec.DecodeEnvelope(f, data)
	if err != nil {
		return data
	}
	env.ID, env.Created = id, at.UnixMilli()
	if env.Meta == nil {
		env.Meta = map[string]string{}
	}
	env.Meta[MetaSchedule] = name
	out, err := codec.EncodeEnvelope(f, env)
	if err != nil {
		return data
	}
	return out
}

// MetaSchedule is the meta key that names the schedule a task fired from.
const MetaSchedule = "schedule"
