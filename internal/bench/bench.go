// Package bench measures strand's task cycle against two references on the
// same NATS server in the same run: the floor (raw JetStream publish →
// consume → ack, no state at all) and the naive cycle (kv.Create a pending
// state + publish an envelope; the worker CAS-writes running, then the
// result, then acks). `strand bench` prints its Report.
//
// Each cycle runs on its own fresh streams and buckets, deleted afterwards,
// and is measured three times: two bursts (Tasks tasks submitted by
// Producers goroutines, a pool of Concurrency workers; throughput = Tasks /
// wall time from the first submit to the last result seen by the producer
// side) and Samples tasks one at a time (submit → result seen by the
// producer: p50, p99).
//
// The two bursts differ in how producers submit. One at a time: every
// producer, in every cycle, publishes with a JetStream publish that waits
// for its PubAck before the next, as writer.Submit does. Pipelined: every
// producer sends Window tasks without waiting (PublishMsgAsync; strand:
// writer.SubmitBatch), waits for that window's PubAcks, then sends the next;
// naive's kv.Create stays synchronous (it needs the revision and is the
// duplicate check), only its envelope publish is pipelined. Producers and
// workers use separate connections; floor and naive consume with the same
// consumer settings and pool shape as strand's reader.
package bench

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"

	"github.com/strand-run/strand/server"
)

// Config says what to measure. The zero value is the default run.
type Config struct {
	// URL of the NATS server; "" starts an embedded one on 127.0.0.1 in a
	// temporary directory, removed afterwards.
	URL string
	// Tasks is the burst size per cycle (default 20000).
	Tasks int
	// Producers submit the burst concurrently (default 4).
	Producers int
	// Concurrency is the worker pool size (default 4).
	Concurrency int
	// Samples is how many tasks run one at a time per cycle for the latency
	// figures (default 2000).
	Samples int
	// Payload is the size in bytes of the task's argument (default 200).
	Payload int
	// SyncAlways makes the embedded server fsync every write (ignored with URL).
	SyncAlways bool
	// Window is how many tasks a producer of the pipelined burst sends
	// before it waits for their PubAcks (default 256).
	Window int
	// Prefetch is the strand worker's reader.Config.Prefetch: tasks it may
	// hold beyond the ones it runs (0: a worker's default, as many as its
	// concurrency; negative: none).
	Prefetch int
}

func (c Config) withDefaults() Config {
	if c.Tasks <= 0 {
		c.Tasks = 20000
	}
	if c.Producers <= 0 {
		c.Producers = 4
	}
	if c.Concurrency <= 0 {
		c.Concurrency = 4
	}
	if c.Samples <= 0 {
		c.Samples = 2000
	}
	if c.Payload <= 0 {
		c.Payload = 200
	}
	if c.Window <= 0 {
		c.Window = 256
	}
	return c
}

// Result is one cycle's figures.
type Result struct {
	// Name is the cycle: "floor", "naive" or "strand".
	Name string
	// Throughput is the one-at-a-time burst's tasks per second, first
	// submit to last result.
	Throughput float64
	// Pipelined is the same for the pipelined burst (Window tasks per
	// producer in flight).
	Pipelined float64
	// P50 and P99 are the one-at-a-time latencies, submit → result seen.
	P50, P99 time.Duration
	// Tasks is the burst size.
	Tasks int
	// Redelivered is how many tasks of the one-at-a-time and pipelined
	// bursts were delivered again after AckWait (-1: not counted). Each
	// means the burst's time includes an AckWait (30 s).
	Redelivered, RedeliveredPipelined int64
}

// Report is a whole run: the figures and what they were measured on.
type Report struct {
	Results   []Result
	Config    Config
	Server    string // nats-server version
	GoVersion string
	CPUs      int
}

// phase limits: a phase that takes longer has stalled.
const phaseTimeout = 3 * time.Minute

