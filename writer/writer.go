package writer

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"

	strand "github.com/strand-run/strand"
	"github.com/strand-run/strand/broker"
	"github.com/strand-run/strand/codec"
)

// Config is a writer's defaults. The zero value works: queue "default",
// msgpack, results kept 24h. Fields can be read from STRAND_* variables
// with envconfig.
type Config struct {
	// Queue tasks go to unless Queue(...) says otherwise (default "default").
	Queue string `envconfig:"QUEUE"`
	// ResultTTL is how long states and outcomes are kept (default 24h).
	ResultTTL time.Duration `envconfig:"RESULT_TTL"`
	// TaskTTL is the longest a task may wait in its queue before it expires
	// unrun (default 14 days, as SQS). Its id stays taken for that long.
	TaskTTL time.Duration `envconfig:"TASK_TTL"`
	// JSON encodes tasks as JSON instead of msgpack.
	JSON bool `envconfig:"JSON"`
	// Caller is the identity this writer submits as, carried in each task's
	// meta under strand.MetaCaller for workers' authorisation (default none;
	// the Caller option overrides it per task).
	Caller string `envconfig:"CALLER"`
	// Middleware wraps every submission, the outermost first (default none).
	Middleware []Middleware `ignored:"true"`
	// Logger receives the writer's logs (default: none).
	Logger *zerolog.Logger `ignored:"true"`
}

// DefaultQueue is the queue used when none is named.
const DefaultQueue = "default"

// DefaultResultTTL is how long outcomes are kept unless configured.
const DefaultResultTTL = 24 * time.Hour

// DefaultTaskTTL is the longest a task waits in its queue unless configured.
const DefaultTaskTTL = 14 * 24 * time.Hour

func (c Config) withDefaults() Config {
	if c.Queue == "" {
		c.Queue = DefaultQueue
	}
	if c.ResultTTL <= 0 {
		c.ResultTTL = DefaultResultTTL
	}
	if c.TaskTTL <= 0 {
		c.TaskTTL = DefaultTaskTTL
	}
	if c.Logger == nil {
		nop := zerolog.Nop()
		c.Logger = &nop
	}
	return c
}

// Writer submits tasks and hands out handles to them. It is safe for
// concurrent use; one per process is enough.
type Writer struct {
	b     *broker.Broker
	cfg   Config
	names broker.Names
	log   zerolog.Logger

	mu      sync.Mutex
	sub     *nats.Subscription
	waiting map[string]*waiter
	closed  bool
}

// waiter is where the outcome event of one task is delivered, once, to
// every handle waiting for it.
type waiter struct {
	done chan struct{}
	data []byte // set before done is closed
	refs int
	gen  uint64 // the broker's reconnect count when the waiter was made
}

// maxEarly bounds the waiters registered at submit for handles that may
// never wait; past it, Wait falls back to a read after subscribing.
const maxEarly = 1 << 16

// New returns a writer that submits through b.
func New(b *broker.Broker, cfg Config) (*Writer, error) {
	cfg = cfg.withDefaults()
	if err := codec.ValidQueue(cfg.Queue); err != nil {
		return nil, err
	}
	return &Writer{b: b, cfg: cfg, names: b.Names(), log: *cfg.Logger, waiting: make(map[string]*waiter)}, nil
}

// Close stops the writer's shared subscription. Handles stop working.
func (w *Writer) Close() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.closed = true
	if w.sub != nil {
		err := w.sub.Unsubscribe()
		w.sub = nil
		if errors.Is(err, nats.ErrConnectionClosed) {
			return nil
		}
		return err
	}
	return nil
}

