package writer

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/kelseyhightower/envconfig"
	"github.com/nats-io/nats.go"
	"github.com/rs/zerolog"

	strand "github.com/strand-run/strand"
	"github.com/strand-run/strand/broker"
	"github.com/strand-run/strand/codec"
)

// FromEnv reads a Config from STRAND_QUEUE, STRAND_RESULT_TTL,
// STRAND_TASK_TTL, STRAND_JSON and STRAND_CALLER; fields left unset keep
// their defaults.
func FromEnv() (Config, error) {
	var c Config
	if err := envconfig.Process("strand", &c); err != nil {
		return Config{}, fmt.Errorf("writer: environment: %w", err)
	}
	return c, nil
}

// Config is a writer's defaults. The zero value works: queue "default",
// msgpack, results kept 24h. Fields can be read from STRAND_* variables
// with envconfig.
type Config struct {
	// Queue tasks go to unless Queue(...) says otherwise (default "default").
	Queue string `envconfig:"QUEUE"`
	// ResultTTL is how long states and outcomes are kept (default 24h).
	ResultTTL time.Duration `envconfig:"RESULT_TTL"`
	// TaskTTL is the longest a task may wait in its queue before it expires
	// unrun (default 14 days, as SQS; at least 1s). Keep it far above any
	// run time too: a task whose TTL passes while it runs leaves the queue.
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
	subs    map[string]*nats.Subscription // per queue: the events of its records
	waiting map[string]*waiter            // by queue "." id
	closed  bool
}

// waiter is where the first outcome event of one task is delivered, once,
// to every handle waiting for it.
type waiter struct {
	done    chan struct{}
	subject string // set before done is closed: the event's subject
	data    []byte // and its payload
	err     error  // or why no event will come (the writer closed)
	refs    int
	gen     uint64 // the broker's reconnect count when the waiter was made
}

// maxEarly bounds the waiters registered at submit for handles that may
// never wait; past it, Wait falls back to a read after subscribing.
const maxEarly = 4096

// New returns a writer that submits through b.
func New(b *broker.Broker, cfg Config) (*Writer, error) {
	cfg = cfg.withDefaults()
	if err := codec.ValidQueue(cfg.Queue); err != nil {
		return nil, fmt.Errorf("%w: %v", strand.ErrBadOption, err)
	}
	if cfg.ResultTTL < broker.MinTTL || cfg.TaskTTL < broker.MinTTL {
		return nil, fmt.Errorf("%w: result TTL %v and task TTL %v must be at least %v", strand.ErrBadOption, cfg.ResultTTL, cfg.TaskTTL, broker.MinTTL)
	}
	if cfg.ResultTTL > broker.MaxResultTTL {
		return nil, fmt.Errorf("%w: result TTL %v is over the maximum of %v", strand.ErrBadOption, cfg.ResultTTL, broker.MaxResultTTL)
	}
	return &Writer{
		b: b, cfg: cfg, names: b.Names(), log: *cfg.Logger,
		subs: make(map[string]*nats.Subscription), waiting: make(map[string]*waiter),
	}, nil
}

// Close stops the writer's subscriptions and ends every pending wait with
// strand.ErrClosed. Handles stop working.
func (w *Writer) Close() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return nil
	}
	w.closed = true
	for k, wt := range w.waiting {
		wt.err = strand.ErrClosed
		close(wt.done)
		delete(w.waiting, k)
	}
	var errs []error
	for _, sub := range w.subs {
		if err := sub.Unsubscribe(); err != nil && !errors.Is(err, nats.ErrConnectionClosed) {
			errs = append(errs, err)
		}
	}
	w.subs = nil
	return errors.Join(errs...)
}

// Submit queues a call of the function registered as fn with args, and
// returns a handle to it at once. Arguments of type Option configure the
// submission (Queue, ID, Kwargs, Timeout, …); the others are the task's
// positional args, encoded with msgpack (or JSON). Concurrent calls share
// round trips to the server. A task larger than the server accepts is
// refused (strand.ErrTooLarge). An id that is taken — its task is queued,
// running, or its outcome is kept — returns an error matching
// strand.ErrDuplicate together with a handle to the task that holds it.
func (w *Writer) Submit(ctx context.Context, fn string, args ...any) (*Handle, error) {
	env, f, own, o, at, err := w.envelope(fn, args)
	if err != nil {
		return nil, fmt.Errorf("submit %s: %w", fn, err)
	}
	var h *Handle
	err = w.wrap(func(ctx context.Context, env *codec.Envelope, f codec.Format) error {
		var t *broker.Task
		if h, t, err = w.prepare(env, f, own, at); err != nil {
			return err
		}
		t.Lane = o.lane()
		if o.unique != "" || o.debounce > 0 {
			var held *Handle
			held, err = w.submitFlow(ctx, t, o)
			if held != nil {
				w.refused(h, err)
				h = held
			}
			return err
		}
		return w.b.Submit(ctx, t)[0]
	})(ctx, env, f)
	if err != nil {
		return w.refused(h, err), fmt.Errorf("submit %s: %w", fn, err)
	}
	return h, nil
}