// Run measures the three cycles, in order floor, naive, strand, and writes
// one progress bar per phase to progress (nil: no output).
func Run(ctx context.Context, cfg Config, progress io.Writer) (*Report, error) {
	cfg = cfg.withDefaults()
	url := cfg.URL
	embedded := url == ""
	if embedded {
		dir, err := os.MkdirTemp("", "strand-bench-")
		if err != nil {
			return nil, err
		}
		defer os.RemoveAll(dir)
		srv, err := server.Start(server.Config{
			Addr: "127.0.0.1:0", DataDir: dir, SyncAlways: cfg.SyncAlways, Name: "strand-bench",
		})
		if err != nil {
			return nil, err
		}
		defer srv.Stop()
		url = srv.URL()
	}
	env, err := newWorld(url)
	if err != nil {
		return nil, err
	}
	defer env.close()
	env.payload = make([]byte, cfg.Payload)
	_, _ = rand.Read(env.payload)

	rep := &Report{Config: cfg, Server: env.prod.ConnectedServerVersion(), GoVersion: runtime.Version(), CPUs: runtime.NumCPU()}
	if !embedded {
		rep.Config.SyncAlways = false
	}
	p := &meter{w: progress}
	cycles := []struct {
		name  string
		start func(context.Context, *world, Config) (cycle, error)
	}{
		{"floor", startFloor},
		{"naive", startNaive},
		{"strand", startStrand},
	}
	for _, c := range cycles {
		r, err := measure(ctx, env, cfg, c.name, c.start, p)
		if err != nil {
			return rep, fmt.Errorf("bench %s: %w", c.name, err)
		}
		rep.Results = append(rep.Results, r)
	}
	return rep, nil
}

// world is the connections every cycle uses: one for the producer side,
// one for the workers.
type world struct {
	prod, work     *nats.Conn
	prodJS, workJS jetstream.JetStream
	url            string
	payload        []byte
}

func newWorld(url string) (*world, error) {
	dial := func(name string) (*nats.Conn, jetstream.JetStream, error) {
		nc, err := nats.Connect(url, nats.Name(name), nats.Timeout(5*time.Second))
		if err != nil {
			return nil, nil, fmt.Errorf("connect %s: %w", url, err)
		}
		// The options broker.New uses, so that the references match strand's client.
		js, err := jetstream.New(nc, jetstream.WithPublishAsyncMaxPending(4096), jetstream.WithPublishAsyncTimeout(15*time.Second))
		if err != nil {
			nc.Close()
			return nil, nil, err
		}
		return nc, js, nil
	}
	w := &world{url: url}
	var err error
	if w.prod, w.prodJS, err = dial("strand-bench-producer"); err != nil {
		return nil, err
	}
	if w.work, w.workJS, err = dial("strand-bench-worker"); err != nil {
		w.prod.Close()
		return nil, err
	}
	return w, nil
}

func (w *world) close() {
	w.prod.Close()
	w.work.Close()
}

// cycle is one way of running tasks, set up on its own streams.
type cycle interface {
	// redelivered is how many deliveries so far were redeliveries (-1:
	// not counted for this cycle).
	redelivered() int64
	// submit queues one burst task; its result, once seen by the producer
	// side, is counted in the counter current at submit time.
	submit(ctx context.Context, c *counter) error
	// submitBatch queues n burst tasks without waiting between them, then
	// waits for their PubAcks; results are counted as for submit.
	submitBatch(ctx context.Context, n int, c *counter) error
	// one runs one task and returns when the producer side sees its result.
	one(ctx context.Context) error
	// close stops the cycle's workers and deletes its streams.
	close(ctx context.Context) error
}

// counter counts results and closes done when every task has one.
type counter struct {
	want     int64
	val      atomic.Int64 // results
	failed   atomic.Int64
	finished atomic.Int64 // results + failures
	done     chan struct{}
	errMu    sync.Mutex
	err      error
}

func newCounter(want int) *counter {
	return &counter{want: int64(want), done: make(chan struct{})}
}

// add counts one result.
func (c *counter) add() {
	c.val.Add(1)
	c.finish()
}

// fail counts a task that ended without its result.
func (c *counter) fail(err error) {
	c.errMu.Lock()
	if c.err == nil {
		c.err = err
	}
	c.errMu.Unlock()
	c.failed.Add(1)
	c.finish()
}

func (c *counter) finish() {
	if c.finished.Add(1) == c.want {
		close(c.done)
	}
}