// Submit queues a call of the function registered as fn with args, and
// returns a handle to it at once. Arguments of type Option configure the
// submission (Queue, ID, Kwargs, Timeout, …); the others are the task's
// positional args, encoded with msgpack (or JSON). Submit refuses an id that
// is taken (strand.ErrDuplicate) and a task larger than the server accepts
// (strand.ErrTooLarge).
func (w *Writer) Submit(ctx context.Context, fn string, args ...any) (*Handle, error) {
	env, format, err := w.envelope(fn, args)
	if err != nil {
		return nil, fmt.Errorf("submit %s: %w", fn, err)
	}
	h := &Handle{w: w, id: env.ID, queue: env.Queue, fn: fn}
	// Waiting from before the task exists means its outcome cannot be
	// missed, so Wait needs no read: one round trip less per task.
	if w.earlyWaiters() < maxEarly {
		if wt, err := w.await(env.ID); err == nil {
			h.early = wt
		}
	}
	if err := w.wrap(w.publish)(ctx, env, format); err != nil {
		if h.early != nil {
			w.unawait(env.ID, h.early)
		}
		return nil, fmt.Errorf("submit %s: %w", fn, err)
	}
	return h, nil
}

func (w *Writer) earlyWaiters() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.waiting)
}

func (w *Writer) envelope(fn string, args []any) (*codec.Envelope, codec.Format, error) {
	o := submitOpts{queue: w.cfg.Queue, resultTTL: w.cfg.ResultTTL, caller: w.cfg.Caller}
	if w.cfg.JSON {
		o.format = codec.JSON
	}
	pos := make([]any, 0, len(args))
	for _, a := range args {
		if opt, ok := a.(Option); ok {
			if err := opt(&o); err != nil {
				return nil, 0, err
			}
			continue
		}
		pos = append(pos, a)
	}
	f := o.format
	if o.caller != "" {
		if o.meta == nil {
			o.meta = make(map[string]string, 1)
		}
		o.meta[strand.MetaCaller] = o.caller
	}
	env := &codec.Envelope{
		V:           codec.Version,
		ID:          o.id,
		Func:        fn,
		Args:        make([]codec.Raw, len(pos)),
		Queue:       o.queue,
		Created:     time.Now().UnixMilli(),
		TimeoutMS:   o.timeout.Milliseconds(),
		MaxAttempts: o.maxAttempts,
		ResultTTLMS: o.resultTTL.Milliseconds(),
		Meta:        o.meta,
		Trace:       o.trace,
	}
	if env.ID == "" {
		id, err := uuid.NewV7()
		if err != nil {
			return nil, 0, err
		}
		env.ID = id.String()
	}
	for i, a := range pos {
		raw, err := f.Marshal(a)
		if err != nil {
			return nil, 0, fmt.Errorf("arg %d: %w", i+1, err)
		}
		env.Args[i] = raw
	}
	if o.kwargs != nil {
		raw, err := f.Marshal(o.kwargs)
		if err != nil {
			return nil, 0, fmt.Errorf("kwargs: %w", err)
		}
		env.Kwargs = raw
	}
	return env, f, nil
}

// headroom is what a message needs beyond its payload: subject and headers.
const headroom = 512

func (w *Writer) publish(ctx context.Context, env *codec.Envelope, f codec.Format) error {
	msg, err := w.message(env, f)
	if err != nil {
		return err
	}
	_, err = w.b.JetStream().PublishMsg(ctx, msg, w.pubOpts()...)
	return w.retry(ctx, msg, env.Queue, env.ID, err)
}

// retry writes a task record again while its last write failed in a way a
// retry can fix (broker.Transient: the connection failed over to another
// node, the stream was electing a leader), until ctx ends. A write that
// failed so may have been stored all the same: when a retry is refused
// because the record exists and the stored record is this one, byte for
// byte, the submission succeeded. See docs/decisions.md, "Cluster failover".
func (w *Writer) retry(ctx context.Context, msg *nats.Msg, queue, id string, err error) error {
	wait := 50 * time.Millisecond
	for retried := false; ; retried = true {
		switch {
		case err == nil:
			return nil
		case retried && wrongLastSeq(err) && w.stored(ctx, queue, id, msg.Data):
			return nil
		case !broker.Transient(err) || ctx.Err() != nil:
			return classify(err, id)
		}
		w.log.Debug().Err(err).Str("task_id", id).Msg("submit: retrying the write")
		select {
		case <-ctx.Done():
			return classify(err, id)
		case <-time.After(wait):
		}
		wait = min(2*wait, time.Second)
		_, err = w.b.JetStream().PublishMsg(ctx, msg, w.pubOpts()...)
	}
}

