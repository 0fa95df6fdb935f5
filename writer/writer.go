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
	"github.com/strand-run/strand/internal/broker"
	"github.com/strand-run/strand/internal/codec"
	"github.com/strand-run/strand/internal/opt"
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
	// Queue tasks go to unless strand.Queue says otherwise (default "default").
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
	// meta under "caller" for workers' authorisation (default none;
	// strand.Caller overrides it per task).
	Caller string `envconfig:"CALLER"`
	// Middleware wraps every submission, the outermost first (default none).
	Middleware []Middleware `ignored:"true"`
	// Logger receives the writer's logs (default: none).
	Logger *zerolog.Logger `ignored:"true"`
}

// defaultQueue is the queue used when none is named.
const defaultQueue = "default"

// defaultResultTTL is how long outcomes are kept unless configured.
const defaultResultTTL = 24 * time.Hour

// defaultTaskTTL is the longest a task waits in its queue unless configured.
const defaultTaskTTL = 14 * 24 * time.Hour

func (c Config) withDefaults() Config {
	if c.Queue == "" {
		c.Queue = defaultQueue
	}
	if c.ResultTTL <= 0 {
		c.ResultTTL = defaultResultTTL
	}
	if c.TaskTTL <= 0 {
		c.TaskTTL = defaultTaskTTL
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
	done    chan struct{} // closed by Close

	// created holds the created times given to chosen ids this
	// millisecond or later (createdFor): an outcome's created time is how
	// a submit of a chosen id tells its own task's outcome from an earlier
	// task's (broker's finishedBefore), so a writer never gives one id the
	// same created time twice, even within a batch sent in one millisecond.
	cmu     sync.Mutex
	created map[string]int64
	swept   int64 // the millisecond created was last swept in
}

// waiter is where the first outcome event of one task is delivered, once,
// to every handle waiting for it.
type waiter struct {
	done    chan struct{}
	subject string // set before done is closed: the event's subject
	data    []byte // and its payload
	err     error  // or why no event will come (the writer closed)
	refs    int
	gen     uint64 // the broker's Resync count when the waiter was made
}

// maxEarly bounds the waiters registered at submit for handles that may
// never wait; past it, Wait falls back to a read after subscribing.
const maxEarly = 4096

func newWriter(b *broker.Broker, cfg Config) (*Writer, error) {
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
		done: make(chan struct{}),
	}, nil
}

// Close stops the writer's subscriptions and ends every pending wait at
// once — Wait, Result, Items, WatchProgress of its handles — with an error
// matching strand.ErrClosed; later waits and submits get it too.
func (w *Writer) Close() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return nil
	}
	w.closed = true
	close(w.done)
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

func (w *Writer) isClosed() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.closed
}

// Submit queues a call of the function registered as fn with args, its
// positional arguments, and returns a handle to it at once. opts configure
// the submission (strand.Queue, strand.ID, strand.Kwargs, strand.Timeout,
// …); an invalid one, or an option found among args, is refused with an
// error matching strand.ErrBadOption. Args are encoded with msgpack (or
// JSON, or the codec strand.Encoding names). Concurrent calls share round
// trips to the server. A task larger than the server accepts is refused
// (strand.ErrTooLarge). An id that is taken — its task is queued, running,
// or its outcome is kept — returns an error matching strand.ErrDuplicate
// together with a handle to the task that holds it.
func (w *Writer) Submit(ctx context.Context, fn string, args []any, opts ...strand.Option) (strand.Handle, error) {
	h, err := w.submit(ctx, fn, args, opts)
	if h == nil {
		return nil, err
	}
	return h, err
}

func (w *Writer) submit(ctx context.Context, fn string, args []any, opts []strand.Option) (*handle, error) {
	p, err := w.envelope(fn, args, opts)
	if err != nil {
		return nil, fmt.Errorf("submit %s: %w", fn, err)
	}
	var h *handle
	err = w.wrap(func(ctx context.Context, e *Envelope) error {
		var t *broker.Task
		if h, t, err = w.prepare(e, p); err != nil {
			return err
		}
		if p.c.flow() {
			var held *handle
			held, err = w.submitFlow(ctx, t, p.c)
			if held != nil {
				w.refused(h, err)
				h = held
			}
			return err
		}
		return w.b.Submit(ctx, t)[0]
	})(ctx, p.wrapped(len(w.cfg.Middleware) > 0))
	if err != nil {
		return w.refused(h, err), fmt.Errorf("submit %s: %w", fn, err)
	}
	return h, nil
}

// pending is a submission made ready: its envelope, its options, and when
// it is to run (zero for now).
type pending struct {
	env *codec.Envelope
	c   *call
	own bool // the caller gave the id
	at  time.Time
}

