package main

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// args is every task's payload outside strand: add(1, 2) as JSON.
var args = []byte("[1,2]")

// pool consumes a stream with one pull iterator that asks the server for
// batches and hands messages one by one to conc goroutines.
type pool struct {
	it      jetstream.MessagesContext
	fetcher sync.WaitGroup
	workers sync.WaitGroup
}

// pullBatch is how many messages the iterator asks for at once.
const pullBatch = 64

func startPool(ctx context.Context, js jetstream.JetStream, stream, durable string, conc int, handle func(jetstream.Msg)) (*pool, error) {
	cons, err := js.CreateOrUpdateConsumer(ctx, stream, jetstream.ConsumerConfig{
		Durable:       durable,
		DeliverPolicy: jetstream.DeliverAllPolicy,
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       30 * time.Second,
		MaxAckPending: 1000,
	})
	if err != nil {
		return nil, fmt.Errorf("consumer %s: %w", durable, err)
	}
	it, err := cons.Messages(jetstream.PullMaxMessages(pullBatch))
	if err != nil {
		return nil, err
	}
	p := &pool{it: it}
	jobs := make(chan jetstream.Msg)
	for range conc {
		p.workers.Go(func() {
			for m := range jobs {
				handle(m)
			}
		})
	}
	p.fetcher.Go(func() {
		defer close(jobs)
		for {
			m, err := it.Next()
			if errors.Is(err, jetstream.ErrMsgIteratorClosed) {
				return
			}
			if err != nil {
				continue
			}
			jobs <- m
		}
	})
	return p, nil
}

func (p *pool) stop() {
	p.it.Stop()
	p.fetcher.Wait()
	p.workers.Wait()
}

// dial connects a client of the cycle over TCP, with the JetStream
// options strand's broker uses so that the references match its client.
func dial(url, name string) (*nats.Conn, jetstream.JetStream, error) {
	nc, err := nats.Connect(url, nats.Name(name), nats.Timeout(5*time.Second))
	if err != nil {
		return nil, nil, fmt.Errorf("connect %s: %w", url, err)
	}
	js, err := jetstream.New(nc, jetstream.WithPublishAsyncMaxPending(4096), jetstream.WithPublishAsyncTimeout(15*time.Second))
	if err != nil {
		nc.Close()
		return nil, nil, err
	}
	return nc, js, nil
}

// awaitAcks waits for every future's PubAck and returns the first refusal.
func awaitAcks(ctx context.Context, futs []jetstream.PubAckFuture) error {
	var first error
	for _, f := range futs {
		select {
		case <-f.Ok():
		case err := <-f.Err():
			if first == nil {
				first = err
			}
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return first
}

// floor is raw JetStream, no state at all: the cost any cycle on this
// server pays at least.
type floor struct {
	prod, work     *nats.Conn
	prodJS, workJS jetstream.JetStream
	pool           *pool
	sub            *nats.Subscription
	wt             *waiters
}

const (
	floorStream  = "BENCH_FLOOR"
	floorSubject = "bench.floor.q"
	floorDone    = "bench.floor.done."
	headerReply  = "Bench-Reply"
	// window is how many PublishAsync calls a floor producer sends before
	// it waits for their PubAcks.
	window = 256
)

func startFloor(ctx context.Context, e *env, t *tally) (cycle, error) {
	f := &floor{wt: newWaiters()}
	var err error
	if f.prod, f.prodJS, err = dial(e.url, "bench-floor-producer"); err != nil {
		return nil, err
	}
	if f.work, f.workJS, err = dial(e.url, "bench-floor-worker"); err != nil {
		f.prod.Close()
		return nil, err
	}
	if _, err := f.prodJS.CreateStream(ctx, jetstream.StreamConfig{
		Name: floorStream, Subjects: []string{floorSubject}, Retention: jetstream.WorkQueuePolicy, Storage: jetstream.FileStorage,
	}); err != nil {
		_ = f.close(ctx)
		return nil, fmt.Errorf("create stream: %w", err)
	}
	if f.sub, err = f.prod.Subscribe(floorDone+">", func(m *nats.Msg) { f.wt.seen(m.Subject[len(floorDone):]) }); err != nil {
		_ = f.close(ctx)
		return nil, err
	}
	if err := f.prod.Flush(); err != nil {
		_ = f.close(ctx)
		return nil, err
	}
	// The reply goes before the ack, as strand's outcome goes before its
	// ack: the server processes an ack (a work-queue removal) before the
	// next message of the same connection, so acking first would put the
	// removal on the producer's path and the floor above strand's p50.
	f.pool, err = startPool(ctx, f.workJS, floorStream, "floor", e.cfg.Pool, func(m jetstream.Msg) {
		if reply := m.Headers().Get(headerReply); reply != "" {
			_ = f.work.Publish(reply, nil)
		}
		_ = m.Ack()
		t.hit()
	})
	if err != nil {
		_ = f.close(ctx)
		return nil, err
	}
	return f, nil
}

func (f *floor) submit(ctx context.Context, n int) error {
	futs := make([]jetstream.PubAckFuture, 0, window)
	for n > 0 {
		k := min(window, n)
		futs = futs[:0]
		for range k {
			fut, err := f.prodJS.PublishMsgAsync(&nats.Msg{Subject: floorSubject, Data: args})
			if err != nil {
				return err
			}
			futs = append(futs, fut)
		}
		if err := awaitAcks(ctx, futs); err != nil {
			return err
		}
		n -= k
	}
	return nil
}

func (f *floor) one(ctx context.Context) error {
	id := newID()
	ch := f.wt.expect(id)
	defer f.wt.forget(id)
	msg := &nats.Msg{Subject: floorSubject, Data: args, Header: nats.Header{headerReply: []string{floorDone + id}}}
	if _, err := f.prodJS.PublishMsg(ctx, msg); err != nil {
		return err
	}
	return wait(ctx, ch)
}

func (f *floor) close(context.Context) error {
	if f.pool != nil {
		f.pool.stop()
	}
	if f.sub != nil {
		_ = f.sub.Unsubscribe()
	}
	f.prod.Close()
	f.work.Close()
	return nil
}