// stored reports whether the task record of id holds data.
func (w *Writer) stored(ctx context.Context, queue, id string, data []byte) bool {
	e, err := w.b.KV().Get(ctx, w.names.TaskKey(queue, id))
	return err == nil && bytes.Equal(e.Value(), data)
}

func (w *Writer) pubOpts() []jetstream.PublishOpt {
	return []jetstream.PublishOpt{jetstream.WithExpectLastSequencePerSubject(0), jetstream.WithMsgTTL(w.cfg.TaskTTL)}
}

// message encodes env as the create-only write of its task record.
func (w *Writer) message(env *codec.Envelope, f codec.Format) (*nats.Msg, error) {
	data, err := codec.EncodeEnvelope(f, env)
	if err != nil {
		return nil, err
	}
	if max := w.b.MaxPayload(); int64(len(data)+headroom) > max {
		return nil, fmt.Errorf("%w: the task is %d bytes, the server accepts %d", strand.ErrTooLarge, len(data), max-headroom)
	}
	msg := &nats.Msg{Subject: w.names.TaskSubject(env.Queue, env.ID), Data: data, Header: nats.Header{}}
	msg.Header.Set(codec.HeaderContentType, f.ContentType())
	msg.Header.Set(codec.HeaderFunc, env.Func)
	if env.Trace != "" {
		msg.Header.Set(codec.HeaderTrace, env.Trace)
	}
	return msg, nil
}

// Call is one task of a batch: a function name and its args, which may
// include Options, as for Submit.
type Call struct {
	Func string
	Args []any
}

// SubmitBatch submits many tasks in one pipeline: every write is sent
// before any acknowledgement is awaited, so a batch costs about one round
// trip, not one per task. It returns a handle or an error for each call, in
// order; a refused call (duplicate id, too large) does not stop the others.
func (w *Writer) SubmitBatch(ctx context.Context, calls []Call) ([]*Handle, []error) {
	hs := make([]*Handle, len(calls))
	errs := make([]error, len(calls))
	futs := make([]jetstream.PubAckFuture, len(calls))
	msgs := make([]*nats.Msg, len(calls))
	pubErrs := make([]error, len(calls)) // a publish refused before it was sent
	var sent []int
	for i, c := range calls {
		env, f, err := w.envelope(c.Func, c.Args)
		if err == nil {
			err = w.wrap(func(_ context.Context, env *codec.Envelope, f codec.Format) error {
				msg, err := w.message(env, f)
				if err != nil {
					return err
				}
				h := &Handle{w: w, id: env.ID, queue: env.Queue, fn: c.Func}
				if w.earlyWaiters() < maxEarly {
					if wt, err := w.await(env.ID); err == nil {
						h.early = wt
					}
				}
				hs[i], msgs[i] = h, msg
				futs[i], pubErrs[i] = w.b.JetStream().PublishMsgAsync(msg, w.pubOpts()...)
				sent = append(sent, i)
				return nil
			})(ctx, env, f)
		}
		if err != nil {
			errs[i] = fmt.Errorf("submit %s: %w", c.Func, err)
			continue
		}
	}
	// Writes that failed in a way a retry can fix (a cluster failing over,
	// see retry) are sent again together, pipelined like the first round.
	wait := 50 * time.Millisecond
	for retried := false; len(sent) > 0; retried = true {
		var again []int
		for _, i := range sent {
			err := pubErrs[i]
			if err == nil {
				select {
				case <-futs[i].Ok():
					continue
				case err = <-futs[i].Err():
				case <-ctx.Done():
					err = ctx.Err()
				}
			}
			switch {
			case retried && wrongLastSeq(err) && w.stored(ctx, hs[i].queue, hs[i].id, msgs[i].Data):
			case broker.Transient(err) && ctx.Err() == nil:
				again = append(again, i)
			default:
				errs[i] = fmt.Errorf("submit %s: %w", calls[i].Func, classify(err, hs[i].id))
			}
		}
		if len(again) > 0 {
			w.log.Debug().Int("tasks", len(again)).Msg("submit: retrying writes")
			select {
			case <-ctx.Done():
				for _, i := range again {
					errs[i] = fmt.Errorf("submit %s: %w", calls[i].Func, ctx.Err())
				}
				again = nil
			case <-time.After(wait):
			}
			wait = min(2*wait, time.Second)
		}
		for _, i := range again {
			futs[i], pubErrs[i] = w.b.JetStream().PublishMsgAsync(msgs[i], w.pubOpts()...)
		}
		sent = again
	}
	for i, h := range hs {
		if errs[i] != nil && h != nil {
			if h.early != nil {
				w.unawait(h.id, h.early)
			}
			hs[i] = nil
		}
	}
	return hs, errs
}

