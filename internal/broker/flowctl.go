package broker

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	strand "github.com/strand-run/strand"
	"github.com/strand-run/strand/internal/codec"
)

// flowKV caches the flow bucket once it is known to exist.
type flowKV struct {
	mu sync.Mutex
	kv jetstream.KeyValue
}

// Flow returns the bucket of flow control records (Names.FlowBucket),
// creating it when it is missing; an existing bucket is used as it is.
func (b *Broker) Flow(ctx context.Context) (jetstream.KeyValue, error) {
	b.flowCtl.mu.Lock()
	defer b.flowCtl.mu.Unlock()
	if b.flowCtl.kv != nil {
		return b.flowCtl.kv, nil
	}
	name := b.names.FlowBucket()
	ctx, stop := b.refusable(ctx, "$JS.API.STREAM.>", "$JS.API.INFO")
	defer stop()
	kv, err := b.js.KeyValue(ctx, name)
	if errors.Is(err, jetstream.ErrBucketNotFound) {
		// A KV bucket's stream, made by hand. It differs from what
		// CreateKeyValue makes in that deletes are allowed, a left-over of
		// an earlier release of limits' leases: a released lease now writes
		// a free record with a TTL (limits.go), and nothing deletes.
		_, err = CreateRetrying(ctx, func() (jetstream.Stream, error) {
			return b.js.CreateStream(ctx, jetstream.StreamConfig{
				Name:                   "KV_" + name,
				Description:            "strand flow control: paused queues, uniqueness and debounce keys, limits' leases",
				Subjects:               []string{"$KV." + name + ".>"},
				MaxMsgsPerSubject:      1,
				MaxMsgs:                -1,
				MaxBytes:               -1,
				MaxConsumers:           -1,
				Storage:                jetstream.FileStorage,
				Replicas:               b.cfg.Replicas,
				AllowRollup:            true,
				AllowDirect:            true,
				Discard:                jetstream.DiscardNew,
				Duplicates:             2 * time.Minute,
				AllowMsgTTL:            true,
				SubjectDeleteMarkerTTL: markerTTL,
			})
		})
		if errors.Is(err, jetstream.ErrStreamNameAlreadyInUse) {
			err = nil
		}
		if err == nil {
			kv, err = b.js.KeyValue(ctx, name)
		}
	}
	if err = refused(ctx, err); err != nil {
		return nil, fmt.Errorf("provision bucket %s: %w", name, err)
	}
	b.flowCtl.kv = kv
	return kv, nil
}

// PauseRecord is the value of a queue's pause key.
type PauseRecord struct {
	Since int64  `json:"since"`        // unix ms when the queue was paused
	By    string `json:"by,omitempty"` // who paused it, informational
}

// Pause pauses queue for every worker: they start none of its tasks until
// Resume. Tasks may still be submitted; running ones finish. The record has
// no TTL, so the pause survives restarts of workers and servers. Pausing a
// paused queue keeps its first record.
func (b *Broker) Pause(ctx context.Context, queue, by string) error {
	if err := codec.ValidQueue(queue); err != nil {
		return fmt.Errorf("pause: %w", err)
	}
	kv, err := b.Flow(ctx)
	if err != nil {
		return fmt.Errorf("pause %s: %w", queue, err)
	}
	data, _ := json.Marshal(PauseRecord{Since: time.Now().UnixMilli(), By: by})
	if _, err := kv.Create(ctx, b.names.PauseKey(queue), data); err != nil && !errors.Is(err, jetstream.ErrKeyExists) {
		return fmt.Errorf("pause %s: %w", queue, refusal(err, b.names.PauseKey(queue)))
	}
	return nil
}

// Resume lets workers start queue's tasks again.
func (b *Broker) Resume(ctx context.Context, queue string) error {
	if err := codec.ValidQueue(queue); err != nil {
		return fmt.Errorf("resume: %w", err)
	}
	kv, err := b.Flow(ctx)
	if err != nil {
		return fmt.Errorf("resume %s: %w", queue, err)
	}
	if err := kv.Purge(ctx, b.names.PauseKey(queue)); err != nil {
		return fmt.Errorf("resume %s: %w", queue, refusal(err, b.names.PauseKey(queue)))
	}
	return nil
}

