package reader_test

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	strand "github.com/strand-run/strand"
	"github.com/strand-run/strand/broker"
	"github.com/strand-run/strand/internal/broker/brokertest"
	"github.com/strand-run/strand/reader"
	"github.com/strand-run/strand/registry"
	"github.com/strand-run/strand/server"
	"github.com/strand-run/strand/writer"
)

// ran records the times a handler ran, by task id.
type ran struct {
	mu   sync.Mutex
	at   map[string][]time.Time
	seen chan string
}

func newRan() *ran { return &ran{at: map[string][]time.Time{}, seen: make(chan string, 1000)} }

func (r *ran) add(id string) {
	r.mu.Lock()
	r.at[id] = append(r.at[id], time.Now())
	r.mu.Unlock()
	r.seen <- id
}

func (r *ran) runs() map[string]int {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := map[string]int{}
	for id, ts := range r.at {
		out[id] = len(ts)
	}
	return out
}

// A delayed task reads scheduled, does not run before its time, and runs
// after it; its id is taken from submit on.
func TestDelayedTask(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	runs := newRan()
	e.reg.MustRegister("add", func(ctx context.Context, a, b int) int { tk, _ := strand.TaskFrom(ctx); runs.add(tk.ID); return a + b })
	e.worker(reader.Config{})
	ctx := ctxT(t, 60*time.Second)
	start := time.Now()
	h, err := e.w.Submit(ctx, "add", []any{2, 3}, strand.After(2*time.Second), strand.ID("later"))
	if err != nil {
		t.Fatal(err)
	}
	if st, err := h.Status(ctx); err != nil || st != strand.StatusScheduled {
		t.Fatalf("status %s %v, want scheduled", st, err)
	}
	info, err := e.w.Open("later")
	if err != nil {
		t.Fatal(err)
	}
	if i, err := info.Info(ctx); err != nil || i.Status != strand.StatusScheduled || i.RunAt.Before(start.Add(2*time.Second).Truncate(time.Second)) || i.Func != "add" {
		t.Fatalf("info %+v %v", i, err)
	}
	// The id is taken while it waits: delayed or not, a second is refused.
	if _, err := e.w.Submit(ctx, "add", []any{1, 1}, strand.ID("later")); !errors.Is(err, strand.ErrDuplicate) {
		t.Fatalf("immediate resubmit: %v, want duplicate", err)
	}
	if _, err := e.w.Submit(ctx, "add", []any{1, 1}, strand.ID("later"), strand.After(time.Hour)); !errors.Is(err, strand.ErrDuplicate) {
		t.Fatalf("delayed resubmit: %v, want duplicate", err)
	}
	var sum int
	if err := h.Result(ctx, &sum); err != nil || sum != 5 {
		t.Fatalf("result %d %v", sum, err)
	}
	if took := time.Since(start); took < 2*time.Second {
		t.Fatalf("ran after %v, before its time", took)
	}
	if n := runs.runs()["later"]; n != 1 {
		t.Fatalf("ran %d times", n)
	}
}

