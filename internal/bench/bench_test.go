package bench

import (
	"context"
	"os"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	pub "github.com/strand-run/strand/broker"
	"github.com/strand-run/strand/internal/link"

	"github.com/strand-run/strand/internal/broker/brokertest"
	"github.com/strand-run/strand/reader"
	"github.com/strand-run/strand/writer"
)

func TestRun(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	rep, err := Run(ctx, Config{Tasks: 200, Samples: 20}, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"floor", "naive", "strand"}
	if len(rep.Results) != len(want) {
		t.Fatalf("got %d results, want %d: %+v", len(rep.Results), len(want), rep.Results)
	}
	for i, r := range rep.Results {
		if r.Name != want[i] {
			t.Errorf("result %d is %q, want %q", i, r.Name, want[i])
		}
		if r.Tasks != 200 || r.Throughput <= 0 || r.Pipelined <= 0 || r.P50 <= 0 || r.P99 < r.P50 {
			t.Errorf("%s: implausible %+v", r.Name, r)
		}
	}
	if rep.Server == "" || rep.CPUs <= 0 || rep.GoVersion == "" {
		t.Errorf("report without its setting: %+v", rep)
	}
	t.Log("\n" + rep.Table())
}

// TestRunOnServer runs against a server given by URL and leaves nothing behind.
func TestRunOnServer(t *testing.T) {
	srv := brokertest.Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if _, err := Run(ctx, Config{URL: srv.URL(), Tasks: 100, Samples: 10, Producers: 2, Concurrency: 2}, nil); err != nil {
		t.Fatal(err)
	}
	b := brokertest.Connect(t, srv, pub.Config{Prefix: "leftover"})
	for name := range link.Core(b).JetStream().StreamNames(ctx).Name() {
		if !strings.Contains(name, link.Core(b).Names().Bucket()) { // this test's own connection
			t.Errorf("stream %s left behind", name)
		}
	}
}

// TestFull is the default bench; STRAND_BENCH_FULL=1 runs it, with
// STRAND_BENCH_SYNC=1 on an fsync-always server and
// STRAND_BENCH_EVENTS=1 counting the strand burst's outcome events
// instead of calling Handle.Result per task.
func TestFull(t *testing.T) {
	if os.Getenv("STRAND_BENCH_FULL") == "" {
		t.Skip("set STRAND_BENCH_FULL=1 to run the full bench")
	}
	if os.Getenv("STRAND_BENCH_EVENTS") != "" {
		strandCountEvents = true
		defer func() { strandCountEvents = false }()
	}
	start := time.Now()
	rep, err := Run(context.Background(), Config{SyncAlways: os.Getenv("STRAND_BENCH_SYNC") != ""}, os.Stderr)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("took %v\n%s", time.Since(start).Round(time.Millisecond), rep.Table())
}