// wrapped is the envelope as middleware sees it; its args and kwargs only
// when there is middleware to read them.
func (p *pending) wrapped(args bool) *Envelope {
	e := &Envelope{
		ID: p.env.ID, Func: p.env.Func, Queue: p.env.Queue, Meta: p.env.Meta, Trace: p.env.Trace,
		Encoding: p.c.format.Name(), MaxAttempts: p.env.MaxAttempts, Timeout: p.c.Timeout,
	}
	if !args {
		return e
	}
	f, of := p.c.format, "task "+e.ID
	for i, a := range p.env.Args {
		e.Args = append(e.Args, codec.Value{F: f, Raw: a, Pos: i + 1, What: of})
	}
	if !p.env.Kwargs.IsNil() {
		e.Kwargs = codec.Value{F: f, Raw: p.env.Kwargs, What: "the kwargs of task " + e.ID}
	}
	return e
}

// prepare encodes the envelope as middleware left it as its task, and
// makes its handle, waiting for its outcome from before the task exists:
// then the outcome cannot be missed, and Wait needs no read.
func (w *Writer) prepare(e *Envelope, p *pending) (*handle, *broker.Task, error) {
	env, f := p.env, p.c.format
	env.Meta, env.Trace = e.Meta, e.Trace
	if len(env.Meta) == 0 {
		env.Meta = nil
	}
	data, err := codec.EncodeEnvelope(f, env)
	if err != nil {
		return nil, nil, err
	}
	h := &handle{w: w, id: env.ID, queue: env.Queue, fn: env.Func}
	if wt, err := w.awaitEarly(env.Queue, env.ID); err == nil {
		h.early = wt // nil past maxEarly
	} else if errors.Is(err, strand.ErrClosed) {
		return nil, nil, err
	}
	t := &broker.Task{
		Queue: env.Queue, ID: env.ID, Func: env.Func, Trace: env.Trace,
		Format: f, Data: data, TTL: w.cfg.TaskTTL, OwnID: p.own, Created: env.Created, At: p.at, Lane: p.c.lane(),
	}
	return h, t, nil
}

