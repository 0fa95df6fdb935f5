package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/strand-run/strand/server"
)

// Config says what one run measures. Zero fields take the defaults of the
// command's flags.
type Config struct {
	N         int  // burst size per cycle
	Producers int  // goroutines submitting the burst
	Pool      int  // worker pool size (concurrency)
	One       int  // tasks run one at a time per cycle, for p50/p99
	Depth     int  // tasks queued with no worker in the depth run (0: default; <0: skip)
	Delayed   int  // tasks delayed to one second in the delayed run (0: default; <0: skip)
	Soak      bool // run the soak after the depth run (also: -only naming soak)
	SoakN     int  // tasks of the soak and of its sizing run
	// SoakRate paces the soak's submits (tasks/s; 0: rounds of 40 000
	// as fast as they go). SoakWarm is how many tasks (at SoakRate) the
	// soak runs, and leaves past their TTL, before it takes its baseline
	// (negative: SoakN).
	SoakRate int
	SoakWarm int
	// SoakWait is how long past the result TTL the soak samples the
	// server's RSS and store dir (it stops sooner once both are back
	// within 10 % of their baseline); SoakEvery is how often.
	SoakWait  time.Duration
	SoakEvery time.Duration
	// SoakEnv lists server environments ("GOGC=50", "GOMEMLIMIT=64MiB
	// GOGC=50") the soak runs again with, after the default one.
	SoakEnv []string
	// NATSServer is the nats-server binary of the soak ("" = build it
	// from the module graph).
	NATSServer string
	Only       []string // cycles to run ("" or empty: all)
	// ResultTTL is the result TTL of the depth run and the soak (≥ 1s:
	// NATS refuses a shorter per-message TTL).
	ResultTTL time.Duration
	// Settle is how long past ResultTTL the depth run and soak wait before
	// their last sample.
	Settle time.Duration
	// HeapProfile, if set, is where the depth run writes a heap profile
	// once the result TTL has passed.
	HeapProfile string
	// Profile, if set, is the path prefix of profiles taken over each
	// cycle's measured burst only (not its warm-up or one-at-a-time run):
	// <Profile>.<cycle>.cpu, .block, .mutex and .trace (see profile.go).
	Profile string
	// Redis is the redis-server binary ("" = look it up in PATH, then /usr/bin).
	Redis string
	// FlowN is the fan-out of the workflow run (default 1000).
	FlowN int
	// Log receives progress lines (nil: none).
	Log io.Writer
}

func (c Config) withDefaults() Config {
	def := func(v *int, d int) {
		if *v <= 0 {
			*v = d
		}
	}
	def(&c.N, 20000)
	def(&c.Producers, 4)
	def(&c.Pool, 4)
	def(&c.One, 2000)
	if c.Depth == 0 {
		c.Depth = 200000
	}
	if c.Delayed == 0 {
		c.Delayed = 5000
	}
	def(&c.SoakN, 120000)
	def(&c.FlowN, 1000)
	if c.SoakWarm < 0 {
		c.SoakWarm = c.SoakN
	}
	if c.SoakWait <= 0 {
		c.SoakWait = 150 * time.Second
	}
	if c.SoakEvery <= 0 {
		c.SoakEvery = 3 * time.Second
	}
	if c.ResultTTL < time.Second {
		c.ResultTTL = 3 * time.Second
	}
	if c.Settle <= 0 {
		c.Settle = 5 * time.Second
	}
	if c.Log == nil {
		c.Log = io.Discard
	}
	return c
}

// selected says whether -only lets cycle name run.
func (c Config) selected(name string) bool { return len(c.Only) == 0 || c.named(name) }

// named says whether -only names cycle name.
func (c Config) named(name string) bool {
	for _, o := range c.Only {
		if strings.TrimSpace(o) == name {
			return true
		}
	}
	return false
}

// env is what every cycle of a run shares: one embedded server, reached
// over TCP, and an admin connection for provisioning and clean-up.
type env struct {
	cfg   Config
	srv   *server.Server
	url   string
	admin *nats.Conn
	js    jetstream.JetStream
	log   func(format string, a ...any)
}