// Paused reads queue's pause record: nil while it is not paused. A flow
// bucket that does not exist (no one ever paused a queue) answers nothing,
// which reads as not paused.
func (b *Broker) Paused(ctx context.Context, queue string) (*PauseRecord, error) {
	return b.paused(ctx, queue, 1)
}

// paused is Paused trying up to tries times when nothing answers: a
// stream electing a leader answers nothing for a moment too.
func (b *Broker) paused(ctx context.Context, queue string, tries int) (*PauseRecord, error) {
	stream, subject := "KV_"+b.names.FlowBucket(), b.names.FlowSubject(b.names.PauseKey(queue))
	var rec *Record
	var err error
	for try := 0; ; try++ {
		rec, err = b.directGet(ctx, stream, subject)
		if !errors.Is(err, nats.ErrNoResponders) {
			break
		}
		if try == tries-1 {
			return nil, nil
		}
		// Nothing answered: no bucket (nobody ever paused a queue), or a
		// stream electing a leader. The stream's info tells them apart.
		if _, serr := b.js.Stream(ctx, stream); errors.Is(serr, jetstream.ErrStreamNotFound) {
			return nil, nil
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
	if err != nil && Transient(err) {
		rec, err = b.getLast(ctx, stream, subject)
	}
	if err != nil {
		return nil, err
	}
	if rec == nil || IsMarker(rec.Header, rec.Data) {
		return nil, nil
	}
	var p PauseRecord
	if err := json.Unmarshal(rec.Data, &p); err != nil {
		return nil, fmt.Errorf("%w: pause record of %s: %v", strand.ErrMalformed, queue, err)
	}
	return &p, nil
}

// FollowPause calls onChange with queue's pause state now, after every
// change, and again whenever Resync says changes may have been lost (a
// reconnect, a leader election), until stop is called. It needs no bucket: until
// someone pauses a queue, the flow bucket may not exist, and its writes
// reach a core subscription to their subject once it does.
//
// settle waits until every pause event that reached the connection before
// the call has been handed to onChange: the events come on a subscription
// of their own, whose callbacks nats.go runs apart from the tasks', so a
// task delivered after a pause could otherwise be looked at before it.
func (b *Broker) FollowPause(ctx context.Context, queue string, onChange func(paused bool)) (stop, settle func(), err error) {
	// mu orders the events and the reads: an event that arrives while a
	// read is in flight is at least as new as the read, so the read's
	// answer is dropped (it could reopen a queue just paused). events
	// counts the events handled, for the reads and for settle.
	var mu sync.Mutex
	var events int64
	handled := func() int64 { mu.Lock(); defer mu.Unlock(); return events }
	sub, err := b.Subscribe(b.names.FlowSubject(b.names.PauseKey(queue)), func(m *nats.Msg) {
		mu.Lock()
		defer mu.Unlock()
		events++
		onChange(!IsMarker(m.Header, m.Data))
	})
	if err != nil {
		return nil, nil, fmt.Errorf("follow pause of %s: %w", queue, err)
	}
	settle = func() {
		for deadline := time.Now().Add(200 * time.Millisecond); time.Now().Before(deadline); time.Sleep(50 * time.Microsecond) {
			pending, _, perr := sub.Pending()
			delivered, derr := sub.Delivered()
			if perr != nil || derr != nil || (pending == 0 && delivered == handled()) {
				return
			}
		}
	}
	read := func() error {
		before := handled()
		p, err := b.paused(ctx, queue, 3)
		if err != nil {
			return err
		}
		mu.Lock()
		defer mu.Unlock()
		if events == before {
			onChange(p != nil)
		}
		return nil
	}
	if err := read(); err != nil {
		_ = sub.Unsubscribe()
		return nil, nil, fmt.Errorf("read pause of %s: %w", queue, err)
	}
	stopped := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			resync, _ := b.Resync()
			select {
			case <-stopped:
				return
			case <-resync:
				_ = read()
			}
		}
	})
	return func() { close(stopped); wg.Wait(); _ = sub.Unsubscribe() }, settle, nil
}
