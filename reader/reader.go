package reader

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"

	"github.com/strand-run/strand/broker"
	"github.com/strand-run/strand/codec"
	"github.com/strand-run/strand/registry"
)

// Config tunes a worker. The zero value works: queue "default", a pool of
// 16, AckWait 30s, results kept 24h. Fields can be read from STRAND_*
// variables with envconfig.
type Config struct {
	// Queues to consume (default ["default"]).
	Queues []string `envconfig:"QUEUES"`
	// Concurrency is how many tasks run at once (default 16).
	Concurrency int `envconfig:"CONCURRENCY"`
	// WorkerID names this worker in task records (default host-pid-random).
	WorkerID string `envconfig:"WORKER_ID"`
	// AckWait: a task whose worker stops answering for this long goes to
	// another worker (default 30s). Running tasks are kept alive with heartbeats.
	AckWait time.Duration `envconfig:"ACK_WAIT"`
	// MaxDeliver bounds how often one task is handed out beyond its attempts
	// (default 10): the delivery attempts+MaxDeliver-1 of a task, every
	// earlier one a failed attempt or a worker that died, ends it failed with
	// kind "lost" instead of running it.
	MaxDeliver int `envconfig:"MAX_DELIVER"`
	// ShutdownTimeout is how long Run waits for running tasks once its ctx
	// ends, before it cancels them and hands them back (default 30s).
	ShutdownTimeout time.Duration `envconfig:"SHUTDOWN_TIMEOUT"`
	// RunningAfter delays the "running" state record: a task that ends
	// sooner goes from pending straight to its outcome, saving a write
	// (default 5ms; negative writes it at once).
	RunningAfter time.Duration `envconfig:"RUNNING_AFTER"`
	// Prefetch is how many tasks the worker may hold beyond the ones it
	// runs (default 0). More helps the throughput of very short tasks; a
	// held task waits for a free slot here even if another worker is idle.
	Prefetch int `envconfig:"PREFETCH"`
	// ResultTTL keeps states and outcomes of tasks that name none (default 24h).
	ResultTTL time.Duration `envconfig:"RESULT_TTL"`
	// MaxAttempts is how many times a task runs when its envelope names no
	// max_attempts (default 1: no retry). A task whose handler fails with
	// attempts left is retried after an exponential backoff; after its last
	// attempt it is dead and copied to the dead-letter stream. With one
	// attempt a failed task ends failed, as before retries existed.
	MaxAttempts int `envconfig:"MAX_ATTEMPTS"`
	// RetryBase is the first retry's delay; each next one doubles, up to 10
	// minutes, with ±20 % jitter (default 1s).
	RetryBase time.Duration `envconfig:"RETRY_BASE"`
	// AbandonAfter is how long a handler that ignores its ctx may run past
	// its deadline (or cancel) before the worker gives up on it: the task
	// ends, the slot is free, the goroutine is counted by Abandoned
	// (default 1s).
	AbandonAfter time.Duration `envconfig:"ABANDON_AFTER"`
	// HeartbeatEvery is how often the worker rewrites its record in the
	// workers bucket, which expires three beats after the last (default 5s).
	HeartbeatEvery time.Duration `envconfig:"HEARTBEAT"`
	// Logger receives the worker's logs (default: none).
	Logger *zerolog.Logger `ignored:"true"`
	// Middleware wraps every handler call, the outermost first (default none).
	Middleware []Middleware `ignored:"true"`
	// ProcessQueues lists queues whose tasks run in a child process of this
	// binary (see runner.RunChild): a crash or an OOM of such a task fails
	// the task, not the worker. The binary calls runner.ServeChild first
	// thing in main (default none).
	ProcessQueues []string `envconfig:"PROCESS_QUEUES"`
	// ChildPath is the binary that runs process tasks (default this one).
	ChildPath string `envconfig:"CHILD_PATH"`
}

func (c Config) withDefaults() Config {
	if len(c.Queues) == 0 {
		c.Queues = []string{"default"}
	}
	c.Prefetch = max(c.Prefetch, 0)
	if c.Concurrency <= 0 {
		c.Concurrency = 16
	}
	if c.WorkerID == "" {
		c.WorkerID = workerHost() + "-" + strconv.Itoa(os.Getpid()) + "-" + uuid.NewString()[:4]
	}
	if c.AckWait <= 0 {
		c.AckWait = 30 * time.Second
	}
	if c.MaxDeliver <= 0 {
		c.MaxDeliver = 10
	}
	c.MaxDeliver = max(c.MaxDeliver, 2) // one delivery beyond the attempts, to record "lost"
	if c.ShutdownTimeout <= 0 {
		c.ShutdownTimeout = 30 * time.Second
	}
	if c.ResultTTL <= 0 {
		c.ResultTTL = 24 * time.Hour
	}
	if c.MaxAttempts <= 0 {
		c.MaxAttempts = 1
	}
	if c.RetryBase <= 0 {
		c.RetryBase = time.Second
	}
	if c.AbandonAfter <= 0 {
		c.AbandonAfter = time.Second
	}
	if c.HeartbeatEvery <= 0 {
		c.HeartbeatEvery = DefaultHeartbeatEvery
	}
	if c.RunningAfter == 0 {
		c.RunningAfter = 5 * time.Millisecond
	}
	if c.Logger == nil {
		nop := zerolog.Nop()
		c.Logger = &nop
	}
	return c
}