// cycle is one way of running tasks, set up on its own streams or prefix.
// Its workers call tally.hit once per finished task.
type cycle interface {
	// submit queues n tasks: one producer's share of a burst.
	submit(ctx context.Context, n int) error
	// one runs one task and returns once the producer side sees its result.
	one(ctx context.Context) error
	// close stops the cycle's workers and clients.
	close(ctx context.Context) error
}

type cycleSpec struct {
	name  string
	desc  string
	start func(ctx context.Context, e *env, t *tally) (cycle, error)
}

// tally counts completions on the worker side and notes when the armed
// count is reached.
type tally struct {
	n    atomic.Int64
	want atomic.Int64
	mu   sync.Mutex
	done chan struct{}
	end  time.Time
}

func newTally() *tally {
	t := &tally{done: make(chan struct{})}
	t.want.Store(-1)
	return t
}

// arm resets the count; the returned channel closes at the n-th hit.
func (t *tally) arm(n int) <-chan struct{} {
	t.want.Store(-1)
	t.mu.Lock()
	t.done = make(chan struct{})
	ch := t.done
	t.mu.Unlock()
	t.n.Store(0)
	t.want.Store(int64(n))
	return ch
}

// disarm makes hits count for nothing until the next arm.
func (t *tally) disarm() { t.want.Store(-1) }

// hit counts one finished task.
func (t *tally) hit() {
	if t.n.Add(1) == t.want.Load() {
		now := time.Now()
		t.mu.Lock()
		t.end = now
		close(t.done)
		t.mu.Unlock()
	}
}

func (t *tally) ended() time.Time {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.end
}

// waiters hands a result seen by the producer side to the one-at-a-time
// call waiting for it.
type waiters struct {
	mu  sync.Mutex
	chs map[string]chan struct{}
}

func newWaiters() *waiters { return &waiters{chs: make(map[string]chan struct{})} }

func (w *waiters) expect(id string) chan struct{} {
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
	delete(w.chs, id)
	w.mu.Unlock()
	if ch != nil {
		ch <- struct{}{}
	}
}