func measure(ctx context.Context, w *world, cfg Config, name string,
	start func(context.Context, *world, Config) (cycle, error), p *meter) (res Result, err error) {
	c, err := start(ctx, w, cfg)
	if err != nil {
		return res, err
	}
	defer func() {
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
		defer cancel()
		if cerr := c.close(cctx); cerr != nil && err == nil {
			err = cerr
		}
	}()
	// Warm up: consumers, subscriptions, connections' buffers, the JIT of
	// the server's caches. Not measured.
	warm := min(500, max(cfg.Tasks/10, 10))
	if _, err := burst(ctx, c, cfg.Producers, warm, 0, nil); err != nil {
		return res, fmt.Errorf("warm-up: %w", err)
	}
	if _, err := burst(ctx, c, cfg.Producers, warm, cfg.Window, nil); err != nil {
		return res, fmt.Errorf("warm-up (pipelined): %w", err)
	}
	if err := oneAtATime(ctx, c, min(50, cfg.Samples)); err != nil {
		return res, fmt.Errorf("warm-up: %w", err)
	}

	r0 := c.redelivered()
	took, err := burst(ctx, c, cfg.Producers, cfg.Tasks, 0, p.phase(name+" burst", cfg.Tasks))
	if err != nil {
		return res, err
	}
	r1 := c.redelivered()
	res = Result{Name: name, Tasks: cfg.Tasks, Throughput: float64(cfg.Tasks) / took.Seconds()}
	took, err = burst(ctx, c, cfg.Producers, cfg.Tasks, cfg.Window, p.phase(name+" pipelined", cfg.Tasks))
	if err != nil {
		return res, fmt.Errorf("pipelined: %w", err)
	}
	res.Pipelined = float64(cfg.Tasks) / took.Seconds()
	res.Redelivered, res.RedeliveredPipelined = -1, -1
	if r0 >= 0 {
		res.Redelivered, res.RedeliveredPipelined = r1-r0, c.redelivered()-r1
	}
	lat := make([]time.Duration, 0, cfg.Samples)
	bar := p.phase(name+" latency", cfg.Samples)
	for range cfg.Samples {
		t0 := time.Now()
		if err := oneTask(ctx, c); err != nil {
			bar.done()
			return res, fmt.Errorf("latency sample: %w", err)
		}
		lat = append(lat, time.Since(t0))
		bar.n.Add(1)
	}
	bar.done()
	slices.Sort(lat)
	res.P50, res.P99 = percentile(lat, 50), percentile(lat, 99)
	redelivered := "redeliveries not counted"
	if res.Redelivered >= 0 {
		redelivered = fmt.Sprintf("redelivered %d + %d", res.Redelivered, res.RedeliveredPipelined)
	}
	p.linef("%s: %.0f tasks/s one at a time, %.0f tasks/s pipelined, p50 %s, p99 %s, %s\n",
		name, res.Throughput, res.Pipelined, ms(res.P50), ms(res.P99), redelivered)
	return res, nil
}

func oneTask(ctx context.Context, c cycle) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	return c.one(ctx)
}

func oneAtATime(ctx context.Context, c cycle, n int) error {
	for range n {
		if err := oneTask(ctx, c); err != nil {
			return err
		}
	}
	return nil
}

// burst submits n tasks from producers goroutines and returns the time from
// the first submit to the last result. window 0 submits one task at a time;
// otherwise each producer submits window tasks at a time with submitBatch.
func burst(ctx context.Context, c cycle, producers, n, window int, bar *phaseBar) (time.Duration, error) {
	ctx, cancel := context.WithTimeout(ctx, phaseTimeout)
	defer cancel()
	cnt := newCounter(n)
	if bar != nil {
		bar.counter = &cnt.val
		defer bar.done()
	}
	var wg sync.WaitGroup
	errs := make(chan error, producers)
	t0 := time.Now()
	for p := range producers {
		share := n / producers
		if p < n%producers {
			share++
		}
		wg.Go(func() {
			for share > 0 {
				var err error
				if window <= 0 {
					err = c.submit(ctx, cnt)
					share--
				} else {
					k := min(window, share)
					err = c.submitBatch(ctx, k, cnt)
					share -= k
				}
				if err != nil {
					errs <- err
					cancel()
					return
				}
			}
		})
	}
	select {
	case <-cnt.done:
	case <-ctx.Done():
	}
	took := time.Since(t0)
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		return 0, fmt.Errorf("submit: %w", err)
	}
	if f := cnt.failed.Load(); f > 0 {
		cnt.errMu.Lock()
		defer cnt.errMu.Unlock()
		return 0, fmt.Errorf("%d of %d tasks failed, first: %v", f, n, cnt.err)
	}
	if got := cnt.val.Load(); got < int64(n) {
		return 0, fmt.Errorf("%d of %d results after %v: %w", got, n, took.Round(time.Millisecond), ctx.Err())
	}
	return took, nil
}