// Reader is a worker: it takes tasks from its queues, runs the registered
// handlers in a bounded pool, and records their outcomes.
type Reader struct {
	b     *broker.Broker
	reg   *registry.Registry
	cfg   Config
	names broker.Names
	log   zerolog.Logger

	ab      abandonment // handlers given up on (see call)
	handler Handler     // the middleware chain around call

	mu        sync.Mutex
	running   map[string]context.CancelCauseFunc
	cancelled map[string]time.Time
	inFlight  atomic.Int64 // handlers running now, for the heartbeat record
}

// New returns a worker for the functions in reg.
func New(b *broker.Broker, reg *registry.Registry, cfg Config) (*Reader, error) {
	cfg = cfg.withDefaults()
	if err := checkWorkerID(cfg.WorkerID); err != nil {
		return nil, err
	}
	for _, q := range cfg.Queues {
		if err := codec.ValidQueue(q); err != nil {
			return nil, err
		}
	}
	r := &Reader{
		b: b, reg: reg, cfg: cfg, names: b.Names(),
		log:       cfg.Logger.With().Str("worker", cfg.WorkerID).Logger(),
		running:   make(map[string]context.CancelCauseFunc),
		cancelled: make(map[string]time.Time),
	}
	if len(cfg.ProcessQueues) > 0 {
		r.cfg.Middleware = append(slices.Clip(cfg.Middleware), r.inChild)
	}
	r.handler = r.chain()
	return r, nil
}

// ID is the worker's id, as written in task records.
func (r *Reader) ID() string { return r.cfg.WorkerID }

// Errors that end a handler's ctx, told apart with context.Cause.
var (
	errCancelledByCaller = errors.New("cancelled by caller")
	errShutdown          = errors.New("worker shutting down")
)

type job struct {
	msg   jetstream.Msg
	queue string
}

// Run works until ctx ends, then shuts down in order: stop taking tasks and
// hand back the ones taken but not started, let running tasks finish for up
// to ShutdownTimeout, cancel the rest and hand them back for redelivery,
// wait for the last outcomes to be confirmed, and return.
func (r *Reader) Run(ctx context.Context) error {
	consumers := make([]jetstream.Consumer, 0, len(r.cfg.Queues))
	for _, q := range r.cfg.Queues {
		cons, err := r.b.EnsureQueue(ctx, q, broker.QueueConfig{
			AckWait: r.cfg.AckWait, MaxDeliver: r.consumerMaxDeliver(),
			MaxAckPending: max(1000, 4*r.cfg.Concurrency),
		})
		if err != nil {
			if ctx.Err() != nil {
				return nil // stopped while starting
			}
			return err
		}
		consumers = append(consumers, cons)
	}
	defer r.announce(ctx)() // the worker's record in the workers bucket, deleted on return
	sub, err := r.b.Conn().Subscribe(r.names.CancelAll(), r.onCancel)
	if err != nil {
		return fmt.Errorf("subscribe to cancels: %w", err)
	}
	defer sub.Unsubscribe()

	// Handlers run under runCtx: it outlives ctx by ShutdownTimeout.
	runCtx, stopRuns := context.WithCancelCause(context.WithoutCancel(ctx))
	defer stopRuns(nil)

	jobs := make(chan job)
	// A slot is a task the worker may hold: one per pool goroutine, plus
	// Prefetch. Fetchers pull only as many tasks as they hold slots, so a
	// busy worker never sits on tasks another worker could run.
	slots := make(chan struct{}, r.cfg.Concurrency+r.cfg.Prefetch)
	for range cap(slots) {
		slots <- struct{}{}
	}
	acks := make(chan pendingAck, 4*r.cfg.Concurrency)
	stopping := make(chan struct{})

	var ackers sync.WaitGroup
	ackers.Go(func() { r.ack(acks) })

	var pool sync.WaitGroup
	for range r.cfg.Concurrency {
		pool.Go(func() {
			for j := range jobs {
				r.process(runCtx, j, acks)
				slots <- struct{}{}
			}
		})
	}
	var fetchers sync.WaitGroup
	for i, cons := range consumers {
		q := r.cfg.Queues[i]
		// Two pulls in flight per queue: one is handed out while the
		// other is being filled.
		for range 2 {
			fetchers.Go(func() { r.fetch(cons, q, jobs, slots, stopping) })
		}
	}
	r.log.Info().Strs("queues", r.cfg.Queues).Int("concurrency", r.cfg.Concurrency).
		Strs("functions", r.reg.Names()).Msg("worker started")

	<-ctx.Done()
	r.log.Info().Msg("worker stopping: no new tasks, waiting for running ones")
	close(stopping)
	fetchers.Wait()
	close(jobs)

	done := make(chan struct{})
	go func() { pool.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(r.cfg.ShutdownTimeout):
		r.log.Warn().Dur("shutdown_timeout", r.cfg.ShutdownTimeout).Msg("cancelling running tasks; they will be redelivered")
		stopRuns(errShutdown)
		<-done
	}
	close(acks)
	ackers.Wait()
	r.waitAbandoned(r.cfg.ShutdownTimeout)
	r.log.Info().Msg("worker stopped")
	return nil
}