// wait blocks until ch fires or ctx ends.
func wait(ctx context.Context, ch <-chan struct{}) error {
	select {
	case <-ch:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

var (
	idSeq   atomic.Uint64
	idNonce = strconv.FormatInt(time.Now().UnixNano()%1e9, 36)
)

// newID is a task id unique in this run, valid as a subject token and KV key.
func newID() string { return "b" + idNonce + "-" + strconv.FormatUint(idSeq.Add(1), 36) }

// phaseTimeout bounds one burst or drain: longer means it stalled.
const phaseTimeout = 2 * time.Minute

// burst submits n tasks from producers goroutines, each its share, and
// returns the time from the first submit to the last completion the
// workers report.
func burst(ctx context.Context, c cycle, t *tally, producers, n int) (time.Duration, error) {
	ctx, cancel := context.WithTimeout(ctx, phaseTimeout)
	defer cancel()
	done := t.arm(n)
	defer t.disarm()
	errs := make(chan error, producers)
	var wg sync.WaitGroup
	t0 := time.Now()
	for p := range producers {
		share := n / producers
		if p < n%producers {
			share++
		}
		wg.Go(func() {
			if err := c.submit(ctx, share); err != nil {
				errs <- err
				cancel()
			}
		})
	}
	err := wait(ctx, done)
	wg.Wait()
	close(errs)
	if perr := <-errs; perr != nil {
		return 0, fmt.Errorf("submit: %w", perr)
	}
	if err != nil {
		return 0, fmt.Errorf("%d of %d tasks finished: %w", t.n.Load(), n, err)
	}
	return t.ended().Sub(t0), nil
}

// oneAtATime runs n tasks one after the other and returns their
// latencies, sorted.
func oneAtATime(ctx context.Context, c cycle, n int) ([]time.Duration, error) {
	lat := make([]time.Duration, 0, n)
	for range n {
		tctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		t0 := time.Now()
		err := c.one(tctx)
		d := time.Since(t0)
		cancel()
		if err != nil {
			return nil, err
		}
		lat = append(lat, d)
	}
	slices.Sort(lat)
	return lat, nil
}

// percentile is the nearest-rank percentile of sorted d.
func percentile(d []time.Duration, p int) time.Duration {
	if len(d) == 0 {
		return 0
	}
	i := (len(d)*p + 99) / 100
	return d[max(i-1, 0)]
}

// measure runs one cycle: a warm-up, the burst, the one-at-a-time run;
// then stops it and deletes every stream it made.
func measure(ctx context.Context, e *env, spec cycleSpec) (res CycleResult, err error) {
	res = CycleResult{Name: spec.name, Desc: spec.desc}
	before, err := e.streams(ctx)
	if err != nil {
		return res, err
	}
	peak := startPeak()
	defer peak.stop()
	t := newTally()
	c, err := spec.start(ctx, e, t)
	if err != nil {
		e.cleanup(ctx, before)
		return res, err
	}
	defer func() {
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
		defer cancel()
		cerr := c.close(cctx)
		if derr := e.cleanup(cctx, before); cerr == nil {
			cerr = derr
		}
		if err == nil && cerr != nil {
			err = fmt.Errorf("close: %w", cerr)
		}
	}()
	cfg := e.cfg
	// Warm-up, not measured: connections, consumers, subscriptions, caches.
	if _, err := burst(ctx, c, t, cfg.Producers, min(500, max(cfg.N/10, 10))); err != nil {
		return res, fmt.Errorf("warm-up: %w", err)
	}
	if _, err := oneAtATime(ctx, c, min(50, cfg.One)); err != nil {
		return res, fmt.Errorf("warm-up: %w", err)
	}
	prof, err := startProfile(cfg.Profile, spec.name)
	if err != nil {
		return res, err
	}
	cpu0 := cpuTime()
	took, err := burst(ctx, c, t, cfg.Producers, cfg.N)
	res.CPUPerTask = time.Duration((cpuTime() - cpu0) / int64(cfg.N))
	if perr := prof.stop(cfg.Log, cfg.N); err == nil && perr != nil {
		return res, perr
	}
	if err != nil {
		return res, fmt.Errorf("burst: %w", err)
	}
	res.TasksPerSec = float64(cfg.N) / took.Seconds()
	lat, err := oneAtATime(ctx, c, cfg.One)
	if err != nil {
		return res, fmt.Errorf("one at a time: %w", err)
	}
	res.P50, res.P99 = percentile(lat, 50), percentile(lat, 99)
	res.PeakRSS = peak.stop()
	if x, ok := c.(interface{ extraRSS() (string, int64) }); ok {
		res.ExtraName, res.ExtraRSS = x.extraRSS()
	}
	e.log("%-16s %8.0f tasks/s  %s CPU/task  p50 %s  p99 %s  peak RSS %s\n", spec.name, res.TasksPerSec, fmtMicros(res.CPUPerTask), fmtDur(res.P50), fmtDur(res.P99), fmtBytes(res.PeakRSS))
	return res, nil
}

// streams lists the server's streams (KV buckets are streams too).
func (e *env) streams(ctx context.Context) (map[string]bool, error) {
	names := map[string]bool{}
	l := e.js.StreamNames(ctx)
	for n := range l.Name() {
		names[n] = true
	}
	if err := l.Err(); err != nil && !errors.Is(err, jetstream.ErrEndOfData) {
		return nil, fmt.Errorf("list streams: %w", err)
	}
	return names, nil
}

// cleanup deletes every stream that was not there before.
func (e *env) cleanup(ctx context.Context, before map[string]bool) error {
	now, err := e.streams(ctx)
	if err != nil {
		return err
	}
	var errs []error
	for n := range now {
		if before[n] {
			continue
		}
		if err := e.js.DeleteStream(ctx, n); err != nil && !errors.Is(err, jetstream.ErrStreamNotFound) {
			errs = append(errs, fmt.Errorf("delete stream %s: %w", n, err))
		}
	}
	return errors.Join(errs...)
}

// run measures the selected cycles and the depth run on one embedded
// server, then the soak on nats-server processes of its own.
func run(ctx context.Context, cfg Config) (*Report, error) {
	cfg = cfg.withDefaults()
	dir, err := os.MkdirTemp("", "strand-bench-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	srv, err := server.Start(server.Config{Addr: "127.0.0.1:0", DataDir: dir})
	if err != nil {
		return nil, err
	}
	defer srv.Stop()
	admin, err := nats.Connect(srv.URL(), nats.Name("bench-admin"))
	if err != nil {
		return nil, err
	}
	defer admin.Close()
	js, err := jetstream.New(admin)
	if err != nil {
		return nil, err
	}
	e := &env{cfg: cfg, srv: srv, url: srv.URL(), admin: admin, js: js,
		log: func(format string, a ...any) { fmt.Fprintf(cfg.Log, format, a...) }}
	host, _ := os.Hostname()
	rep := &Report{
		Date: time.Now().UTC().Format(time.RFC3339), Host: host, CPUs: runtime.NumCPU(), Go: runtime.Version(),
		Server: admin.ConnectedServerVersion(), Config: cfg,
	}
	for _, spec := range cycles() {
		if !cfg.selected(spec.name) {
			continue
		}
		res, err := measure(ctx, e, spec)
		if errors.Is(err, errSkipped) {
			rep.Notes = append(rep.Notes, fmt.Sprintf("%s skipped: %v", spec.name, err))
			e.log("%s skipped: %v\n", spec.name, err)
			continue
		}
		if err != nil {
			return rep, fmt.Errorf("cycle %s: %w", spec.name, err)
		}
		rep.Cycles = append(rep.Cycles, res)
	}
	if cfg.Depth > 0 && cfg.selected("depth") {
		if rep.Depth, err = depthRun(ctx, e); err != nil {
			return rep, fmt.Errorf("depth: %w", err)
		}
	}
	if cfg.selected("flow") {
		if rep.Flow, err = flowRun(ctx, e); err != nil {
			return rep, fmt.Errorf("flow: %w", err)
		}
	}
	if cfg.Delayed > 0 && cfg.selected("delayed") {
		if rep.Delayed, err = delayedRun(ctx, e); err != nil {
			return rep, fmt.Errorf("delayed: %w", err)
		}
	}
	if cfg.Soak && cfg.selected("soak") || cfg.named("soak") {
		if err := soakAll(ctx, e, rep); err != nil {
			return rep, fmt.Errorf("soak: %w", err)
		}
	}
	// Every cycle cleans up after itself; a stream left over would weigh
	// on the cycles after it.
	left, err := e.streams(ctx)
	if err != nil {
		return rep, err
	}
	if len(left) > 0 {
		return rep, fmt.Errorf("streams left behind: %v", slices.Sorted(maps.Keys(left)))
	}
	return rep, nil
}

// errSkipped marks a cycle that cannot run here (no redis-server).
var errSkipped = errors.New("skipped")

// cycles lists every cycle in the order they run.
func cycles() []cycleSpec {
	return []cycleSpec{
		{"floor", "raw JetStream: PublishAsync → WorkQueue stream → pull consumer (batches of 64) → ack; one at a time: the worker replies on a core subject, then acks", startFloor},
		{"naive", "kv.Create pending + publish; worker CAS running, CAS result, ack; producer sees the result by KV RePublish", startNaive},
		{"proto", "the prototype of strand's cycle on raw JetStream: one publish per task to its own subject of a work-queue stream (one message per subject), pipelined publishes, pull batches of 64, create-only outcome with a TTL, republished; an acker acks once it is confirmed", startProto},
		{"asynq", "asynq 0.26 + redis-server: Enqueue; handler writes its result (Retention 1h); one at a time: GetTaskInfo polled every 1 ms; TaskCheckInterval 1 ms", startAsynq},
		{"strand", "writer.Submit → reader (Concurrency = pool, nothing else tuned: it prefetches as many as its pool) → Handle.Result", strandStart(strandOpts{prefix: "b4"})},
		{"strand-noprefetch", "as strand, reader.Config{Prefetch: -1} (the default until session 5): a slot asks the server for each task", strandStart(strandOpts{prefix: "b9", prefetch: -1})},
		{"strand-prefetch", "as strand, reader.Config{Prefetch: 16}", strandStart(strandOpts{prefix: "b5", prefetch: 16})},
		{"strand-batch", "writer.SubmitBatch in chunks of 256, Prefetch 16", strandStart(strandOpts{prefix: "b6", prefetch: 16, batch: 256})},
		{"strand-keyed", "as strand, each task with meta tenant (8 tenants), no limit: the baseline of strand-limit", strandStart(strandOpts{prefix: "b7", tenants: 8})},
		{"strand-limit", "as strand-keyed, with a fleet-wide limit of 4 running per tenant (a lease per task: create, purge)", strandStart(strandOpts{prefix: "b8", tenants: 8, limit: 4})},
	}
}
