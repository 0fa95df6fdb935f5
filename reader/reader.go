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
	"github.com/kelseyhightower/envconfig"
	"github.com/nats-io/nats.go"
	"github.com/rs/zerolog"

	strand "github.com/strand-run/strand"
	"github.com/strand-run/strand/internal/broker"
	"github.com/strand-run/strand/internal/codec"
	"github.com/strand-run/strand/internal/handler"
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
	// runs (default: as many as Concurrency, at most 64; none for a
	// one-slot worker, which runs its queue in order, and none with
	// QueueWeights or StrictPriority, which choose a slot's queue as it
	// frees; negative: none),
	// so that a slot that frees finds its next task here instead of asking
	// the server and waiting a round trip. The server hands a worker a
	// task to hold only while no worker has a free slot waiting for one;
	// a task held here 100 ms while another worker waits for tasks is
	// handed back to it (that delivery counts as an attempt).
	Prefetch int `envconfig:"PREFETCH"`
	// ResultTTL keeps states and outcomes of tasks that name none (default 24h).
	ResultTTL time.Duration `envconfig:"RESULT_TTL"`
	// MaxAttempts is how many times a task runs when its envelope names no
	// max_attempts (default 1: no retry). A task whose handler fails with
	// attempts left is retried after an exponential backoff; after its last
	// attempt it is dead and copied to the dead-letter stream. With one
	// attempt a failed task ends failed, as before retries existed. A
	// task's own max_attempts may ask for up to 25 (or MaxAttempts, if more).
	MaxAttempts int `envconfig:"MAX_ATTEMPTS"`
	// RetryBase is the first retry's delay; each next one doubles, up to 10
	// minutes, with ±20 % jitter (default 1s).
	RetryBase time.Duration `envconfig:"RETRY_BASE"`
	// AbandonAfter is how long a handler that ignores its ctx may run past
	// its deadline (or cancel) before the worker gives up on it: the task
	// ends, the slot is free, and the handler's goroutine runs on until it
	// returns (Run waits for it up to ShutdownTimeout) (default 1s).
	AbandonAfter time.Duration `envconfig:"ABANDON_AFTER"`
	// HeartbeatEvery is how often the worker rewrites its record in the
	// workers bucket, which expires three beats after the last (default 5s).
	HeartbeatEvery time.Duration `envconfig:"HEARTBEAT"`
	// Logger receives the worker's logs (default: none).
	Logger *zerolog.Logger `ignored:"true"`
	// Middleware wraps every handler call, the outermost first (default none).
	Middleware []Middleware `ignored:"true"`
	// ProcessQueues lists queues whose tasks run in a child process of this
	// binary (as runner.Process does): a crash or an OOM of such a task fails
	// the task, not the worker. The binary calls runner.ServeChild first
	// thing in main (default none).
	ProcessQueues []string `envconfig:"PROCESS_QUEUES"`
	// ChildPath is the binary that runs process tasks (default this one).
	ChildPath string `envconfig:"CHILD_PATH"`
	// QueueWeights weighs the queues against each other (asynq style:
	// {"critical": 6, "default": 3, "low": 1}): a free slot goes to a queue
	// with tasks waiting, drawn with odds by weight (default: all 1, and the
	// queues take free slots first come first served).
	QueueWeights map[string]int `envconfig:"QUEUE_WEIGHTS"`
	// StrictPriority gives each free slot to the heaviest queue that has
	// tasks waiting: a lighter queue runs only while the heavier are empty.
	StrictPriority bool `envconfig:"STRICT_PRIORITY"`
	// Fair consumes the queues' fair lanes (strand.Fair): the worker takes
	// them and the normal lane in turn, so that one key's backlog does not
	// hold back another key's tasks (default false: fair tasks wait for a
	// worker that has it).
	Fair bool `envconfig:"FAIR"`
	// Limits cap tasks across the fleet: per function and key, how many
	// run at once and how many start per interval (default none).
	Limits []Limit `ignored:"true"`
}