// fetchWait bounds one pull request; shutdown waits for at most one.
const fetchWait = 2 * time.Second

// fetch pulls the queue's tasks, as many at a time as it can take free
// slots, and hands them to the pool one by one. Each batch is read to its
// end, even while stopping, so that no task is left in flight to a
// subscription that is gone (it would wait out AckWait); what the pool will
// not start is handed back at once.
func (r *Reader) fetch(cons jetstream.Consumer, queue string, jobs chan<- job, slots chan struct{}, stopping <-chan struct{}) {
	log := r.log.With().Str("queue", queue).Logger()
	release := func(n int) {
		for range n {
			slots <- struct{}{}
		}
	}
	pause := time.Duration(0)
	for {
		select {
		case <-stopping:
			return
		default:
		}
		if pause > 0 {
			select {
			case <-stopping:
				return
			case <-time.After(pause):
			}
		}
		// One slot, waiting for it, then whatever else is free.
		select {
		case <-slots:
		case <-stopping:
			return
		}
		n := 1
	more:
		for n < cap(slots) {
			select {
			case <-slots:
				n++
			default:
				break more
			}
		}
		batch, err := cons.Fetch(n, jetstream.FetchMaxWait(fetchWait))
		if err != nil {
			release(n)
			log.Warn().Err(err).Msg("fetching tasks")
			pause = min(max(2*pause, 100*time.Millisecond), 5*time.Second)
			continue
		}
		pause = 0
		// Handed back only once the batch is over: a message handed back
		// while its pull is open would be redelivered to it at once.
		var back []jetstream.Msg
		handed := 0
		for msg := range batch.Messages() {
			select {
			case <-stopping:
				back = append(back, msg)
				continue
			default:
			}
			select {
			case jobs <- job{msg: msg, queue: queue}:
				handed++ // its slot comes back when the pool is done with it
			case <-stopping:
				back = append(back, msg)
			}
		}
		release(n - handed)
		for _, msg := range back {
			nak(log, msg)
		}
		if err := batch.Error(); err != nil && !errors.Is(err, nats.ErrTimeout) {
			log.Warn().Err(err).Msg("fetching tasks")
			pause = min(max(2*pause, 100*time.Millisecond), 5*time.Second)
		}
	}
}

// onCancel stops a running task at once and remembers the id, so that a
// task already fetched but not yet started is skipped.
func (r *Reader) onCancel(m *nats.Msg) {
	id := m.Subject[len(r.names.Cancel("")):]
	now := time.Now()
	r.mu.Lock()
	defer r.mu.Unlock()
	if cancel, ok := r.running[id]; ok {
		cancel(errCancelledByCaller)
	}
	r.cancelled[id] = now
	if len(r.cancelled) > 4096 {
		for k, t := range r.cancelled {
			if now.Sub(t) > 10*time.Minute {
				delete(r.cancelled, k)
			}
		}
	}
}

func (r *Reader) track(id string, cancel context.CancelCauseFunc) (cancelled bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ok := r.cancelled[id]; ok {
		return true
	}
	r.running[id] = cancel
	return false
}

func (r *Reader) untrack(id string) {
	r.mu.Lock()
	delete(r.running, id)
	r.mu.Unlock()
}

// Functions lists what this worker can run.
func (r *Reader) Functions() []string { return r.reg.Names() }
