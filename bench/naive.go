package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strconv"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// naive is the cycle strand's design was measured against first: four
// synchronous writes per task (kv.Create pending, publish; CAS running,
// CAS result), then the ack.
type naive struct {
	prod, work     *nats.Conn
	prodJS, workJS jetstream.JetStream
	kv             jetstream.KeyValue
	pool           *pool
	sub            *nats.Subscription
	wt             *waiters
}

const (
	naiveBucket  = "BENCH_NAIVE"
	naiveStream  = "BENCH_NAIVE_Q"
	naiveSubject = "bench.naive.q"
	naiveEvents  = "bench.naive.evt."
	headerRev    = "Bench-Rev"
	headerID     = "Bench-Id"
)

var (
	pending = []byte("pending")
	running = []byte("running")
	doneTag = []byte("done:")
)

func startNaive(ctx context.Context, e *env, t *tally) (cycle, error) {
	n := &naive{wt: newWaiters()}
	var err error
	if n.prod, n.prodJS, err = dial(e.url, "bench-naive-producer"); err != nil {
		return nil, err
	}
	if n.work, n.workJS, err = dial(e.url, "bench-naive-worker"); err != nil {
		n.prod.Close()
		return nil, err
	}
	fail := func(err error) (cycle, error) {
		_ = n.close(ctx)
		return nil, err
	}
	if n.kv, err = n.prodJS.CreateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket: naiveBucket, History: 1, Storage: jetstream.FileStorage,
		RePublish: &jetstream.RePublish{Source: "$KV." + naiveBucket + ".>", Destination: naiveEvents + ">"},
	}); err != nil {
		return fail(fmt.Errorf("create bucket: %w", err))
	}
	if _, err := n.prodJS.CreateStream(ctx, jetstream.StreamConfig{
		Name: naiveStream, Subjects: []string{naiveSubject}, Retention: jetstream.WorkQueuePolicy, Storage: jetstream.FileStorage,
	}); err != nil {
		return fail(fmt.Errorf("create stream: %w", err))
	}
	// The producer learns results from the bucket's republished writes on
	// one subscription: no KV watch (each would be a server-side consumer).
	if n.sub, err = n.prod.Subscribe(naiveEvents+">", func(m *nats.Msg) {
		if bytes.HasPrefix(m.Data, doneTag) {
			n.wt.seen(m.Subject[len(naiveEvents):])
		}
	}); err != nil {
		return fail(err)
	}
	if err := n.prod.Flush(); err != nil {
		return fail(err)
	}
	wkv, err := n.workJS.KeyValue(ctx, naiveBucket)
	if err != nil {
		return fail(err)
	}
	if n.pool, err = startPool(ctx, n.workJS, naiveStream, "naive", e.cfg.Pool, func(m jetstream.Msg) {
		if n.work1(wkv, m) {
			t.hit()
		}
	}); err != nil {
		return fail(err)
	}
	return n, nil
}

// work1 runs one task: CAS running, add, CAS the result, ack.
func (n *naive) work1(kv jetstream.KeyValue, m jetstream.Msg) bool {
	ctx := context.Background()
	id := m.Headers().Get(headerID)
	rev, _ := strconv.ParseUint(m.Headers().Get(headerRev), 10, 64)
	rev, err := kv.Update(ctx, id, running, rev)
	if err != nil {
		_ = m.Term()
		return false
	}
	var ab [2]int
	if err := json.Unmarshal(m.Data(), &ab); err != nil {
		_ = m.Term()
		return false
	}
	result := strconv.AppendInt(append([]byte(nil), doneTag...), int64(ab[0]+ab[1]), 10)
	if _, err := kv.Update(ctx, id, result, rev); err != nil {
		_ = m.Term()
		return false
	}
	_ = m.Ack()
	return true
}

func (n *naive) publish(ctx context.Context, id string) error {
	rev, err := n.kv.Create(ctx, id, pending)
	if err != nil {
		return fmt.Errorf("create pending: %w", err)
	}
	msg := &nats.Msg{Subject: naiveSubject, Data: args, Header: nats.Header{}}
	msg.Header.Set(headerID, id)
	msg.Header.Set(headerRev, strconv.FormatUint(rev, 10))
	_, err = n.prodJS.PublishMsg(ctx, msg)
	return err
}

func (n *naive) submit(ctx context.Context, k int) error {
	for range k {
		if err := n.publish(ctx, newID()); err != nil {
			return err
		}
	}
	return nil
}

func (n *naive) one(ctx context.Context) error {
	id := newID()
	ch := n.wt.expect(id)
	defer n.wt.forget(id)
	if err := n.publish(ctx, id); err != nil {
		return err
	}
	return wait(ctx, ch)
}

func (n *naive) close(context.Context) error {
	if n.pool != nil {
		n.pool.stop()
	}
	if n.sub != nil {
		_ = n.sub.Unsubscribe()
	}
	n.prod.Close()
	n.work.Close()
	return nil
}