// A delayed task cancelled while scheduled never runs and reads cancelled.
func TestDelayedCancel(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	runs := newRan()
	e.reg.MustRegister("add", func(ctx context.Context, a, b int) int { tk, _ := strand.TaskFrom(ctx); runs.add(tk.ID); return a + b })
	e.worker(reader.Config{})
	ctx := ctxT(t, 60*time.Second)
	h, err := e.w.Submit(ctx, "add", []any{2, 3}, strand.After(2*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	if err := h.Cancel(ctx); err != nil {
		t.Fatal(err)
	}
	// A task submitted after it, due after it, runs: the worker was there.
	h2, err := e.w.Submit(ctx, "add", []any{1, 1}, strand.After(3*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	var sum int
	if err := h2.Result(ctx, &sum); err != nil || sum != 2 {
		t.Fatalf("second: %d %v", sum, err)
	}
	if n := runs.runs()[h.ID()]; n != 0 {
		t.Fatalf("cancelled task ran %d times", n)
	}
	if st, err := h.Status(ctx); err != nil || st != strand.StatusCancelled {
		t.Fatalf("status %s %v", st, err)
	}
}

// Bad times: past runs now, beyond the task TTL is refused.
func TestDelayedBounds(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.reg.MustRegister("add", func(a, b int) int { return a + b })
	e.worker(reader.Config{})
	ctx := ctxT(t, 30*time.Second)
	h, err := e.w.Submit(ctx, "add", []any{2, 3}, strand.At(time.Now().Add(-time.Hour)))
	if err != nil {
		t.Fatal(err)
	}
	var sum int
	if err := h.Result(ctx, &sum); err != nil || sum != 5 {
		t.Fatalf("past: %d %v", sum, err)
	}
	_, err = e.w.Submit(ctx, "add", []any{2, 3}, strand.After(15*24*time.Hour))
	if !errors.Is(err, strand.ErrBadOption) || !strings.Contains(err.Error(), "task TTL") {
		t.Fatalf("beyond the task TTL: %v", err)
	}
}

// An @every 1s schedule fires repeatedly, each firing one task that runs
// once; pause stops the firings, resume restarts them, delete removes them.
func TestScheduleEvery(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	runs := newRan()
	e.reg.MustRegister("tick", func(ctx context.Context, n int) int {
		tk, _ := strand.TaskFrom(ctx)
		runs.add(tk.ID)
		return n
	})
	e.worker(reader.Config{})
	ctx := ctxT(t, 90*time.Second)
	if err := e.w.PutSchedule(ctx, "ticker", "@every 1s", "tick", []any{7}); err != nil {
		t.Fatal(err)
	}
	waitRuns := func(n int) {
		t.Helper()
		for range n {
			select {
			case <-runs.seen:
			case <-ctx.Done():
				t.Fatalf("waiting for %d firings: %v (%v)", n, ctx.Err(), runs.runs())
			}
		}
	}
	waitRuns(3)
	for id, n := range runs.runs() {
		if n != 1 || !strings.HasPrefix(id, "ticker-") {
			t.Fatalf("task %s ran %d times", id, n)
		}
	}
	ss, err := e.w.Schedules(ctx, "ticker")
	if err != nil {
		t.Fatal(err)
	}
	s := ss[0]
	if s.Spec != "@every 1s" || s.Func != "tick" || s.Queue != "default" || s.Paused || s.NextRun.IsZero() || s.LastTask == "" || s.LastRun.IsZero() {
		t.Fatalf("schedule %+v", s)
	}
	h, _ := e.w.Open(s.LastTask)
	var got int
	if err := h.Result(ctx, &got); err != nil || got != 7 {
		t.Fatalf("last task %s: %d %v", s.LastTask, got, err)
	}
	if info, _ := h.Info(ctx); info.Meta["schedule"] != "ticker" {
		t.Fatalf("meta %v", info.Meta)
	}

	// Paused: no firing for 3 s (one fired just before may still run).
	if err := e.w.PauseSchedule(ctx, "ticker"); err != nil {
		t.Fatal(err)
	}
	time.Sleep(1500 * time.Millisecond)
	drain(runs.seen)
	time.Sleep(3 * time.Second)
	if n := len(runs.seen); n != 0 {
		t.Fatalf("%d firings while paused", n)
	}
	if ss, err := e.w.Schedules(ctx, "ticker"); err != nil || !ss[0].Paused || !ss[0].NextRun.IsZero() {
		t.Fatalf("paused schedule %+v %v", ss, err)
	}
	if err := e.w.ResumeSchedule(ctx, "ticker"); err != nil {
		t.Fatal(err)
	}
	waitRuns(2)

	// Deleted: no more firings, and it is gone.
	if err := e.w.DeleteSchedule(ctx, "ticker"); err != nil {
		t.Fatal(err)
	}
	time.Sleep(1500 * time.Millisecond)
	drain(runs.seen)
	time.Sleep(3 * time.Second)
	if n := len(runs.seen); n != 0 {
		t.Fatalf("%d firings after delete", n)
	}
	if _, err := e.w.Schedules(ctx, "ticker"); !errors.Is(err, strand.ErrNotFound) {
		t.Fatalf("get after delete: %v", err)
	}
	if ss, err := e.w.Schedules(ctx); err != nil || len(ss) != 0 {
		t.Fatalf("list after delete: %v %v", ss, err)
	}
}

func drain(c chan string) {
	for {
		select {
		case <-c:
		default:
			return
		}
	}
}

// Bad schedules are refused at the call, and nothing is stored.
func TestScheduleBadInput(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := ctxT(t, 30*time.Second)
	for _, tc := range []struct {
		name, spec string
		opts       []strand.Option
		want       string
	}{
		{"a", "* * *", nil, "5 fields"},
		{"a", "61 * * * *", nil, "above maximum"},
		{"a", "@every 10ms", nil, "at least 1s"},
		{"a", "CRON_TZ=Mars/Olympus 0 9 * * *", nil, "unknown time zone"},
		{"a", "TZ=Europe/Paris @every 1s", nil, "no time zone"},
		{"a.b", "@every 1s", nil, "not one subject token"},
		{"a*", "@every 1s", nil, "not one subject token"},
		{"", "@every 1s", nil, "want 1-100"},
		{"a", "@every 1s", []strand.Option{strand.ID("x")}, "ID, At and After"},
		{"a", "@every 1s", []strand.Option{strand.After(time.Second)}, "ID, At and After"},
	} {
		err := e.w.PutSchedule(ctx, tc.name, tc.spec, "add", []any{1, 2}, tc.opts...)
		if !errors.Is(err, strand.ErrBadOption) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("PutSchedule(%q, %q): %v, want ErrBadOption with %q", tc.name, tc.spec, err, tc.want)
		}
	}
	if ss, err := e.w.Schedules(ctx); err != nil || len(ss) != 0 {
		t.Fatalf("stored after refusals: %v %v", ss, err)
	}
}

// Delayed tasks survive a server restart: one due while the server is down
// runs once it is back, one due later runs at its time; each once. A
// schedule's firings missed while the server is down are not made up: the
// server fires once when it is back, then on its period again.
func TestTimeServerRestart(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	srv := brokertest.StartWith(t, server.Config{DataDir: dir})
	addr := srv.NATS().Addr().String()
	b := brokertest.Connect(t, srv, broker.Config{})
	w, err := writer.New(b, writer.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	runs := newRan()
	reg := registry.New()
	reg.MustRegister("add", func(ctx context.Context, a, b int) int {
		tk, _ := strand.TaskFrom(ctx)
		runs.add(tk.ID)
		return a + b
	})
	ctx := ctxT(t, 90*time.Second)
	start := time.Now()
	early, err := w.Submit(ctx, "add", []any{1, 1}, strand.After(2*time.Second), strand.ID("early"))
	if err != nil {
		t.Fatal(err)
	}
	late, err := w.Submit(ctx, "add", []any{2, 2}, strand.After(7*time.Second), strand.ID("late"))
	if err != nil {
		t.Fatal(err)
	}
	if err := w.PutSchedule(ctx, "beat", "@every 1s", "add", []any{0, 0}); err != nil {
		t.Fatal(err)
	}
	srv.Stop()
	stopped := time.Now()
	time.Sleep(5 * time.Second)
	srv = brokertest.StartWith(t, server.Config{Addr: addr, DataDir: dir})
	restarted := time.Now()
	wb := brokertest.Connect(t, srv, broker.Config{})
	r, err := reader.New(wb, reg, reader.Config{})
	if err != nil {
		t.Fatal(err)
	}
	rctx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- r.Run(rctx) }()
	defer func() { stop(); <-done }()
	var sum int
	if err := early.Result(ctx, &sum); err != nil || sum != 2 {
		t.Fatalf("early: %d %v", sum, err)
	}
	if err := late.Result(ctx, &sum); err != nil || sum != 4 {
		t.Fatalf("late: %d %v", sum, err)
	}
	if took := time.Since(start); took < 7*time.Second {
		t.Fatalf("late ran after %v", took)
	}
	time.Sleep(2 * time.Second)
	if err := w.DeleteSchedule(ctx, "beat"); err != nil {
		t.Fatal(err)
	}
	after, during := 0, 0
	for id, n := range runs.runs() {
		if n != 1 {
			t.Errorf("%s ran %d times", id, n)
		}
		sec, ok := strings.CutPrefix(id, "beat-")
		if !ok {
			continue
		}
		u, _ := strconv.ParseInt(sec, 10, 64)
		switch fire := time.Unix(u, 0); {
		case fire.After(stopped.Add(2*time.Second)) && fire.Before(restarted.Add(-time.Second)):
			during++
		case fire.After(restarted.Add(-time.Second)):
			after++
		}
	}
	if during != 0 || after < 2 {
		t.Fatalf("firings while the server was down: %d (want 0), after: %d (want >= 2): %v", during, after, runs.runs())
	}
}

// Firings due while no worker of the queue runs are kept, the latest one
// per schedule: it runs when a worker starts, then the schedule goes on.
func TestScheduleNoWorker(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	runs := newRan()
	e.reg.MustRegister("tick", func(ctx context.Context) {
		tk, _ := strand.TaskFrom(ctx)
		runs.add(tk.ID)
	})
	ctx := ctxT(t, 60*time.Second)
	if err := e.w.PutSchedule(ctx, "lonely", "@every 1s", "tick", nil); err != nil {
		t.Fatal(err)
	}
	time.Sleep(3 * time.Second)
	// Start the worker half way between two firings: the one kept is the
	// last before it, every later one comes after it.
	time.Sleep(time.Until(time.Now().Truncate(time.Second).Add(1500 * time.Millisecond)))
	started := time.Now()
	e.worker(reader.Config{})
	for range 3 {
		select {
		case <-runs.seen:
		case <-ctx.Done():
			t.Fatal(ctx.Err())
		}
	}
	before := 0
	for id := range runs.runs() {
		u, _ := strconv.ParseInt(strings.TrimPrefix(id, "lonely-"), 10, 64)
		if time.Unix(u, 0).Before(started) {
			before++
		}
	}
	if before != 1 {
		t.Fatalf("%d firings from before the worker ran, want 1 (the latest): %v", before, runs.runs())
	}
}