// percentile is the nearest-rank percentile of sorted d.
func percentile(d []time.Duration, p int) time.Duration {
	if len(d) == 0 {
		return 0
	}
	i := (len(d)*p + 99) / 100
	return d[max(i-1, 0)]
}

func ms(d time.Duration) string { return fmt.Sprintf("%.3f ms", float64(d)/float64(time.Millisecond)) }

// meter draws one progress bar per phase on w if w is a terminal (a log
// gets the result lines only); a nil w draws nothing.
type meter struct{ w io.Writer }

// terminal reports whether w is a terminal.
func terminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

type phaseBar struct {
	bar     *progressbar.ProgressBar
	n       atomic.Int64
	counter *atomic.Int64 // when set, read instead of n
	stop    chan struct{}
	wg      sync.WaitGroup
}

// phase starts a bar that samples its count every 100 ms, off the measured
// path: the tasks only bump an atomic counter.
func (m *meter) phase(desc string, total int) *phaseBar {
	pb := &phaseBar{stop: make(chan struct{})}
	if m.w == nil || !terminal(m.w) {
		return pb
	}
	pb.bar = progressbar.NewOptions(total,
		progressbar.OptionSetWriter(m.w),
		progressbar.OptionSetDescription(fmt.Sprintf("%-15s", desc)),
		progressbar.OptionSetWidth(30),
		progressbar.OptionShowCount(),
		progressbar.OptionShowIts(),
		progressbar.OptionSetItsString("tasks"),
		progressbar.OptionThrottle(100*time.Millisecond),
		progressbar.OptionOnCompletion(func() { fmt.Fprintln(m.w) }),
	)
	pb.wg.Go(func() {
		t := time.NewTicker(100 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-t.C:
				_ = pb.bar.Set64(pb.count())
			case <-pb.stop:
				return
			}
		}
	})
	return pb
}

func (pb *phaseBar) count() int64 {
	if pb.counter != nil {
		return pb.counter.Load()
	}
	return pb.n.Load()
}

func (pb *phaseBar) done() {
	if pb == nil || pb.bar == nil {
		return
	}
	close(pb.stop)
	pb.wg.Wait()
	_ = pb.bar.Set64(pb.count())
	_ = pb.bar.Finish()
}

func (m *meter) linef(format string, a ...any) {
	if m.w != nil {
		fmt.Fprintf(m.w, format, a...)
	}
}

var descriptions = map[string]string{
	"floor":  "floor: publish → consume → ack (no state)",
	"naive":  "naive: kv.Create + publish; CAS running, CAS result, ack",
	"strand": "strand: writer.Submit → reader → Handle.Result",
}

var pipelinedDescriptions = map[string]string{
	"floor":  "floor: async publish → consume → ack (no state)",
	"naive":  "naive: kv.Create + async publish; CAS running, CAS result, ack",
	"strand": "strand: writer.SubmitBatch → reader → Handle.Result",
}