func (c Config) withDefaults() Config {
	if len(c.Queues) == 0 {
		c.Queues = []string{"default"}
	}
	if c.Concurrency <= 0 {
		c.Concurrency = 16
	}
	switch {
	case c.Prefetch == 0 && (len(c.QueueWeights) > 0 || c.StrictPriority):
		// Weights choose each slot's queue as it frees: a task held for it
		// would have chosen before.
	case c.Prefetch == 0 && c.Concurrency == 1:
		// A one-slot worker runs its queue in order: a prefetch request
		// beside its slot's may be filled with the later task first.
	case c.Prefetch == 0:
		c.Prefetch = min(c.Concurrency, maxDefaultPrefetch)
	case c.Prefetch < 0:
		c.Prefetch = 0
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
		c.HeartbeatEvery = defaultHeartbeatEvery
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

// FromEnv reads a Config from STRAND_* variables (STRAND_QUEUES,
// STRAND_CONCURRENCY, STRAND_ACK_WAIT, ...: each field's tag names its
// variable); fields left unset keep their defaults.
func FromEnv() (Config, error) {
	var c Config
	if err := envconfig.Process("strand", &c); err != nil {
		return Config{}, fmt.Errorf("reader: environment: %w", err)
	}
	return c, nil
}

// Reader is a worker: it takes tasks from its queues, runs the registered
// handlers in a bounded pool, and records their outcomes.
type Reader struct {
	b     *broker.Broker
	reg   *registry.Registry
	cfg   Config
	names broker.Names
	log   zerolog.Logger
	logs  bool // log is not disabled

	ab      abandonment // handlers given up on (see call)
	handler Handler     // the middleware chain around call

	ran     atomic.Bool   // Run was called
	now     chan struct{} // closed by StopNow
	nowOnce sync.Once

	mu        sync.Mutex
	running   map[taskKey]context.CancelCauseFunc
	cancelled map[taskKey]time.Time
	inFlight  atomic.Int64   // handlers running now, for the heartbeat record
	busy      chan struct{}  // signalled when inFlight changes: the heartbeat tells it soon
	carrying  sync.WaitGroup // workflow steps carrying their workflow on (flow.go)

	// memory bounds cancelled (under mu); forgot is when the newest
	// cancellation it forgot was seen, unix ns (0: none forgotten), read
	// without mu by every task; see cancel.
	memory cancelMemory
	forgot atomic.Int64

	gates    map[string]*gate // per queue: paused or not (flow.go)
	stopping chan struct{}    // closed when Run starts to stop
	releases sync.WaitGroup   // uniqueness keys being released (flow.go)
	room     room             // tasks waiting for their limits (limits.go)
	spares   spares           // limits' slots kept a moment for the next task (limits.go)
	urgent   chan job         // to the pool before any other job
	pulls    pulls            // the open pulls of each lane (hold.go)
	// graceOver is closed once a stopping worker's grace has passed
	// (ShutdownTimeout, or StopNow): its running tasks are cancelled and
	// the tasks it holds handed back.
	graceOver chan struct{}
}

func newReader(b *broker.Broker, reg *registry.Registry, cfg Config) (*Reader, error) {
	cfg = cfg.withDefaults()
	if err := checkWorkerID(cfg.WorkerID); err != nil {
		return nil, err
	}
	for _, q := range cfg.Queues {
		if err := codec.ValidQueue(q); err != nil {
			return nil, err
		}
	}
	for q, w := range cfg.QueueWeights {
		if w <= 0 || !slices.Contains(cfg.Queues, q) {
			return nil, fmt.Errorf("%w: queue weight %s=%d: want a weight of at least 1 for one of the worker's queues %v", strand.ErrBadOption, q, w, cfg.Queues)
		}
	}
	for _, l := range cfg.Limits {
		if err := l.check(); err != nil {
			return nil, fmt.Errorf("%w: %v", strand.ErrBadOption, err)
		}
	}
	r := &Reader{
		b: b, reg: reg, cfg: cfg, names: b.Names(),
		log:       cfg.Logger.With().Str("worker", cfg.WorkerID).Logger(),
		logs:      cfg.Logger.GetLevel() != zerolog.Disabled,
		running:   make(map[taskKey]context.CancelCauseFunc),
		cancelled: make(map[taskKey]time.Time),
		memory:    defaultCancelMemory,
		now:       make(chan struct{}),
		busy:      make(chan struct{}, 1),
		gates:     make(map[string]*gate, len(cfg.Queues)),
		stopping:  make(chan struct{}),
		urgent:    make(chan job),
	}
	for _, q := range cfg.Queues {
		r.gates[q] = newGate()
	}
	if len(cfg.ProcessQueues) > 0 {
		r.cfg.Middleware = append(slices.Clip(cfg.Middleware), r.inChild)
	}
	r.handler = r.chain()
	return r, nil
}

// ErrRunning is returned by a second call of [Reader.Run]: a Reader runs
// once.
var ErrRunning = errors.New("reader: Run was already called")

// StopNow cuts a shutdown short: once Run's ctx has ended (or as it ends),
// running handlers have their ctx cancelled at once instead of after
// ShutdownTimeout, and their tasks are handed back for redelivery. Run
// still waits for the outcomes already written to be confirmed. Safe to
// call more than once and from any goroutine.
func (r *Reader) StopNow() { r.nowOnce.Do(func() { close(r.now) }) }

// Errors that end a handler's ctx, told apart with context.Cause.
var (
	errCancelledByCaller = errors.New("cancelled by caller")
	errShutdown          = errors.New("worker shutting down")
)

type job struct {
	msg   broker.Delivery
	queue string
	slots chan struct{} // where its slot goes back
	claim *claim        // its limits' slots, once a limit admitted it
}

// Run works until ctx ends, then shuts down in order: stop taking tasks and
// hand back the ones taken but not started, let running tasks finish for up
// to ShutdownTimeout, cancel the rest and hand them back for redelivery,
// wait for the last outcomes to be confirmed, and return.
//
// A Reader runs once: a second call returns [ErrRunning].
func (r *Reader) Run(ctx context.Context) error {
	if !r.ran.CompareAndSwap(false, true) {
		return ErrRunning
	}
	for _, q := range r.cfg.Queues {
		// The queue's lanes' consumers at once: one round trip, not one each.
		lanes := r.lanes()
		errs := make([]error, len(lanes))
		var wg sync.WaitGroup
		for i, lane := range lanes {
			wg.Go(func() {
				_, errs[i] = r.b.EnsureLane(ctx, q, lane, broker.QueueConfig{
					AckWait: r.cfg.AckWait, MaxDeliver: r.consumerMaxDeliver(),
					MaxAckPending: max(1000, 4*r.cfg.Concurrency),
				})
			})
		}
		wg.Wait()
		if err := errors.Join(errs...); err != nil {
			if ctx.Err() != nil {
				return nil // stopped while starting
			}
			return err
		}
	}
	defer r.announce(ctx)() // the worker's record in the workers bucket, deleted on return
	stopCancels, err := r.followCancels(ctx)
	if err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return err
	}
	defer stopCancels()
	stopPauses, err := r.followPauses(ctx)
	if err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return err
	}
	defer stopPauses()

	// Handlers run under runCtx: it outlives ctx by ShutdownTimeout.
	runCtx, stopRuns := context.WithCancelCause(context.WithoutCancel(ctx))
	defer stopRuns(nil)

	r.graceOver = make(chan struct{}) // closed when a stopping worker's grace is over
	jobs := make(chan job)
	urgent := r.urgent // high tasks a lane's watch holds, tasks a limit admitted: the pool takes them first
	// A slot is a task the worker may run: one per pool goroutine. Fetchers
	// pull only as many tasks as they hold slots, so a busy worker never sits
	// on tasks another worker could run; prefetch slots ask at a lower
	// priority, filled only while no free slot of any worker waits.
	slots := tokens(r.cfg.Concurrency)
	extra := tokens(r.cfg.Prefetch) // prefetch: filled only while no free slot waits
	acks := make(chan pendingAck, 4*r.cfg.Concurrency)
	stopping := r.stopping

	var ackers sync.WaitGroup
	ackers.Go(func() { r.ack(acks) })

	var pool sync.WaitGroup
	for range r.cfg.Concurrency {
		pool.Go(func() {
			for {
				var j job
				var ok bool
				select {
				case j, ok = <-urgent:
				default:
					select {
					case j, ok = <-urgent:
					case j, ok = <-jobs:
					}
				}
				if !ok {
					return // jobs closed at shutdown (urgent is closed with it)
				}
				if j.slots == extra {
					// A held task starts: it runs on a free slot's token if
					// there is one, and its prefetch token asks for the next
					// task to hold. Else the free slot would ask the server
					// at a free slot's priority for a task no goroutine is
					// free to run.
					select {
					case <-slots:
						giveBack(extra)
						j.slots = slots
					default:
					}
				}
				r.process(runCtx, j, acks)
				if j.slots != nil { // nil: a lane's watch, which held no slot
					giveBack(j.slots)
				}
			}
		})
	}
	var fetchers sync.WaitGroup
	d := r.newDispenser(slots)
	for _, q := range r.cfg.Queues {
		l := d.lanes[q]
		take := d.take(q)
		fetchers.Go(func() { r.fetch(q, l, jobs, slots, take, stopping) })
		fetchers.Go(func() { r.watch(q, broker.LaneHigh, l, urgent, stopping) })
		fetchers.Go(func() { r.watch(q, broker.LaneLow, l, jobs, stopping) })
		if r.cfg.Fair {
			for _, lane := range broker.FairLaneNames {
				fetchers.Go(func() { r.watch(q, lane, l, jobs, stopping) })
			}
		}
		if cap(extra) > 0 {
			fetchers.Go(func() { r.fetch(q, nil, jobs, extra, extra, stopping) })
		}
	}
	if d.on {
		fetchers.Go(func() { d.run(stopping) })
	}
	// The server fires delayed tasks and schedules; the workers of a queue
	// move each firing into it (broker.Relay).
	var relays sync.WaitGroup
	for _, q := range r.cfg.Queues {
		relays.Go(func() { r.relay(ctx, q) })
	}
	defer relays.Wait()
	r.log.Info().Strs("queues", r.cfg.Queues).Int("concurrency", r.cfg.Concurrency).
		Strs("functions", (*handler.Table)(r.reg).Names()).Msg("worker started")

	<-ctx.Done()
	r.log.Info().Dur("shutdown_timeout", r.cfg.ShutdownTimeout).Msg("worker stopping: no new tasks, waiting for running ones")
	close(stopping)
	// The grace: ShutdownTimeout from now, or until StopNow. Within it the
	// pool runs on, and starts the tasks the worker holds (hand).
	var endGrace sync.Once
	end := func() { endGrace.Do(func() { close(r.graceOver) }) }
	graceTimer := time.AfterFunc(r.cfg.ShutdownTimeout, end)
	defer graceTimer.Stop()
	go func() {
		select {
		case <-r.now:
			end()
		case <-r.graceOver:
		}
	}()
	fetchers.Wait()
	r.closeRoom()
	close(jobs)
	close(urgent)

	done := make(chan struct{})
	go func() { pool.Wait(); close(done) }()
	select {
	case <-done:
		end() // ends the StopNow watch
	case <-r.graceOver:
		select {
		case <-r.now:
			r.log.Warn().Msg("stopping now: cancelling running tasks; they will be redelivered")
		default:
			r.log.Warn().Dur("shutdown_timeout", r.cfg.ShutdownTimeout).Msg("cancelling running tasks; they will be redelivered")
		}
		stopRuns(errShutdown)
		<-done
	}
	close(acks)
	ackers.Wait()
	r.carrying.Wait()
	r.releases.Wait()
	r.flushSpares()
	abandonWait := r.cfg.ShutdownTimeout
	select {
	case <-r.now:
		abandonWait = 0
	default:
	}
	r.waitAbandoned(abandonWait)
	r.log.Info().Msg("worker stopped")
	return nil
}

