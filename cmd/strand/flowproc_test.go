package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	ib "github.com/strand-run/strand/internal/broker"
	"github.com/strand-run/strand/internal/link"

	strand "github.com/strand-run/strand"
	"github.com/strand-run/strand/broker"
	"github.com/strand-run/strand/inspect"
	"github.com/strand-run/strand/internal/broker/brokertest"
	"github.com/strand-run/strand/server"
	"github.com/strand-run/strand/writer"
)

var (
	binOnce sync.Once
	binPath string
	binErr  error
	binDir  string
)

// strandBin builds the strand binary once for the package's tests.
func strandBin(t *testing.T) string {
	t.Helper()
	binOnce.Do(func() {
		dir, err := os.MkdirTemp("", "strand-flowtest-")
		if err != nil {
			binErr = err
			return
		}
		binDir = dir
		binPath = filepath.Join(dir, "strand")
		if out, err := exec.Command(goTool(t), "build", "-o", binPath, ".").CombinedOutput(); err != nil {
			binErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if binErr != nil {
		t.Fatal(binErr)
	}
	return binPath
}

// fleet is a server in the test process and worker processes on it.
type fleet struct {
	t   *testing.T
	srv *server.Server
	b   *broker.Broker
	w   *writer.Writer
}

func newFleet(t *testing.T) *fleet {
	t.Helper()
	srv, b := brokertest.New(t)
	w, err := writer.New(b, writer.Config{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = w.Close() })
	return &fleet{t: t, srv: srv, b: b, w: w}
}

// worker starts `strand worker` with args and returns its process; it is
// killed at cleanup.
func (f *fleet) worker(args ...string) *exec.Cmd {
	f.t.Helper()
	cmd := exec.Command(strandBin(f.t), append([]string{"worker", "--server", f.srv.URL(), "--log-level", "warn"}, args...)...)
	cmd.Env = cleanEnv()
	out := new(lockedBuffer)
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		f.t.Fatal(err)
	}
	f.t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGKILL)
		_ = cmd.Wait()
		if f.t.Failed() {
			f.t.Logf("worker %d:\n%s", cmd.Process.Pid, out.String())
		}
	})
	return cmd
}

// waitWorkers waits until n workers have their heartbeat record.
func (f *fleet) waitWorkers(ctx context.Context, n int) {
	f.t.Helper()
	in, err := inspect.New(f.b, inspect.Config{})
	if err != nil {
		f.t.Fatal(err)
	}
	for {
		ws, err := in.Workers(ctx)
		if err != nil {
			f.t.Fatal(err)
		}
		if len(ws) >= n {
			return
		}
		select {
		case <-ctx.Done():
			f.t.Fatalf("%d workers of %d after the test's time", len(ws), n)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// outcomes reads the outcomes of hs, many at once.
func outcomes(t *testing.T, ctx context.Context, hs []strand.Handle) []time.Time {
	t.Helper()
	started := make([]time.Time, len(hs))
	var wg sync.WaitGroup
	sem := make(chan struct{}, 32)
	var mu sync.Mutex
	var firstErr error
	for i, h := range hs {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			o, err := h.Wait(ctx)
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err != nil && firstErr == nil:
				firstErr = err
			case err == nil && o.Status != strand.StatusCompleted && firstErr == nil:
				firstErr = fmt.Errorf("task %s: %s %v", h.ID(), o.Status, o.Err)
			case err == nil:
				started[i] = o.Started
			}
		})
	}
	wg.Wait()
	if firstErr != nil {
		t.Fatal(firstErr)
	}
	return started
}