// refused drops the early wait of a handle whose task was refused, and
// returns the handle if the refusal was a taken id (it names the task that
// holds it), else nil.
func (w *Writer) refused(h *handle, err error) *handle {
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

// envelope makes the envelope of a call of fn with args and opts, and says
// when it is to run: now, or the time At or After asked.
func (w *Writer) envelope(fn string, args []any, opts []strand.Option) (*pending, error) {
	if w.isClosed() {
		return nil, strand.ErrClosed
	}
	p, err := w.build(fn, args, opts)
	if err != nil {
		return nil, err
	}
	if !p.c.Delayed {
		return p, nil
	}
	if d := time.Until(p.c.At); d > w.cfg.TaskTTL {
		return nil, fmt.Errorf("%w: a delay of %v is beyond the task TTL of %v (STRAND_TASK_TTL)", strand.ErrBadOption, d.Round(time.Second), w.cfg.TaskTTL)
	}
	p.at = p.c.At
	return p, nil
}

// createdFor is the created time (unix ms) of a new envelope of id: now,
// unless id is chosen ("" is not) and this writer gave it a created time
// not before now already, then one later. Generated ids never repeat, and
// created times must not run ahead of the clock.
func (w *Writer) createdFor(id string) int64 {
	now := time.Now().UnixMilli()
	if id == "" {
		return now
	}
	w.cmu.Lock()
	defer w.cmu.Unlock()
	if now != w.swept {
		w.swept = now // once a millisecond, not once a call
		for k, at := range w.created {
			if at < now {
				delete(w.created, k)
			}
		}
	}
	if at, ok := w.created[id]; ok && at >= now {
		now = at + 1
	}
	if w.created == nil {
		w.created = make(map[string]int64)
	}
	w.created[id] = now
	return now
}

// build makes the envelope of a call of fn with args and opts.
func (w *Writer) build(fn string, args []any, opts []strand.Option) (*pending, error) {
	if err := checkArgs(args); err != nil {
		return nil, err
	}
	c, err := w.resolve(opts)
	if err != nil {
		return nil, err
	}
	f := c.format
	meta := c.Meta
	if c.Caller != "" {
		if meta == nil {
			meta = make(map[string]string, 1)
		}
		meta[opt.MetaCaller] = c.Caller
	}
	env := &codec.Envelope{
		V:           codec.Version,
		ID:          c.ID,
		Func:        fn,
		Args:        make([]codec.Raw, len(args)),
		Queue:       c.Queue,
		Created:     w.createdFor(c.ID),
		TimeoutMS:   c.Timeout.Milliseconds(),
		MaxAttempts: c.MaxAttempts,
		ResultTTLMS: c.ResultTTL.Milliseconds(),
		Meta:        meta,
		Trace:       c.Trace,
		Key:         c.Key,
		Unique:      c.Unique,
	}
	if c.Priority != codec.PriorityNormal {
		env.Priority = c.Priority
	}
	if c.Debounce > 0 {
		env.NotBefore = env.Created + c.Debounce.Milliseconds()
	}
	own := env.ID != ""
	if !own {
		id, err := uuid.NewV7()
		if err != nil {
			return nil, err
		}
		env.ID = id.String()
	}
	for i, a := range args {
		raw, err := f.Marshal(a)
		if err != nil {
			return nil, fmt.Errorf("arg %d: %w", i+1, err)
		}
		env.Args[i] = raw
	}
	if c.Kwargs != nil {
		raw, err := f.Marshal(c.Kwargs)
		if err != nil {
			return nil, fmt.Errorf("kwargs: %w", err)
		}
		env.Kwargs = raw
	}
	return &pending{env: env, c: c, own: own}, nil
}

// Call is one task of a batch: a function name, its args and its options,
// as for Submit.
type Call struct {
	Func string
	Args []any
	Opts []strand.Option
}

// SubmitBatch submits many tasks in one pipeline: every write is sent
// before any acknowledgement is awaited, so a batch costs about one round
// trip, not one per task. It returns a handle or an error for each call, in
// order; a refused call does not stop the others. A taken id gets an error
// matching strand.ErrDuplicate and a handle to the task that holds it.
func (w *Writer) SubmitBatch(ctx context.Context, calls []Call) ([]strand.Handle, []error) {
	hs := make([]*handle, len(calls))
	errs := make([]error, len(calls))
	tasks := make([]*broker.Task, 0, len(calls))
	at := make([]int, 0, len(calls))
	for i, c := range calls {
		p, err := w.envelope(c.Func, c.Args, c.Opts)
		if err == nil && p.c.flow() {
			hs[i], errs[i] = w.submit(ctx, c.Func, c.Args, c.Opts) // its claim comes first: one at a time
			continue
		}
		if err == nil {
			err = w.wrap(func(_ context.Context, e *Envelope) error {
				h, t, err := w.prepare(e, p)
				if err != nil {
					return err
				}
				hs[i] = h
				tasks = append(tasks, t)
				at = append(at, i)
				return nil
			})(ctx, p.wrapped(len(w.cfg.Middleware) > 0))
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
	out := make([]strand.Handle, len(hs))
	for i, h := range hs {
		if h != nil {
			out[i] = h
		}
	}
	return out, errs
}

// Open returns a handle to a task that exists already, perhaps submitted
// by another process. Pass strand.Queue(q) when the task's queue is known:
// it saves a lookup. Open takes no other option.
func (w *Writer) Open(id string, opts ...strand.Option) (strand.Handle, error) {
	h, err := w.open(id, opts)
	if err != nil {
		return nil, err
	}
	return h, nil
}

func (w *Writer) open(id string, opts []strand.Option) (*handle, error) {
	if err := codec.ValidID(id); err != nil {
		return nil, fmt.Errorf("open: %w: %w", strand.ErrBadOption, err)
	}
	c := &call{}
	for i, o := range opts {
		if o == nil {
			return nil, fmt.Errorf("open %s: %w: option %d is nil", id, strand.ErrBadOption, i+1)
		}
		o(&c.Call)
	}
	if err := c.Err(); err != nil {
		return nil, fmt.Errorf("open %s: %w", id, err)
	}
	if err := only(c, "Open", "Queue"); err != nil {
		return nil, fmt.Errorf("open %s: %w", id, err)
	}
	return &handle{w: w, id: id, queue: c.Queue}, nil
}

// await registers interest in the first outcome of task id in queue and
// makes sure the queue's subscriptions exist (and are known to the server)
// before it returns.
func (w *Writer) await(queue, id string) (*waiter, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.awaitLocked(queue, id)
}

// awaitEarly is await for a handle at submit, under the one lock: nil,
// nil once maxEarly waiters are registered (Wait then reads after it
// subscribes).
func (w *Writer) awaitEarly(queue, id string) (*waiter, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.closed && len(w.waiting) >= maxEarly {
		return nil, nil
	}
	return w.awaitLocked(queue, id)
}

// awaitLocked is await with w.mu held.
func (w *Writer) awaitLocked(queue, id string) (*waiter, error) {
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
		_, gen := w.b.Resync()
		wt = &waiter{done: make(chan struct{}), gen: gen}
		w.waiting[key] = wt
	}
	wt.refs++
	return wt, nil
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