// classify maps JetStream's refusals to strand's sentinel errors.
func classify(err error, id string) error {
	if err == nil {
		return nil
	}
	if wrongLastSeq(err) {
		return fmt.Errorf("%w: %s", strand.ErrDuplicate, id)
	}
	if errors.Is(err, nats.ErrMaxPayload) {
		return fmt.Errorf("%w: %v", strand.ErrTooLarge, err)
	}
	return err
}

func wrongLastSeq(err error) bool {
	var apiErr *jetstream.APIError
	if !errors.As(err, &apiErr) {
		return errors.Is(err, jetstream.ErrKeyExists)
	}
	return apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequence ||
		apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequenceConstant
}

// Open returns a handle to a task that exists already, perhaps submitted
// by another process. Pass Queue(q) when the task's queue is known: it saves
// a lookup while the task is pending.
func (w *Writer) Open(id string, opts ...Option) (*Handle, error) {
	if err := codec.ValidID(id); err != nil {
		return nil, err
	}
	var o submitOpts
	for _, opt := range opts {
		if err := opt(&o); err != nil {
			return nil, err
		}
	}
	return &Handle{w: w, id: id, queue: o.queue}, nil
}

// await registers interest in r.<id>'s first write and makes sure the
// shared subscription exists (and is known to the server) before it returns.
func (w *Writer) await(id string) (*waiter, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return nil, errors.New("writer closed")
	}
	if w.sub == nil {
		sub, err := w.b.Conn().Subscribe(w.names.ResultEvents(), w.dispatch)
		if err == nil {
			_ = sub.SetPendingLimits(-1, -1)
			err = w.b.Conn().Flush()
		}
		if err != nil {
			return nil, fmt.Errorf("subscribe to outcomes: %w", err)
		}
		w.sub = sub
	}
	wt := w.waiting[id]
	if wt == nil {
		_, gen := w.b.Reconnected()
		wt = &waiter{done: make(chan struct{}), gen: gen}
		w.waiting[id] = wt
	}
	wt.refs++
	return wt, nil
}

// unawait drops one interest in wt; the last one removes it.
func (w *Writer) unawait(id string, wt *waiter) {
	w.mu.Lock()
	defer w.mu.Unlock()
	wt.refs--
	if wt.refs <= 0 && w.waiting[id] == wt {
		delete(w.waiting, id)
	}
}

// dispatch hands an outcome event to the handles waiting for it.
func (w *Writer) dispatch(m *nats.Msg) {
	if len(m.Data) == 0 || m.Header.Get(headerKVOperation) != "" || m.Header.Get(headerMarkerReason) != "" {
		return // a delete, purge or expiry marker, not an outcome
	}
	key, ok := w.names.KeyFromEvent(m.Subject)
	if !ok || len(key) < 3 {
		return
	}
	id := key[2:]
	w.mu.Lock()
	if wt := w.waiting[id]; wt != nil {
		delete(w.waiting, id)
		wt.data = m.Data
		close(wt.done)
	}
	w.mu.Unlock()
}