// prepare encodes env as its task and makes its handle, waiting for its
// outcome from before the task exists: then the outcome cannot be missed,
// and Wait needs no read.
func (w *Writer) prepare(env *codec.Envelope, f codec.Format, own bool, at time.Time) (*Handle, *broker.Task, error) {
	data, err := codec.EncodeEnvelope(f, env)
	if err != nil {
		return nil, nil, err
	}
	h := &Handle{w: w, id: env.ID, queue: env.Queue, fn: env.Func}
	if w.earlyWaiters() < maxEarly {
		if wt, err := w.await(env.Queue, env.ID); err == nil {
			h.early = wt
		}
	}
	t := &broker.Task{
		Queue: env.Queue, ID: env.ID, Func: env.Func, Trace: env.Trace,
		Format: f, Data: data, TTL: w.cfg.TaskTTL, OwnID: own, At: at, Lane: env.Priority,
	}
	return h, t, nil
}

// refused drops the early wait of a handle whose task was refused, and
// returns the handle if the refusal was a taken id (it names the task that
// holds it), else nil.
func (w *Writer) refused(h *Handle, err error) *Handle {
	if h == nil {
		return nil
	}
	if h.early != nil {
		w.unawait(h.queue, h.id, h.early)
		h.early = nil
	}
	if errors.Is(err, strand.ErrDuplicate) {
		return h
	}
	return nil
}

// envelope makes the envelope of a call of fn with args (options among
// them), returns the options that shape the submit itself (uniqueness,
// debounce, lane), and when it is to run: zero for now, else the time At or
// After asked.
func (w *Writer) envelope(fn string, args []any) (*codec.Envelope, codec.Format, bool, *submitOpts, time.Time, error) {
	env, f, own, o, err := w.build(fn, args)
	if err != nil {
		return nil, 0, false, nil, time.Time{}, err
	}
	if o.tz != "" {
		return nil, 0, false, nil, time.Time{}, fmt.Errorf("%w: TimeZone is for schedules, not tasks", strand.ErrBadOption)
	}
	if !o.delayed {
		return env, f, own, o, time.Time{}, nil
	}
	if d := time.Until(o.at); d > w.cfg.TaskTTL {
		return nil, 0, false, nil, time.Time{}, fmt.Errorf("%w: a delay of %v is beyond the task TTL of %v (STRAND_TASK_TTL)", strand.ErrBadOption, d.Round(time.Second), w.cfg.TaskTTL)
	}
	return env, f, own, o, o.at, nil
}