// maxDefaultPrefetch caps the default prefetch of a large pool.
const maxDefaultPrefetch = 64

// fetchWait bounds one pull request. A stopping worker withdraws its open
// requests at once where it can (closePullers), else waits for them.
const fetchWait = 2 * time.Second

// giveBack returns a token to its channel, unless the channel is full: a
// token may have come back already, when a fetcher swept a request whose
// end it took for lost (its delivery was held up behind a task waiting
// for the pool) and the request then brought a task after all. A send
// that waited for room would stop the pool goroutine for good.
func giveBack(tokens chan struct{}) {
	select {
	case tokens <- struct{}{}:
	default:
	}
}

// tokens returns a channel holding n tokens.
func tokens(n int) chan struct{} {
	c := make(chan struct{}, n)
	for range n {
		c <- struct{}{}
	}
	return c
}

// fetch asks the queue's consumer for tasks, as many at a time as it can
// take free slots, on one subscription (broker.Puller): a slot freed asks
// for the next task at once, even while the last outcome is being
// confirmed, and no task is delivered here that no slot waits for. The pool
// takes each task as it comes. When stopping, it asks for no more, ends its
// open requests (closePullers) and hands back what they still brought —
// not before: a task handed back while its pull is
// open would be redelivered to it at once, burning an attempt.
//
// Its slots ask the queue's priority lanes in order (lanes.pick): the high
// lane while it holds tasks, the normal lane, the low one once the normal
// lane is empty. A prefetch fetcher (l nil) asks the normal lane only.
// It takes its slots from take (slots itself, or the queue's share that a
// dispenser hands it) and gives them back to slots.
func (r *Reader) fetch(queue string, l *lanes, jobs chan<- job, slots chan struct{}, take <-chan struct{}, stopping <-chan struct{}) {
	log := r.log.With().Str("queue", queue).Logger()
	prefetch := l == nil
	release := func(n int) {
		for range n {
			giveBack(slots) // more than was taken (a late end of a swept request) is dropped
		}
	}
	var (
		mu   sync.Mutex
		back []broker.Delivery
		// handing is held (read) by each delivery being handed to the
		// pool, which a stopping worker may hold until its grace ends: the
		// fetcher takes it (write) before it hands back what is left, and
		// returns only then, so no delivery outlives it (nor meets the
		// pool's jobs closed).
		handing sync.RWMutex
		ended   bool // under handing: the fetcher has ended
	)
	deliver := func(lane string, d broker.Delivery) {
		handing.RLock()
		defer handing.RUnlock()
		if ended {
			nak(log, d) // a delivery after the end, if one ever came
			release(1)
			return
		}
		// Its slot comes back when the pool is done with it.
		switch r.hand(queue, lane, job{msg: d, queue: queue, slots: slots}, jobs) {
		case handed:
			return
		case handedBack:
			release(1)
			return
		}
		mu.Lock()
		back = append(back, d)
		mu.Unlock()
		release(1)
	}
	pullers := map[string]*broker.Puller{}
	laneNames := []string{""}
	if !prefetch {
		laneNames = r.lanes()
	}
	for _, lane := range laneNames {
		p, err := r.b.PullLane(queue, lane, fetchWait, prefetch, func(d broker.Delivery) {
			if l != nil {
				l.seen(lane, d)
			}
			deliver(lane, d)
		}, func(n int) {
			if l != nil && n > 0 {
				l.emptied(lane)
			}
			release(n)
		})
		if err != nil {
			log.Error().Err(err).Msg("pulling tasks")
			for _, p := range pullers {
				_ = p.Stop()
			}
			return
		}
		pullers[lane] = p
		defer r.pulls.add(queue, lane, p)()
	}
	sweepAll := func() {
		for _, p := range pullers {
			release(p.Sweep())
		}
	}
	sweep := time.NewTicker(fetchWait)
	defer sweep.Stop()
	g := r.gate(queue)
	pause := time.Duration(0)
	for stopped := false; !stopped; {
		select {
		case <-g.opened():
		default:
			// The queue is paused: ask for nothing until it is resumed.
			select {
			case <-g.opened():
			case <-sweep.C:
				sweepAll()
			case <-stopping:
				stopped = true
			}
			continue
		}
		if pause > 0 {
			select {
			case <-stopping:
				stopped = true
				continue
			case <-time.After(pause):
			}
		}
		// One slot, waiting for it, then whatever else is free.
		select {
		case <-take:
		case <-sweep.C:
			sweepAll()
			continue
		case <-stopping:
			stopped = true
			continue
		}
		n := 1
		if prefetch {
			// Prefetch asks for half its tasks at a time, not one per task
			// started: fewer requests for the server to take in.
			for n < (cap(slots)+1)/2 && !stopped {
				select {
				case <-take:
					n++
				case <-stopping:
					stopped = true
				}
			}
			if stopped {
				release(n)
				continue
			}
		}
	more:
		for n < cap(slots) {
			select {
			case <-take:
				n++
			default:
				break more
			}
		}
		var err error
		for n > 0 && err == nil {
			lane, k := "", n
			if l != nil {
				lane, k = l.pick(n)
			}
			expires := fetchWait
			if lane == "" && l != nil && l.lowActive() {
				expires = fetchWait / 8 // the low lane waits for these slots: ask again soon
			}
			if err = pullers[lane].RequestFor(k, expires); err == nil {
				n -= k
			}
		}
		if err != nil {
			release(n)
			log.Warn().Err(err).Msg("pulling tasks")
			pause = min(max(2*pause, 100*time.Millisecond), 5*time.Second)
			continue
		}
		pause = 0
	}
	r.closePullers(log, pullers)
	handing.Lock()
	ended = true
	handing.Unlock()
	mu.Lock()
	defer mu.Unlock()
	for _, d := range back {
		nak(log, d)
	}
}