// Table is the report as a markdown table, one row per cycle and submit
// mode, with a footnote on how it was measured.
func (r *Report) Table() string {
	var b strings.Builder
	find := func(name string) *Result {
		for i := range r.Results {
			if r.Results[i].Name == name {
				return &r.Results[i]
			}
		}
		return &Result{}
	}
	floor, naive := find("floor"), find("naive")
	ratio := func(a, ref float64) string {
		if ref == 0 {
			return "—"
		}
		return fmt.Sprintf("%.2f", a/ref)
	}
	c := r.Config
	b.WriteString("| cycle | submit | tasks/s | × floor | × naive | p50 | p99 |\n|---|---|---:|---:|---:|---:|---:|\n")
	modes := []struct {
		label string
		desc  map[string]string
		tput  func(*Result) float64
		lat   bool
	}{
		{"1 at a time", descriptions, func(x *Result) float64 { return x.Throughput }, true},
		{fmt.Sprintf("pipelined ×%d", c.Window), pipelinedDescriptions, func(x *Result) float64 { return x.Pipelined }, false},
	}
	for _, m := range modes {
		for _, x := range r.Results {
			name := x.Name
			if d, ok := m.desc[name]; ok {
				name = d
			}
			p50, p99 := "—", "—"
			if m.lat {
				p50, p99 = ms(x.P50), ms(x.P99)
			}
			t := m.tput(&x)
			fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s | %s |\n", name, m.label, thousands(t),
				ratio(t, m.tput(floor)), ratio(t, m.tput(naive)), p50, p99)
		}
	}
	where := "nats-server " + r.Server + " at " + c.URL
	if c.URL == "" {
		sync := "fsync every 2 min (server default)"
		if c.SyncAlways {
			sync = "fsync every write"
		}
		where = "nats-server " + r.Server + " embedded (clients over TCP on 127.0.0.1, file storage, " + sync + ")"
	}
	held := r.Config.Prefetch
	switch {
	case held == 0 && r.Config.Concurrency == 1:
		// the reader's default for a one-slot worker: none
	case held == 0:
		held = min(r.Config.Concurrency, 64) // the reader's default
	case held < 0:
		held = 0
	}
	fmt.Fprintf(&b, "\nThe strand worker holds at most %d task(s) beyond the ones it runs (--prefetch).", held)
	fmt.Fprintf(&b, "\nTwo bursts of %d tasks per cycle from %d producers, a pool of %d workers; throughput = tasks / time "+
		"from the first submit to the last result seen by the producer side. "+
		"\"1 at a time\": each producer publishes one task and waits for its PubAck before the next (as writer.Submit does; "+
		"naive: kv.Create, then the envelope publish, both awaited). "+
		"\"pipelined ×%d\": each producer sends %d tasks without waiting, then waits for their PubAcks, then sends the next %d "+
		"(floor: PublishMsgAsync; strand: writer.SubmitBatch, then Handle.Result for each; "+
		"naive: kv.Create stays synchronous per task, as it returns the revision the worker's CAS needs and is the duplicate check, "+
		"only the envelope publish is sent with PublishMsgAsync and awaited per window). "+
		"× floor and × naive compare each row with the floor and the naive cycle measured in the same submit mode and the same run. "+
		"p50/p99 over %d tasks run one at a time, submit → result seen. "+
		"%d B payload, %s, %s, %d CPUs; each cycle on fresh streams, deleted after.\n",
		c.Tasks, c.Producers, c.Concurrency, c.Window, c.Window, c.Window, c.Samples, c.Payload, where, r.GoVersion, r.CPUs)
	for _, x := range r.Results {
		for _, m := range []struct {
			mode string
			n    int64
		}{{"1 at a time", x.Redelivered}, {"pipelined", x.RedeliveredPipelined}} {
			if m.n > 0 {
				fmt.Fprintf(&b, "\n**Not comparable:** %d task(s) of the %s %s burst were redelivered after AckWait (30 s); "+
					"that burst's time includes the wait.\n", m.n, x.Name, m.mode)
			}
		}
	}
	return b.String()
}

func thousands(f float64) string {
	s := fmt.Sprintf("%.0f", f)
	var out []byte
	for i := range len(s) {
		if i > 0 && (len(s)-i)%3 == 0 {
			out = append(out, ',')
		}
		out = append(out, s[i])
	}
	return string(out)
}

// deleteStream removes a stream, ignoring one that does not exist.
func deleteStream(ctx context.Context, js jetstream.JetStream, name string) error {
	if err := js.DeleteStream(ctx, name); err != nil && !errors.Is(err, jetstream.ErrStreamNotFound) {
		return fmt.Errorf("delete stream %s: %w", name, err)
	}
	return nil
}
