package main

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// proto is the prototype of strand's v2 cycle that the core rebuild was
// measured against (the "lean work-queue" layout of DESIGN.md), written
// straight on JetStream: one publish per task to a subject of its own in a
// work-queue stream that holds one message per subject (the server's
// create-only), pipelined publishes, a pull pool that buffers batches, a
// create-only outcome with a TTL in a bucket that republishes it, and an
// acker goroutine that acks each task once its outcome is confirmed. It has
// what strand's cycle must have and nothing else: no envelope, registry,
// states, cancellations or retries.
type proto struct {
	prod, work     *nats.Conn
	prodJS, workJS jetstream.JetStream
	pool           *pool
	sub            *nats.Subscription
	wt             *waiters
	acks           chan protoAck
	acker          chan struct{}
}

type protoAck struct {
	fut jetstream.PubAckFuture
	msg jetstream.Msg
	ok  func()
}

const (
	protoTasks   = "BENCH_PROTO_T"
	protoRecords = "KV_BENCH_PROTO"
	protoTaskPre = "bench.proto.t."
	protoKeyPre  = "$KV.BENCH_PROTO.r."
	protoEvents  = "bench.proto.evt."
)

func startProto(ctx context.Context, e *env, t *tally) (cycle, error) {
	p := &proto{wt: newWaiters(), acks: make(chan protoAck, 4096), acker: make(chan struct{})}
	var err error
	if p.prod, p.prodJS, err = dial(e.url, "bench-proto-producer"); err != nil {
		return nil, err
	}
	if p.work, p.workJS, err = dial(e.url, "bench-proto-worker"); err != nil {
		p.prod.Close()
		return nil, err
	}
	go p.ack()
	fail := func(err error) (cycle, error) {
		_ = p.close(ctx)
		return nil, err
	}
	if _, err := p.prodJS.CreateStream(ctx, jetstream.StreamConfig{
		Name: protoTasks, Subjects: []string{protoTaskPre + ">"}, Retention: jetstream.WorkQueuePolicy,
		Storage: jetstream.FileStorage, MaxMsgsPerSubject: 1, Discard: jetstream.DiscardNew,
		DiscardNewPerSubject: true, AllowMsgTTL: true, AllowDirect: true,
	}); err != nil {
		return fail(fmt.Errorf("create task stream: %w", err))
	}
	if _, err := p.prodJS.CreateStream(ctx, jetstream.StreamConfig{
		Name: protoRecords, Subjects: []string{"$KV.BENCH_PROTO.>"}, Storage: jetstream.FileStorage,
		MaxMsgsPerSubject: 1, AllowDirect: true, AllowMsgTTL: true, AllowRollup: true, DenyDelete: true,
		RePublish: &jetstream.RePublish{Source: "$KV.BENCH_PROTO.>", Destination: protoEvents + ">"},
	}); err != nil {
		return fail(fmt.Errorf("create record stream: %w", err))
	}
	if p.sub, err = p.prod.Subscribe(protoEvents+"r.>", func(m *nats.Msg) {
		p.wt.seen(strings.TrimPrefix(m.Subject, protoEvents+"r."))
	}); err != nil {
		return fail(err)
	}
	_ = p.sub.SetPendingLimits(-1, -1)
	if err := p.prod.Flush(); err != nil {
		return fail(err)
	}
	if p.pool, err = startPool(ctx, p.workJS, protoTasks, "proto", e.cfg.Pool, func(m jetstream.Msg) {
		id := strings.TrimPrefix(m.Subject(), protoTaskPre)
		out := &nats.Msg{Subject: protoKeyPre + id, Data: []byte("3"), Header: nats.Header{}}
		fut, err := p.workJS.PublishMsgAsync(out, jetstream.WithExpectLastSequencePerSubject(0), jetstream.WithMsgTTL(time.Minute))
		if err != nil {
			_ = m.Nak()
			return
		}
		p.acks <- protoAck{fut: fut, msg: m, ok: t.hit}
	}); err != nil {
		return fail(err)
	}
	return p, nil
}

// ack acks each task once its outcome write is confirmed, off the pool.
func (p *proto) ack() {
	defer close(p.acker)
	for a := range p.acks {
		select {
		case <-a.fut.Ok():
			_ = a.msg.Ack()
			a.ok()
		case <-a.fut.Err():
			_ = a.msg.Nak()
		}
	}
}

func (p *proto) message(id string) *nats.Msg {
	return &nats.Msg{Subject: protoTaskPre + id, Data: args, Header: nats.Header{"Nats-TTL": []string{"336h"}}}
}

// submit publishes a producer's share pipelined, window by window.
func (p *proto) submit(ctx context.Context, k int) error {
	for k > 0 {
		n := min(k, window)
		futs := make([]jetstream.PubAckFuture, 0, n)
		for range n {
			fut, err := p.prodJS.PublishMsgAsync(p.message(newID()))
			if err != nil {
				return err
			}
			futs = append(futs, fut)
		}
		if err := awaitAcks(ctx, futs); err != nil {
			return err
		}
		k -= n
	}
	return nil
}

func (p *proto) one(ctx context.Context) error {
	id := newID()
	ch := p.wt.expect(id)
	defer p.wt.forget(id)
	if _, err := p.prodJS.PublishMsg(ctx, p.message(id)); err != nil {
		return err
	}
	return wait(ctx, ch)
}

func (p *proto) close(ctx context.Context) error {
	if p.pool != nil {
		p.pool.stop()
	}
	close(p.acks)
	<-p.acker
	if p.sub != nil {
		_ = p.sub.Unsubscribe()
	}
	var firstErr error
	for _, name := range []string{protoTasks, protoRecords} {
		if err := p.prodJS.DeleteStream(ctx, name); err != nil && firstErr == nil {
			firstErr = err
		}
	}
	p.prod.Close()
	p.work.Close()
	return firstErr
}