// Under a backlog of 10 000 low tasks, a high task submitted later starts
// before every low one not yet started, on two worker processes; a normal
// one too.
func TestPrioritiesOrderStarts(t *testing.T) {
	if testing.Short() {
		t.Skip("runs worker processes")
	}
	t.Parallel()
	f := newFleet(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	f.worker("--concurrency", "2")
	f.worker("--concurrency", "2")
	f.waitWorkers(ctx, 2)

	var lows []strand.Handle
	for len(lows) < 10_000 {
		calls := make([]writer.Call, 1000)
		for i := range calls {
			calls[i] = writer.Call{Func: "sleep", Args: []any{20}, Opts: []strand.Option{strand.Priority("low")}}
		}
		hs, errs := f.w.SubmitBatch(ctx, calls)
		for i, err := range errs {
			if err != nil {
				t.Fatal(err)
			}
			lows = append(lows, hs[i])
		}
	}
	submitted := time.Now()
	high, err := f.w.Submit(ctx, "sleep", []any{1}, strand.Priority("high"))
	if err != nil {
		t.Fatal(err)
	}
	normal, err := f.w.Submit(ctx, "sleep", []any{1})
	if err != nil {
		t.Fatal(err)
	}
	got := outcomes(t, ctx, []strand.Handle{high, normal})
	time.Sleep(300 * time.Millisecond) // some lows start after the normal one
	// The lows that have started by now are among the first (the lane is
	// FIFO): read those, without waiting for the rest of the backlog.
	var lowStarts []time.Time
	for _, h := range lows[:1000] {
		if in, err := h.Info(ctx); err == nil && in.Status.Terminal() && !in.Started.IsZero() {
			lowStarts = append(lowStarts, in.Started)
		}
	}
	// Lows already handed to a worker when the high one came may start
	// after it was submitted: at most a pool's worth per worker, plus the
	// one each worker's low lane holds.
	before, later := 0, 0
	for _, s := range lowStarts {
		if !s.Before(submitted.Truncate(time.Millisecond)) && s.Before(got[0]) {
			before++
		}
		if s.After(got[1]) {
			later++
		}
	}
	t.Logf("%d low tasks started between the high submit and its start; %d lows started after the normal one", before, later)
	if before > 2*(2+1) {
		t.Errorf("%d low tasks not started when the high one was submitted started before it", before)
	}
	if later == 0 {
		t.Errorf("the normal task started after every low one")
	}
	if len(lowStarts) >= 1000 {
		t.Errorf("the whole backlog ran before the check: no backlog left")
	}
}

// Two producers racing with one uniqueness key get one task; once it has
// finished (until finished) the key takes a new one. Debounced submits
// racing from two producers leave one task to run, the others cancelled
// with the reason.
func TestUniqueAndDebounceRacingProducers(t *testing.T) {
	if testing.Short() {
		t.Skip("runs worker processes")
	}
	t.Parallel()
	f := newFleet(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	f.worker("--concurrency", "4")
	f.worker("--concurrency", "4")
	f.waitWorkers(ctx, 2)
	w2, err := writer.New(brokertest.Connect(t, f.srv, broker.Config{}), writer.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer w2.Close()
	producers := []*writer.Writer{f.w, w2}

	race := func(arg int, opts ...strand.Option) []strand.Handle {
		hs := make([]strand.Handle, len(producers))
		errs := make([]error, len(producers))
		var wg sync.WaitGroup
		start := make(chan struct{})
		for i, w := range producers {
			wg.Go(func() {
				<-start
				hs[i], errs[i] = w.Submit(ctx, "sleep", []any{arg}, opts...)
			})
		}
		close(start)
		wg.Wait()
		dups := 0
		for i, err := range errs {
			if errors.Is(err, strand.ErrDuplicate) {
				dups++
			} else if err != nil {
				t.Fatalf("producer %d: %v", i, err)
			}
		}
		if dups != len(producers)-1 {
			t.Fatalf("%d of %d producers got a new task: %v", len(producers)-dups, len(producers), errs)
		}
		return hs
	}
	for round := range 10 {
		key := fmt.Sprintf("k%d", round)
		hs := race(50, strand.Unique(key, 0))
		if hs[0].ID() != hs[1].ID() {
			t.Fatalf("round %d: two tasks %s and %s for one key", round, hs[0].ID(), hs[1].ID())
		}
		if _, err := hs[0].Wait(ctx); err != nil {
			t.Fatal(err)
		}
		// Finished: the key is free again (its worker released it).
		var again strand.Handle
		for deadline := time.Now().Add(10 * time.Second); ; {
			again, err = f.w.Submit(ctx, "sleep", []any{1}, strand.Unique(key, 0))
			if err == nil || time.Now().After(deadline) {
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
		if err != nil || again.ID() == hs[0].ID() {
			t.Fatalf("round %d: after the task finished: %v", round, err)
		}
	}
	// A window: the key stays held after the task finished, until it ends.
	hs := race(1, strand.Unique("win", 2*time.Second))
	if _, err := hs[0].Wait(ctx); err != nil {
		t.Fatal(err)
	}
	if h, err := f.w.Submit(ctx, "sleep", []any{1}, strand.Unique("win", 2*time.Second)); !errors.Is(err, strand.ErrDuplicate) || h.ID() != hs[0].ID() {
		t.Fatalf("inside the window: %v", err)
	}

	// Debounce: 2 producers × 5 submits within the window; the last wins.
	var all []strand.Handle
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, w := range producers {
		wg.Go(func() {
			for range 5 {
				h, err := w.Submit(ctx, "sleep", []any{1}, strand.Debounce("deb", 2*time.Second))
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				all = append(all, h)
				mu.Unlock()
				time.Sleep(20 * time.Millisecond)
			}
		})
	}
	wg.Wait()
	completed, cancelled := 0, 0
	for _, h := range all {
		o, err := h.Wait(ctx)
		if err != nil {
			t.Fatal(err)
		}
		switch o.Status {
		case strand.StatusCompleted:
			completed++
		case strand.StatusCancelled:
			cancelled++
			if o.Err == nil || !strings.Contains(o.Err.Error(), "replaced by") {
				t.Errorf("a replaced task's error: %v", o.Err)
			}
		default:
			t.Errorf("debounced task %s: %s", h.ID(), o.Status)
		}
	}
	if completed != 1 || cancelled != len(all)-1 {
		t.Fatalf("debounce: %d completed, %d cancelled of %d", completed, cancelled, len(all))
	}
}

func TestMain(m *testing.M) {
	code := m.Run()
	if binDir != "" {
		_ = os.RemoveAll(binDir)
	}
	os.Exit(code)
}

// span is one task's run as its outcome records it.
type span struct{ start, end int64 }

// maxOverlap is the most spans running at one moment (a span that ends at
// the millisecond another starts does not overlap it).
func maxOverlap(spans []span) int {
	best := 0
	for _, s := range spans {
		n := 0
		for _, o := range spans {
			if o.start <= s.start && s.start < o.end {
				n++
			}
		}
		best = max(best, n)
	}
	return best
}

// spans waits for hs and returns their runs from their outcome records.
func spans(t *testing.T, ctx context.Context, hs []strand.Handle) []span {
	t.Helper()
	out := make([]span, len(hs))
	for i, h := range hs {
		o, err := h.Wait(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if o.Status != strand.StatusCompleted {
			t.Fatalf("task %s: %s %v", h.ID(), o.Status, o.Err)
		}
		out[i] = span{o.Started.UnixMilli(), o.Ended.UnixMilli()}
	}
	return out
}

// A concurrency limit per tenant holds across two worker processes, sampled
// from the outcome records; another tenant's tasks are not held behind the
// first's; a SIGKILLed worker's slots come back once its leases expire.
func TestConcurrencyLimitAcrossWorkers(t *testing.T) {
	if testing.Short() {
		t.Skip("runs worker processes")
	}
	t.Parallel()
	f := newFleet(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	args := []string{"--concurrency", "8", "--limit", "sleep:meta:tenant=3"}
	f.worker(args...)
	f.worker(args...)
	f.waitWorkers(ctx, 2)

	submit := func(tenant string, n, ms int) []strand.Handle {
		var hs []strand.Handle
		for range n {
			h, err := f.w.Submit(ctx, "sleep", []any{ms}, strand.Meta(map[string]string{"tenant": tenant}))
			if err != nil {
				t.Fatal(err)
			}
			hs = append(hs, h)
		}
		return hs
	}
	acme := submit("acme", 30, 40)
	globex := submit("globex", 6, 40)
	g := spans(t, ctx, globex)
	a := spans(t, ctx, acme)
	if n := maxOverlap(a); n > 3 || n < 2 {
		t.Errorf("acme: %d tasks ran at once, the limit is 3 (and 2 workers of 8 could run more)", n)
	}
	if n := maxOverlap(g); n > 3 {
		t.Errorf("globex: %d tasks ran at once, the limit is 3", n)
	}
	lastA := int64(0)
	for _, s := range a {
		lastA = max(lastA, s.end)
	}
	for _, s := range g {
		if s.end >= lastA {
			t.Errorf("a globex task ended after every acme one: held behind acme's backlog")
			break
		}
	}
	if info, err := acme[0].Info(ctx); err != nil || info.Attempt != 1 {
		t.Errorf("a task that waited for its slot ran at attempt %v (%v): waiting burns no attempt", info.Attempt, err)
	}

}

// A SIGKILLed worker's slots come back once its leases expire (AckWait),
// to another worker process; the task waiting for them says why it waits.
func TestLimitSlotsOfAKilledWorkerComeBack(t *testing.T) {
	if testing.Short() {
		t.Skip("runs worker processes")
	}
	t.Parallel()
	f := newFleet(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	args := []string{"--ack-wait", "3s", "--limit", "sleep:meta:tenant=3"}
	// Its 3 slots all run long tasks: it takes no other task.
	doomed := f.worker(append(args, "--concurrency", "3")...)
	f.waitWorkers(ctx, 1)
	var long []strand.Handle
	for range 3 {
		h, err := f.w.Submit(ctx, "sleep", []any{60_000}, strand.Meta(map[string]string{"tenant": "acme"}))
		if err != nil {
			t.Fatal(err)
		}
		long = append(long, h)
	}
	for _, h := range long {
		waitStatus(t, ctx, h, strand.StatusRunning)
	}
	f.worker(append(args, "--concurrency", "8")...)
	f.waitWorkers(ctx, 2)
	waiter, err := f.w.Submit(ctx, "sleep", []any{10}, strand.Meta(map[string]string{"tenant": "acme"}))
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Second)
	info, err := waiter.Info(ctx)
	if err != nil || info.Status != strand.StatusPending || !strings.HasPrefix(info.Waiting, "limit:") {
		t.Fatalf("a task over its limit reads %+v, %v; want pending, waiting for the limit", info, err)
	}
	if err := doomed.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	killed := time.Now()
	for _, h := range long {
		_ = h.Cancel(ctx) // so that their redelivery does not take the slots again
	}
	o, err := waiter.Wait(ctx)
	if err != nil || o.Status != strand.StatusCompleted {
		t.Fatalf("the waiting task: %v %v", o, err)
	}
	if d := time.Since(killed); d > 3*time.Second+5*time.Second {
		t.Errorf("the killed worker's slots came back after %v; its leases last AckWait (3s)", d)
	}
	if o.Attempt != 1 {
		t.Errorf("the task that waited ran at attempt %d: waiting is not an attempt", o.Attempt)
	}
}

// waitStatus waits until h reads want.
func waitStatus(t *testing.T, ctx context.Context, h strand.Handle, want strand.Status) {
	t.Helper()
	for {
		st, err := h.Status(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if st == want {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("task %s: %s, want %s", h.ID(), st, want)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// A rate limit holds across two worker processes: starts per window, from
// the outcome records.
func TestRateLimitAcrossWorkers(t *testing.T) {
	if testing.Short() {
		t.Skip("runs worker processes")
	}
	t.Parallel()
	f := newFleet(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	args := []string{"--concurrency", "8", "--rate", "sleep:key=5/1s"}
	f.worker(args...)
	f.worker(args...)
	f.waitWorkers(ctx, 2)
	var hs []strand.Handle
	for range 20 {
		h, err := f.w.Submit(ctx, "sleep", []any{1}, strand.Key("api"))
		if err != nil {
			t.Fatal(err)
		}
		hs = append(hs, h)
	}
	other, err := f.w.Submit(ctx, "sleep", []any{1}, strand.Key("other"))
	if err != nil {
		t.Fatal(err)
	}
	perWindow := map[int64]int{}
	for _, s := range spans(t, ctx, hs) {
		perWindow[s.start/1000]++
	}
	for w, n := range perWindow {
		// One window's tolerance: a start is counted in the window its
		// worker took it in, and recorded a moment later.
		if n > 5+1 {
			t.Errorf("%d starts in the second %d; the rate is 5 per 1s", n, w)
		}
	}
	if len(perWindow) < 4 {
		t.Errorf("20 tasks at 5 per second started within %d seconds", len(perWindow))
	}
	if _, err := other.Wait(ctx); err != nil {
		t.Fatal(err)
	}
}

// Weighted and strict ordering between the queues of one worker: with a
// backlog in both, strict runs the heavier queue's tasks first, weighted
// shares the starts by weight.
func TestQueueWeights(t *testing.T) {
	if testing.Short() {
		t.Skip("runs worker processes")
	}
	t.Parallel()
	for _, c := range []struct {
		name string
		args []string
	}{
		{"strict", []string{"--queue", "critical=2,bulk=1", "--strict-priority"}},
		{"weighted", []string{"--queue", "critical=6,bulk=1"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			f := newFleet(t)
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			// Both queues' backlogs are queued before any worker runs.
			for _, q := range []string{"critical", "bulk"} {
				if _, err := link.Core(f.b).EnsureQueue(ctx, q, ib.QueueConfig{}); err != nil {
					t.Fatal(err)
				}
			}
			submit := func(q string, n int) []strand.Handle {
				calls := make([]writer.Call, n)
				for i := range calls {
					calls[i] = writer.Call{Func: "sleep", Args: []any{2}, Opts: []strand.Option{strand.Queue(q)}}
				}
				hs, errs := f.w.SubmitBatch(ctx, calls)
				if err := errors.Join(errs...); err != nil {
					t.Fatal(err)
				}
				return hs
			}
			critical, bulk := submit("critical", 150), submit("bulk", 150)
			f.worker(append(c.args, "--concurrency", "2")...)
			f.worker(append(c.args, "--concurrency", "2")...)
			cs, bs := spans(t, ctx, critical), spans(t, ctx, bulk)
			lastCritical := int64(0)
			for _, s := range cs {
				lastCritical = max(lastCritical, s.start)
			}
			early := 0 // bulk tasks started before the last critical one
			for _, s := range bs {
				if s.start < lastCritical {
					early++
				}
			}
			t.Logf("%d of 150 bulk tasks started before the last critical one", early)
			switch c.name {
			case "strict":
				// A worker that starts while both queues look empty asks
				// each in turn once: a few bulk tasks may start early.
				if early > 8 {
					t.Errorf("strict: %d bulk tasks started while critical ones waited", early)
				}
			case "weighted":
				// 6:1: about 25 bulk starts for 150 critical ones.
				if early < 5 || early > 70 {
					t.Errorf("weighted 6:1: %d bulk tasks started before the last of 150 critical ones", early)
				}
			}
		})
	}
}

// Fairness: behind a backlog of 10 000 tasks of one tenant, another
// tenant's lone task starts within a few task-times, on two worker
// processes that take the fair lanes in turn.
func TestFairLoneTenant(t *testing.T) {
	if testing.Short() {
		t.Skip("runs worker processes")
	}
	t.Parallel()
	f := newFleet(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	const taskMS = 5
	f.worker("--fair", "--concurrency", "2")
	f.worker("--fair", "--concurrency", "2")
	f.waitWorkers(ctx, 2)
	var acme []strand.Handle
	for len(acme) < 10_000 {
		calls := make([]writer.Call, 1000)
		for i := range calls {
			calls[i] = writer.Call{Func: "sleep", Args: []any{taskMS}, Opts: []strand.Option{strand.Key("acme"), strand.Fair()}}
		}
		hs, errs := f.w.SubmitBatch(ctx, calls)
		if err := errors.Join(errs...); err != nil {
			t.Fatal(err)
		}
		acme = append(acme, hs...)
	}
	// Another tenant whose key hashes to another lane.
	other := "globex"
	for i := 0; ib.FairLane(other) == ib.FairLane("acme"); i++ {
		other = fmt.Sprintf("globex%d", i)
	}
	time.Sleep(200 * time.Millisecond) // the backlog is being worked
	submitted := time.Now()
	lone, err := f.w.Submit(ctx, "sleep", []any{taskMS}, strand.Key(other), strand.Fair())
	if err != nil {
		t.Fatal(err)
	}
	o, err := lone.Wait(ctx)
	if err != nil || o.Status != strand.StatusCompleted {
		t.Fatalf("the lone task: %v %v", o, err)
	}
	t.Logf("the lone task started %v after its submit, behind a backlog of 10 000", o.Started.Sub(submitted))
	// Counted in task-times, from the outcome records: how many of acme's
	// tasks started between the lone task's submit and its start (4 slots
	// in all: a few task-times is a few times 4).
	ahead := 0
	var mu sync.Mutex
	var wg sync.WaitGroup
	sem := make(chan struct{}, 32)
	for _, h := range acme[:3000] {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			ao, err := h.Info(ctx)
			if err != nil || !ao.Status.Terminal() {
				return
			}
			if !ao.Started.Before(submitted.Truncate(time.Millisecond)) && ao.Started.Before(o.Started) {
				mu.Lock()
				ahead++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	t.Logf("%d of acme's tasks started between the lone task's submit and its start", ahead)
	if ahead > 3*4 {
		t.Errorf("%d of acme's tasks started before the lone task of another tenant: more than a few task-times", ahead)
	}
	info, err := acme[len(acme)-1].Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if info.Status != strand.StatusPending {
		t.Errorf("the backlog's last task is %s: the test did not wait behind a backlog", info.Status)
	}
	// Cancelling works for a task in a fair lane (it is found there).
	if err := acme[len(acme)-1].Cancel(ctx); err != nil {
		t.Fatalf("cancel a task in a fair lane: %v", err)
	}
}