// closePullers ends a stopping fetcher's pulls (broker.Puller.Close): at
// once where this server leads the lane's consumer (always on a single
// server), else once their requests have expired. Close returns once what
// they brought has been delivered (started in the grace, or put on the
// fetcher's list of tasks to hand back, by the grace's end at the latest):
// a nak after that cannot bring a task straight back to this worker.
func (r *Reader) closePullers(log zerolog.Logger, pullers map[string]*broker.Puller) {
	for _, p := range pullers {
		if err := p.Close(r.cfg.ShutdownTimeout + fetchWait + time.Second); err != nil {
			log.Warn().Err(err).Msg("stop pulling tasks")
		}
	}
}

// followCancels follows the cancellation records of the worker's queues:
// those that exist when it starts, then each new one as its event comes,
// and all of them again when events may have been lost (broker's Resync:
// a reconnect, a leader election).
func (r *Reader) followCancels(ctx context.Context) (stop func(), err error) {
	var subs []*nats.Subscription
	stop = func() {
		for _, sub := range subs {
			_ = sub.Unsubscribe()
		}
	}
	for _, q := range r.cfg.Queues {
		sub, err := r.b.Subscribe(r.names.Events(broker.KindCancel, q), r.onCancel)
		if err != nil {
			stop()
			return nil, fmt.Errorf("subscribe to cancels of %s: %w", q, err)
		}
		subs = append(subs, sub)
	}
	if err := r.b.Conn().Flush(); err != nil {
		stop()
		return nil, fmt.Errorf("subscribe to cancels: %w", err)
	}
	if err := r.loadCancels(ctx); err != nil {
		stop()
		return nil, err
	}
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			resync, _ := r.b.Resync()
			select {
			case <-done:
				return
			case <-resync:
				if err := r.loadCancels(ctx); err != nil {
					r.log.Warn().Err(err).Msg("reading cancellations again")
				}
			}
		}
	})
	unsub := stop
	return func() { close(done); wg.Wait(); unsub() }, nil
}