// BenchmarkSubmitResult is one task at a time through strand: Submit, then
// Result, on an embedded server with a reader of pool 4.
func BenchmarkSubmitResult(b *testing.B) {
	srv := brokertest.Start(b)
	wb := brokertest.Connect(b, srv, pub.Config{})
	pb := brokertest.Connect(b, srv, pub.Config{})
	rd, err := reader.New(wb, echoRegistry(), reader.Config{Concurrency: 4})
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- rd.Run(ctx) }()
	defer func() { cancel(); <-done }()
	w, err := writer.New(pb, writer.Config{})
	if err != nil {
		b.Fatal(err)
	}
	defer w.Close()
	payload := make([]byte, 200)
	run := func() {
		h, err := w.Submit(ctx, "echo", []any{payload})
		if err != nil {
			b.Fatal(err)
		}
		var out []byte
		if err := h.Result(ctx, &out); err != nil {
			b.Fatal(err)
		}
	}
	b.Run("serial", func(b *testing.B) {
		for b.Loop() {
			run()
		}
	})
	b.Run("parallel", func(b *testing.B) {
		b.SetParallelism(4) // 4×GOMAXPROCS callers
		b.RunParallel(func(p *testing.PB) {
			for p.Next() {
				h, err := w.Submit(ctx, "echo", []any{payload})
				if err != nil {
					b.Error(err)
					return
				}
				var out []byte
				if err := h.Result(ctx, &out); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
}

// TestCycle runs one cycle's burst alone (STRAND_BENCH_CYCLE=floor|naive|strand),
// for profiling with -cpuprofile, and logs what the server did per task.
// STRAND_BENCH_WINDOW=N makes it the pipelined burst, N tasks per window;
// STRAND_BENCH_PROFILE=file writes a CPU profile of the burst alone (the
// server is in the same process); the log says how much CPU the process
// spent per task during the burst.
func TestCycle(t *testing.T) {
	name := os.Getenv("STRAND_BENCH_CYCLE")
	if name == "" {
		t.Skip("set STRAND_BENCH_CYCLE to floor, naive or strand")
	}
	start := map[string]func(context.Context, *world, Config) (cycle, error){
		"floor": startFloor, "naive": startNaive, "strand": startStrand,
	}[name]
	if start == nil {
		t.Fatalf("no cycle %q", name)
	}
	if os.Getenv("STRAND_BENCH_EVENTS") != "" {
		strandCountEvents = true
		defer func() { strandCountEvents = false }()
	}
	srv := brokertest.Start(t)
	w, err := newWorld(srv.URL())
	if err != nil {
		t.Fatal(err)
	}
	defer w.close()
	w.payload = make([]byte, 200)
	cfg := Config{}.withDefaults()
	ctx := context.Background()
	t0 := time.Now()
	c, err := start(ctx, w, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%s started in %v", name, time.Since(t0))
	defer func() {
		t0 := time.Now()
		if err := c.close(ctx); err != nil {
			t.Error(err)
		}
		t.Logf("%s closed in %v", name, time.Since(t0))
	}()
	// Warm up as measure does.
	if _, err := burst(ctx, c, cfg.Producers, 500, 0, nil); err != nil {
		t.Fatal(err)
	}
	window := 0
	if v := os.Getenv("STRAND_BENCH_WINDOW"); v != "" {
		if window, err = strconv.Atoi(v); err != nil {
			t.Fatalf("STRAND_BENCH_WINDOW=%q: %v", v, err)
		}
	}
	tc := &timedCycle{cycle: c}
	if f := os.Getenv("STRAND_BENCH_PROFILE"); f != "" {
		out, err := os.Create(f)
		if err != nil {
			t.Fatal(err)
		}
		defer out.Close()
		if err := pprof.StartCPUProfile(out); err != nil {
			t.Fatal(err)
		}
	}
	cpu0 := cpuTime()
	took, err := burst(ctx, tc, cfg.Producers, cfg.Tasks, window, nil)
	cpu := cpuTime() - cpu0
	pprof.StopCPUProfile()
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%s burst: process CPU %v = %v per task, %.2f cores busy", name, cpu.Round(time.Millisecond),
		(cpu / time.Duration(cfg.Tasks)).Round(100*time.Nanosecond), cpu.Seconds()/took.Seconds())
	t.Logf("%s burst (window %d): %d tasks in %v = %.0f tasks/s; submit took %v per task on average",
		name, window, cfg.Tasks, took, float64(cfg.Tasks)/took.Seconds(), time.Duration(tc.submitNS.Load()/int64(cfg.Tasks)))
	for sn := range w.prodJS.StreamNames(ctx).Name() {
		s, err := w.prodJS.Stream(ctx, sn)
		if err != nil {
			t.Fatal(err)
		}
		st := s.CachedInfo().State
		t.Logf("stream %s: %.2f writes/task, %d msgs left", sn, float64(st.LastSeq)/float64(cfg.Tasks), st.Msgs)
		for ci := range s.ListConsumers(ctx).Info() {
			t.Logf("  consumer %s: %.2f deliveries/task", ci.Name, float64(ci.Delivered.Consumer)/float64(cfg.Tasks))
		}
	}
	lat := make([]time.Duration, 0, 1000)
	for range 1000 {
		t0 := time.Now()
		if err := oneTask(ctx, c); err != nil {
			t.Fatal(err)
		}
		lat = append(lat, time.Since(t0))
	}
	slices.Sort(lat)
	t.Logf("latency p50 %v p99 %v", percentile(lat, 50), percentile(lat, 99))
}

// timedCycle adds up how long submit calls take.
type timedCycle struct {
	cycle
	submitNS atomic.Int64
}

func (c *timedCycle) submit(ctx context.Context, cnt *counter) error {
	t0 := time.Now()
	err := c.cycle.submit(ctx, cnt)
	c.submitNS.Add(int64(time.Since(t0)))
	return err
}

func (c *timedCycle) submitBatch(ctx context.Context, n int, cnt *counter) error {
	t0 := time.Now()
	err := c.cycle.submitBatch(ctx, n, cnt)
	c.submitNS.Add(int64(time.Since(t0)))
	return err
}

// cpuTime is the process's user + system CPU time so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
