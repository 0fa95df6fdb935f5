package bench

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/strand-run/strand/internal/handler"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	strand "github.com/strand-run/strand"
	"github.com/strand-run/strand/internal/broker"
	"github.com/strand-run/strand/internal/codec"
	"github.com/strand-run/strand/registry"
)

// pool consumes a stream the way strand's reader does: one pull iterator
// (PullMaxMessages max(2×pool, 8)) handing messages one by one to a pool
// of goroutines over an unbuffered channel.
type pool struct {
	it      jetstream.MessagesContext
	fetcher sync.WaitGroup
	workers sync.WaitGroup
	// redelivered counts deliveries past the first: each one means a task
	// waited out AckWait, and the burst it fell in includes that wait.
	redelivered atomic.Int64
}

func startPool(ctx context.Context, js jetstream.JetStream, stream, durable string, conc int,
	handle func(jetstream.Msg)) (*pool, error) {
	cons, err := js.CreateOrUpdateConsumer(ctx, stream, jetstream.ConsumerConfig{
		Durable:       durable,
		DeliverPolicy: jetstream.DeliverAllPolicy,
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       30 * time.Second,
		MaxDeliver:    10,
		MaxAckPending: max(1000, 4*conc),
	})
	if err != nil {
		return nil, fmt.Errorf("consumer %s: %w", durable, err)
	}
	it, err := cons.Messages(jetstream.PullMaxMessages(max(2*conc, 8)))
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
			if meta, err := m.Metadata(); err == nil && meta.NumDelivered > 1 {
				p.redelivered.Add(1)
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

// waiters routes result events to the one-at-a-time sample waiting for
// them, and counts them for the burst. Events arrive on one subscription.
type waiters struct {
	mu  sync.Mutex
	chs map[string]chan struct{}
	cnt map[string]*counter
}

// submitVia publishes a new task whose done signal counts into c: a
// reference cycle's submit, given its waiters and its publish.
func submitVia(ctx context.Context, wt *waiters, c *counter, publish func(context.Context, string) error) error {
	id := newID()
	wt.expect(id, c)
	return publish(ctx, id)
}

// oneVia publishes a new task and waits for its done signal: a reference
// cycle's one-at-a-time sample.
func oneVia(ctx context.Context, wt *waiters, publish func(context.Context, string) error) error {
	id := newID()
	ch := wt.wait(id)
	defer wt.forget(id)
	if err := publish(ctx, id); err != nil {
		return err
	}
	select {
	case <-ch:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func newWaiters() *waiters {
	return &waiters{chs: make(map[string]chan struct{}), cnt: make(map[string]*counter)}
}

func (w *waiters) expect(id string, c *counter) {
	w.mu.Lock()
	w.cnt[id] = c
	w.mu.Unlock()
}

func (w *waiters) wait(id string) chan struct{} {
	ch := make(chan struct{}, 1)
	w.mu.Lock()
	w.chs[id] = ch
	w.mu.Unlock()
	return ch
}

func (w *waiters) forget(id string) {
	w.mu.Lock()
	delete(w.chs, id)
	w.mu.Unlock()
}

func (w *waiters) seen(id string) {
	w.mu.Lock()
	ch := w.chs[id]
	c := w.cnt[id]
	delete(w.cnt, id)
	w.mu.Unlock()
	if ch != nil {
		ch <- struct{}{}
	}
	if c != nil {
		c.add()
	}
}

var idSeq atomic.Uint64

func newID() string { return "b" + strconv.FormatUint(idSeq.Add(1), 36) }

// ---- floor ----

// floor is raw JetStream: publish to a work-queue stream, a durable pull
// consumer, the worker acks and core-publishes a "done" the producer sees.
type floor struct {
	w    *world
	pool *pool
	sub  *nats.Subscription
	wt   *waiters
}

const (
	floorStream  = "STRAND_BENCH_FLOOR"
	floorSubject = "strand-bench.floor.q"
	floorDone    = "strand-bench.floor.done."
	headerReply  = "Bench-Reply"
)

func startFloor(ctx context.Context, w *world, cfg Config) (cycle, error) {
	_ = deleteStream(ctx, w.prodJS, floorStream)
	if _, err := broker.CreateRetrying(ctx, func() (jetstream.Stream, error) {
		return w.prodJS.CreateStream(ctx, jetstream.StreamConfig{
			Name: floorStream, Subjects: []string{floorSubject}, Retention: jetstream.WorkQueuePolicy,
			Storage: jetstream.FileStorage,
		})
	}); err != nil {
		return nil, fmt.Errorf("create stream: %w", err)
	}
	f := &floor{w: w, wt: newWaiters()}
	sub, err := w.prod.Subscribe(floorDone+">", func(m *nats.Msg) { f.wt.seen(m.Subject[len(floorDone):]) })
	if err != nil {
		return nil, err
	}
	sub.SetPendingLimits(-1, -1)
	f.sub = sub
	if err := w.prod.Flush(); err != nil {
		return nil, err
	}
	f.pool, err = startPool(ctx, w.workJS, floorStream, "floor", cfg.Concurrency, func(m jetstream.Msg) {
		_ = m.Ack()
		_ = w.work.Publish(m.Headers().Get(headerReply), nil)
	})
	if err != nil {
		return nil, err
	}
	return f, nil
}

func (f *floor) message(id string) *nats.Msg {
	return &nats.Msg{Subject: floorSubject, Data: f.w.payload, Header: nats.Header{headerReply: []string{floorDone + id}}}
}

func (f *floor) publish(ctx context.Context, id string) error {
	_, err := f.w.prodJS.PublishMsg(ctx, f.message(id))
	return err
}

func (f *floor) submitBatch(ctx context.Context, n int, c *counter) error {
	futs := make([]jetstream.PubAckFuture, 0, n)
	for range n {
		id := newID()
		f.wt.expect(id, c)
		fut, err := f.w.prodJS.PublishMsgAsync(f.message(id))
		if err != nil {
			return err
		}
		futs = append(futs, fut)
	}
	return awaitAcks(ctx, futs)
}

// awaitAcks waits for every future's PubAck and returns the first refusal.
func awaitAcks(ctx context.Context, futs []jetstream.PubAckFuture) error {
	var first error
	for _, fut := range futs {
		select {
		case <-fut.Ok():
		case err := <-fut.Err():
			if first == nil {
				first = err
			}
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return first
}

func (f *floor) submit(ctx context.Context, c *counter) error {
	return submitVia(ctx, f.wt, c, f.publish)
}

func (f *floor) one(ctx context.Context) error { return oneVia(ctx, f.wt, f.publish) }

func (f *floor) redelivered() int64 { return f.pool.redelivered.Load() }

func (f *floor) close(ctx context.Context) error {
	f.pool.stop()
	_ = f.sub.Unsubscribe()
	return deleteStream(ctx, f.w.prodJS, floorStream)
}

// ---- naive ----

// naive is the cycle strand replaces: kv.Create(id, pending) then publish
// the envelope to a work-queue stream; the worker CAS-writes running, runs
// the handler, CAS-writes the outcome, acks. The producer side learns the
// outcome from the bucket's RePublish events.
type naive struct {
	w      *world
	kv     jetstream.KeyValue
	pool   *pool
	sub    *nats.Subscription
	wt     *waiters
	fn     *handler.Func
	arg    codec.Raw
	queued []byte
}

const (
	naiveBucket  = "STRAND_BENCH_NAIVE"
	naiveStream  = "STRAND_BENCH_NAIVE_Q"
	naiveSubject = "strand-bench.naive.q"
	naiveEvents  = "strand-bench.naive.evt."
	headerRev    = "Bench-Rev"
)

func startNaive(ctx context.Context, w *world, cfg Config) (cycle, error) {
	_ = deleteStream(ctx, w.prodJS, naiveStream)
	_ = w.prodJS.DeleteKeyValue(ctx, naiveBucket)
	kv, err := broker.CreateRetrying(ctx, func() (jetstream.KeyValue, error) {
		return w.prodJS.CreateKeyValue(ctx, jetstream.KeyValueConfig{
			Bucket: naiveBucket, History: 1, Storage: jetstream.FileStorage,
			RePublish: &jetstream.RePublish{Source: "$KV." + naiveBucket + ".>", Destination: naiveEvents + ">"},
		})
	})
	if err != nil {
		return nil, fmt.Errorf("create bucket: %w", err)
	}
	if _, err := broker.CreateRetrying(ctx, func() (jetstream.Stream, error) {
		return w.prodJS.CreateStream(ctx, jetstream.StreamConfig{
			Name: naiveStream, Subjects: []string{naiveSubject}, Retention: jetstream.WorkQueuePolicy,
			Storage: jetstream.FileStorage,
		})
	}); err != nil {
		return nil, fmt.Errorf("create stream: %w", err)
	}
	reg := echoRegistry()
	fn, _ := (*handler.Table)(reg).Lookup("echo")
	arg, err := codec.Msgpack.Marshal(w.payload)
	if err != nil {
		return nil, err
	}
	queued, err := codec.Msgpack.Marshal(&codec.State{Status: strand.StatusPending, Func: "echo", Queue: "bench"})
	if err != nil {
		return nil, err
	}
	n := &naive{w: w, kv: kv, wt: newWaiters(), fn: fn, arg: arg, queued: queued}
	sub, err := w.prod.Subscribe(naiveEvents+">", n.event)
	if err != nil {
		return nil, err
	}
	sub.SetPendingLimits(-1, -1)
	n.sub = sub
	if err := w.prod.Flush(); err != nil {
		return nil, err
	}
	wkv, err := w.workJS.KeyValue(ctx, naiveBucket)
	if err != nil {
		return nil, err
	}
	n.pool, err = startPool(ctx, w.workJS, naiveStream, "naive", cfg.Concurrency, func(m jetstream.Msg) {
		n.work(wkv, m)
	})
	if err != nil {
		return nil, err
	}
	return n, nil
}

// event is a republished write to the bucket; the producer waits for the
// one whose status is terminal.
func (n *naive) event(m *nats.Msg) {
	var st struct {
		Status strand.Status `msgpack:"status"`
	}
	if err := codec.Msgpack.Unmarshal(m.Data, &st); err != nil || !st.Status.Terminal() {
		return
	}
	n.wt.seen(m.Subject[len(naiveEvents):])
}

// prepare writes the pending state, synchronously, and returns the
// envelope message to publish.
func (n *naive) prepare(ctx context.Context, id string) (*nats.Msg, error) {
	env, err := codec.EncodeEnvelope(codec.Msgpack, &codec.Envelope{
		V: codec.Version, ID: id, Func: "echo", Args: []codec.Raw{n.arg}, Queue: "bench", Created: time.Now().UnixMilli(),
	})
	if err != nil {
		return nil, err
	}
	rev, err := n.kv.Create(ctx, id, n.queued)
	if err != nil {
		return nil, fmt.Errorf("create pending: %w", err)
	}
	msg := &nats.Msg{Subject: naiveSubject, Data: env, Header: nats.Header{}}
	msg.Header.Set(codec.HeaderContentType, codec.ContentTypeMsgpack)
	msg.Header.Set(headerRev, strconv.FormatUint(rev, 10))
	return msg, nil
}

func (n *naive) publish(ctx context.Context, id string) error {
	msg, err := n.prepare(ctx, id)
	if err != nil {
		return err
	}
	_, err = n.w.prodJS.PublishMsg(ctx, msg)
	return err
}

// submitBatch keeps kv.Create synchronous per task (the worker's CAS needs
// its revision, and it is the duplicate check) and pipelines only the
// envelope publishes, awaited together at the end.
func (n *naive) submitBatch(ctx context.Context, k int, c *counter) error {
	futs := make([]jetstream.PubAckFuture, 0, k)
	for range k {
		id := newID()
		n.wt.expect(id, c)
		msg, err := n.prepare(ctx, id)
		if err != nil {
			return err
		}
		fut, err := n.w.prodJS.PublishMsgAsync(msg)
		if err != nil {
			return err
		}
		futs = append(futs, fut)
	}
	return awaitAcks(ctx, futs)
}

func (n *naive) work(kv jetstream.KeyValue, m jetstream.Msg) {
	ctx := context.Background()
	env, err := codec.DecodeEnvelope(codec.Msgpack, m.Data())
	if err != nil {
		_ = m.Term()
		return
	}
	rev, _ := strconv.ParseUint(m.Headers().Get(headerRev), 10, 64)
	started := time.Now()
	running, _ := codec.Msgpack.Marshal(&codec.State{
		Status: strand.StatusRunning, Func: env.Func, Queue: env.Queue, Attempt: 1, Worker: "bench", Started: started.UnixMilli(),
	})
	if rev, err = kv.Update(ctx, env.ID, running, rev); err != nil {
		_ = m.Term()
		return
	}
	o := &codec.Outcome{Status: strand.StatusCompleted, Func: env.Func, Queue: env.Queue, Created: env.Created,
		Attempt: 1, Worker: "bench", Started: started.UnixMilli()}
	result, err := n.fn.Call(ctx, codec.Msgpack, env.Args, env.Kwargs)
	if err == nil {
		o.Result, err = codec.Msgpack.Marshal(result)
	}
	if err != nil {
		o.Status, o.Error = strand.StatusFailed, codec.ErrorInfoOf(err)
	}
	o.Finished = time.Now().UnixMilli()
	data, _ := codec.Msgpack.Marshal(o)
	if _, err := kv.Update(ctx, env.ID, data, rev); err != nil {
		_ = m.Term()
		return
	}
	_ = m.Ack()
}

func (n *naive) submit(ctx context.Context, c *counter) error {
	return submitVia(ctx, n.wt, c, n.publish)
}

func (n *naive) one(ctx context.Context) error { return oneVia(ctx, n.wt, n.publish) }

func (n *naive) redelivered() int64 { return n.pool.redelivered.Load() }

func (n *naive) close(ctx context.Context) error {
	n.pool.stop()
	_ = n.sub.Unsubscribe()
	err := deleteStream(ctx, n.w.prodJS, naiveStream)
	if kerr := n.w.prodJS.DeleteKeyValue(ctx, naiveBucket); kerr != nil && !errors.Is(kerr, jetstream.ErrBucketNotFound) && err == nil {
		err = kerr
	}
	return err
}

func echoRegistry() *registry.Registry {
	reg := registry.New()
	reg.MustRegister("echo", func(x []byte) []byte { return x })
	return reg
}