func (r *Reader) loadCancels(ctx context.Context) error {
	for _, q := range r.cfg.Queues {
		ids, err := r.b.Cancellations(ctx, q)
		if err != nil {
			return err
		}
		for _, id := range ids {
			r.cancel(q, id)
		}
	}
	return nil
}

// onCancel is the event of a cancellation record.
func (r *Reader) onCancel(m *nats.Msg) {
	if broker.IsMarker(m.Header, m.Data) {
		return // a purge or expiry marker
	}
	if _, q, id, ok := r.names.ParseKey(m.Subject); ok {
		r.cancel(q, id)
	}
}

// cancelMemory bounds a worker's memory of the cancellations it has seen:
// while it holds more than max, it forgets those seen longer than keep ago.
type cancelMemory struct {
	max  int
	keep time.Duration
}

var defaultCancelMemory = cancelMemory{max: 1 << 16, keep: time.Hour}

// forgotSlack covers the difference between the server's clock (a task's
// publish time) and the worker's (when it saw a cancellation).
const forgotSlack = time.Minute

// cancel stops task id of queue at once if it runs here, and remembers it,
// so that the task is skipped if it is delivered here later. A worker that
// has forgotten cancellations (see cancelMemory) reads the outcome of every
// task queued before the newest of them before it runs it (mayHaveForgotten).
func (r *Reader) cancel(queue, id string) {
	key := taskKey{queue, id}
	now := time.Now()
	r.mu.Lock()
	defer r.mu.Unlock()
	if cancel, ok := r.running[key]; ok {
		cancel(errCancelledByCaller)
	}
	r.cancelled[key] = now
	if len(r.cancelled) > r.memory.max {
		for k, t := range r.cancelled {
			if now.Sub(t) > r.memory.keep {
				delete(r.cancelled, k)
				if ns := t.UnixNano(); ns > r.forgot.Load() {
					r.forgot.Store(ns) // written under mu only
				}
			}
		}
	}
}