// build makes the envelope of a call of fn with args and returns the
// options it found among them.
func (w *Writer) build(fn string, args []any) (*codec.Envelope, codec.Format, bool, *submitOpts, error) {
	o := submitOpts{queue: w.cfg.Queue, resultTTL: w.cfg.ResultTTL, caller: w.cfg.Caller}
	if w.cfg.JSON {
		o.format = codec.JSON
	}
	pos := make([]any, 0, len(args))
	for _, a := range args {
		if opt, ok := a.(Option); ok {
			if err := opt(&o); err != nil {
				return nil, 0, false, nil, fmt.Errorf("%w: %v", strand.ErrBadOption, err)
			}
			continue
		}
		pos = append(pos, a)
	}
	f := o.format
	if err := w.checkFlow(&o); err != nil {
		return nil, 0, false, nil, fmt.Errorf("%w: %v", strand.ErrBadOption, err)
	}
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
		Key:         o.key,
		Unique:      o.unique,
	}
	if o.priority != codec.PriorityNormal {
		env.Priority = o.priority
	}
	if o.debounce > 0 {
		env.NotBefore = env.Created + o.debounce.Milliseconds()
	}
	own := env.ID != ""
	if !own {
		id, err := uuid.NewV7()
		if err != nil {
			return nil, 0, false, nil, err
		}
		env.ID = id.String()
	}
	for i, a := range pos {
		raw, err := f.Marshal(a)
		if err != nil {
			return nil, 0, false, nil, fmt.Errorf("arg %d: %w", i+1, err)
		}
		env.Args[i] = raw
	}
	if o.kwargs != nil {
		raw, err := f.Marshal(o.kwargs)
		if err != nil {
			return nil, 0, false, nil, fmt.Errorf("kwargs: %w", err)
		}
		env.Kwargs = raw
	}
	return env, f, own, &o, nil
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
// order; a refused call does not stop the others. A taken id gets an error
// matching strand.ErrDuplicate and a handle to the task that holds it.
func (w *Writer) SubmitBatch(ctx context.Context, calls []Call) ([]*Handle, []error) {
	hs := make([]*Handle, len(calls))
	errs := make([]error, len(calls))
	tasks := make([]*broker.Task, 0, len(calls))
	at := make([]int, 0, len(calls))
	for i, c := range calls {
		env, f, own, o, runAt, err := w.envelope(c.Func, c.Args)
		if err == nil && (o.unique != "" || o.debounce > 0) {
			hs[i], errs[i] = w.Submit(ctx, c.Func, c.Args...) // its claim comes first: one at a time
			continue
		}
		if err == nil {
			err = w.wrap(func(_ context.Context, env *codec.Envelope, f codec.Format) error {
				h, t, err := w.prepare(env, f, own, runAt)
				if err != nil {
					return err
				}
				if o != nil {
					t.Lane = o.lane()
				}
				hs[i] = h
				tasks = append(tasks, t)
				at = append(at, i)
				return nil
			})(ctx, env, f)
		}
		if err != nil {
			errs[i] = fmt.Errorf("submit %s: %w", c.Func, err)
		}
	}
	for j, err := range w.b.Submit(ctx, tasks...) {
		if i := at[j]; err != nil {
			errs[i] = fmt.Errorf("submit %s: %w", calls[i].Func, err)
			hs[i] = w.refused(hs[i], err)
		}
	}
	return hs, errs
}

// Open returns a handle to a task that exists already, perhaps submitted
// by another process. Pass Queue(q) when the task's queue is known: it saves
// a lookup.
func (w *Writer) Open(id string, opts ...Option) (*Handle, error) {
	if err := codec.ValidID(id); err != nil {
		return nil, err
	}
	var o submitOpts
	for _, opt := range opts {
		if err := opt(&o); err != nil {
			return nil, fmt.Errorf("%w: %v", strand.ErrBadOption, err)
		}
	}
	return &Handle{w: w, id: id, queue: o.queue}, nil
}

// await registers interest in the first outcome of task id in queue and
// makes sure the queue's subscriptions exist (and are known to the server)
// before it returns.
func (w *Writer) await(queue, id string) (*waiter, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return nil, strand.ErrClosed
	}
	if w.subs[queue] == nil {
		// One subscription for outcomes and cancellations alike, so that
		// their events arrive in the order the server stored them.
		sub, err := w.b.Subscribe(w.names.Events("*", queue), w.dispatch) // flushed, refusal checked
		if err == nil {
			_ = sub.SetPendingLimits(-1, -1)
		}
		if err != nil {
			return nil, fmt.Errorf("subscribe to outcomes of queue %s: %w", queue, err)
		}
		w.subs[queue] = sub
	}
	key := queue + "." + id
	wt := w.waiting[key]
	if wt == nil {
		_, gen := w.b.Reconnected()
		wt = &waiter{done: make(chan struct{}), gen: gen}
		w.waiting[key] = wt
	}
	wt.refs++
	return wt, nil
}

func (w *Writer) earlyWaiters() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.waiting)
}

// unawait drops one interest in wt; the last one removes it.
func (w *Writer) unawait(queue, id string, wt *waiter) {
	w.mu.Lock()
	defer w.mu.Unlock()
	wt.refs--
	if key := queue + "." + id; wt.refs <= 0 && w.waiting[key] == wt {
		delete(w.waiting, key)
	}
}

// dispatch hands the first outcome event of a task (its outcome or its
// cancellation: events come in the order the server stored them) to the
// handles waiting for it.
func (w *Writer) dispatch(m *nats.Msg) {
	if broker.IsMarker(m.Header, m.Data) {
		return // a purge or expiry marker, not an outcome
	}
	kind, queue, id, ok := w.names.ParseKey(m.Subject)
	if !ok || (kind != broker.KindOutcome && kind != broker.KindCancel) {
		return // a state
	}
	key := queue + "." + id
	w.mu.Lock()
	if wt := w.waiting[key]; wt != nil {
		delete(w.waiting, key)
		wt.subject, wt.data = m.Subject, m.Data
		close(wt.done)
	}
	w.mu.Unlock()
}