// mayHaveForgotten reports whether a task the server stored at published
// may have a cancellation this worker has forgotten: one seen after the
// task was queued, and pruned since.
func (r *Reader) mayHaveForgotten(published time.Time) bool {
	ns := r.forgot.Load()
	return ns != 0 && (published.IsZero() || published.Before(time.Unix(0, ns).Add(forgotSlack)))
}

// taskKey names a task in the worker's maps of running and cancelled
// tasks: a struct, not queue+"."+id, so that a lookup allocates nothing.
type taskKey struct{ queue, id string }

func (r *Reader) isCancelled(queue, id string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	_, ok := r.cancelled[taskKey{queue, id}]
	return ok
}

func (r *Reader) track(queue, id string, cancel context.CancelCauseFunc) (cancelled bool) {
	key := taskKey{queue, id}
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ok := r.cancelled[key]; ok {
		return true
	}
	r.running[key] = cancel
	return false
}

func (r *Reader) untrack(queue, id string) {
	r.mu.Lock()
	delete(r.running, taskKey{queue, id})
	r.mu.Unlock()
}

// relay moves the firings of queue into it until ctx ends, starting again
// after a failure (a consumer lost with its server, the schedules stream
// not provisioned yet, say); the same failure is logged once.
func (r *Reader) relay(ctx context.Context, queue string) {
	log := r.log.With().Str("queue", queue).Logger()
	onErr := func(err error) { log.Warn().Err(err).Msg("relay") }
	last := ""
	for wait := time.Second; ctx.Err() == nil; wait = min(2*wait, 30*time.Second) {
		err := r.b.Relay(ctx, queue, onErr)
		if err == nil || ctx.Err() != nil {
			return
		}
		if err.Error() != last {
			last = err.Error()
			log.Warn().Err(err).Msg("delayed tasks and schedules of this queue wait until this is fixed")
		}
		select {
		case <-ctx.Done():
		case <-time.After(wait):
		}
	}
}

// lanes are the lanes of each queue this worker consumes.
func (r *Reader) lanes() []string {
	if !r.cfg.Fair {
		return broker.Lanes
	}
	return append(slices.Clone(broker.Lanes), broker.FairLaneNames...)
}
