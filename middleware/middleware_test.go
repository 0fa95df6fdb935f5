package middleware_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
	"golang.org/x/time/rate"

	strand "github.com/strand-run/strand"
	"github.com/strand-run/strand/broker"
	"github.com/strand-run/strand/internal/broker/brokertest"
	"github.com/strand-run/strand/middleware"
	"github.com/strand-run/strand/reader"
	"github.com/strand-run/strand/registry"
	"github.com/strand-run/strand/writer"
)

// setup starts a server, a worker running reg with the reader middleware,
// and returns a writer with the writer middleware.
func setup(t *testing.T, reg *registry.Registry, cfg reader.Config, wcfg writer.Config) (*writer.Writer, *broker.Broker) {
	t.Helper()
	srv, b := brokertest.New(t)
	r, err := reader.New(brokertest.Connect(t, srv, broker.Config{}), reg, cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	w, err := writer.New(b, wcfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = w.Close() })
	return w, b
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func funcs() *registry.Registry {
	reg := registry.New()
	reg.MustRegister("add", func(a, b int) int { return a + b })
	reg.MustRegister("sub", func(a, b int) int { return a - b })
	reg.MustRegister("fail", func() error { return errors.New("no luck") })
	return reg
}

// syncBuffer is a bytes.Buffer safe for the worker's goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestLogging(t *testing.T) {
	t.Parallel()
	var buf syncBuffer
	log := zerolog.New(&buf)
	w, _ := setup(t, funcs(), reader.Config{Middleware: []reader.Middleware{middleware.Logging(log)}}, writer.Config{})
	ctx := ctxT(t)
	h, err := w.Submit(ctx, "add", []any{2, 3}, strand.Queue("default"))
	if err != nil {
		t.Fatal(err)
	}
	if err := h.Result(ctx, nil); err != nil {
		t.Fatal(err)
	}
	hf, err := w.Submit(ctx, "fail", nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := hf.Result(ctx, nil); err == nil {
		t.Fatal("fail completed")
	}
	// The log line is written before the outcome, so it is there now.
	lines := map[string]map[string]any{}
	sc := bufio.NewScanner(strings.NewReader(buf.String()))
	for sc.Scan() {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("log line %q: %v", sc.Text(), err)
		}
		lines[m["task_id"].(string)] = m
	}
	ok, bad := lines[h.ID()], lines[hf.ID()]
	if ok == nil || bad == nil {
		t.Fatalf("no log line for the tasks in %s", buf.String())
	}
	for k, want := range map[string]any{"func": "add", "queue": "default", "attempt": 1.0, "outcome": "completed", "level": "info"} {
		if ok[k] != want {
			t.Errorf("%s = %v, want %v (line %v)", k, ok[k], want, ok)
		}
	}
	if _, has := ok["duration"]; !has {
		t.Errorf("no duration in %v", ok)
	}
	if bad["outcome"] != string(strand.ErrFailed) || bad["level"] != "warn" || !strings.Contains(bad["error"].(string), "no luck") {
		t.Errorf("failed task's line %v", bad)
	}
}

// value returns the sum of the samples of the named series whose labels
// include want.
func value(t *testing.T, reg *prometheus.Registry, name string, want map[string]string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	sum := 0.0
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	metrics:
		for _, m := range mf.GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			for k, v := range want {
				if labels[k] != v {
					continue metrics
				}
			}
			switch {
			case m.Counter != nil:
				sum += m.GetCounter().GetValue()
			case m.Gauge != nil:
				sum += m.GetGauge().GetValue()
			case m.Histogram != nil:
				sum += float64(m.GetHistogram().GetSampleCount())
			}
		}
	}
	return sum
}

func TestMetrics(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	m, err := middleware.NewMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	w, _ := setup(t, funcs(), reader.Config{Concurrency: 4, Middleware: []reader.Middleware{m.Reader()}},
		writer.Config{Middleware: []writer.Middleware{m.Writer()}})
	ctx := ctxT(t)
	const n = 25
	var calls []writer.Call
	for i := range n {
		calls = append(calls, writer.Call{Func: "add", Args: []any{i, 1}})
	}
	calls = append(calls, writer.Call{Func: "fail"}, writer.Call{Func: "fail"})
	hs, errs := w.SubmitBatch(ctx, calls)
	for i, h := range hs {
		if errs[i] != nil {
			t.Fatal(errs[i])
		}
		_ = h.Result(ctx, nil)
	}
	add := map[string]string{"func": "add", "queue": "default"}
	for name, want := range map[string]float64{
		"strand_tasks_submitted_total": n, "strand_tasks_started_total": n, "strand_tasks_completed_total": n,
		"strand_task_duration_seconds": n, "strand_tasks_in_flight": 0,
	} {
		if got := value(t, reg, name, add); got != want {
			t.Errorf("%s{func=add} = %v, want %v", name, got, want)
		}
	}
	if got := value(t, reg, "strand_tasks_failed_total", map[string]string{"func": "fail", "kind": "error"}); got != 2 {
		t.Errorf("failed{func=fail,kind=error} = %v, want 2", got)
	}
	if got := value(t, reg, "strand_tasks_failed_total", add); got != 0 {
		t.Errorf("failed{func=add} = %v, want 0", got)
	}
}

func TestRateLimit(t *testing.T) {
	t.Parallel()
	lim := middleware.RateLimit(middleware.Limits{PerFunc: map[string]rate.Limit{"add": 10}})
	w, _ := setup(t, funcs(), reader.Config{Concurrency: 8, Middleware: []reader.Middleware{lim}}, writer.Config{})
	ctx := ctxT(t)
	run := func(fn string, n int) time.Duration {
		var calls []writer.Call
		for i := range n {
			calls = append(calls, writer.Call{Func: fn, Args: []any{i, 1}})
		}
		start := time.Now()
		hs, errs := w.SubmitBatch(ctx, calls)
		for i, h := range hs {
			if errs[i] != nil {
				t.Fatal(errs[i])
			}
			if err := h.Result(ctx, nil); err != nil {
				t.Fatal(err)
			}
		}
		return time.Since(start)
	}
	// 20 tasks at 10/s with a burst of 1: the last starts 1.9 s after the first.
	if d := run("add", 20); d < 1500*time.Millisecond {
		t.Fatalf("20 limited tasks took %v, want at least 1.5s", d)
	}
	// A function without a limit (and no default) is not held back; no
	// upper bound is asserted, only that it runs.
	run("sub", 20)
}

func TestAllowlist(t *testing.T) {
	t.Parallel()
	allow := middleware.Allowlist{"svc-a": {"add"}, "admin": {"*"}}
	w, b := setup(t, funcs(), reader.Config{Middleware: []reader.Middleware{allow.Reader()}}, writer.Config{Caller: "svc-a"})
	ctx := ctxT(t)

	// The worker refuses what the writer let through.
	h, err := w.Submit(ctx, "sub", []any{5, 1})
	if err != nil {
		t.Fatal(err)
	}
	err = h.Result(ctx, nil)
	var te *strand.TaskError
	if !errors.As(err, &te) || te.Kind != strand.ErrForbidden || te.Message != `sub: caller "svc-a" may not call it` {
		t.Fatalf("sub as svc-a: %v, want forbidden", err)
	}
	if !errors.Is(err, strand.ErrForbidden) {
		t.Fatalf("%v does not match strand.ErrForbidden", err)
	}
	if st, _ := h.Status(ctx); st != strand.StatusFailed {
		t.Fatalf("status %s, want failed", st)
	}
	for _, c := range []struct {
		fn     string
		opts   []strand.Option
		forbid bool
	}{
		{"add", nil, false},
		{"sub", []strand.Option{strand.Caller("admin")}, false},
		{"add", []strand.Option{strand.Caller("svc-x")}, true},
		{"add", []strand.Option{strand.Caller("")}, true},
	} {
		h, err := w.Submit(ctx, c.fn, []any{1, 2}, c.opts...)
		if err != nil {
			t.Fatal(err)
		}
		err = h.Result(ctx, nil)
		if got := errors.As(err, &te) && te.Kind == strand.ErrForbidden; got != c.forbid || (!c.forbid && err != nil) {
			t.Errorf("%s %v: %v, forbidden %v", c.fn, c.opts, err, c.forbid)
		}
	}

	// The writer refuses at submit, and writes nothing.
	ws, err := writer.New(b, writer.Config{Caller: "svc-a", Middleware: []writer.Middleware{allow.Writer()}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ws.Close() })
	_, err = ws.Submit(ctx, "sub", []any{5, 1}, strand.ID("refused-1"))
	if !errors.Is(err, strand.ErrForbidden) || !strings.Contains(err.Error(), `sub: caller "svc-a" may not call it`) {
		t.Fatalf("Submit(sub) as svc-a = %v, want ErrForbidden", err)
	}
	if _, errs := ws.SubmitBatch(ctx, []writer.Call{{Func: "sub"}}); !errors.Is(errs[0], strand.ErrForbidden) {
		t.Fatalf("SubmitBatch(sub) as svc-a = %v, want ErrForbidden", errs[0])
	}
	if st, err := ws.Open("refused-1"); err != nil {
		t.Fatal(err)
	} else if s, err := st.Status(ctx); err != nil || s != strand.StatusUnknown {
		t.Fatalf("refused task's status %s, %v; want unknown (never written)", s, err)
	}
	if h, err := ws.Submit(ctx, "add", []any{5, 1}); err != nil {
		t.Fatal(err)
	} else if err := h.Result(ctx, nil); err != nil {
		t.Fatal(err)
	}
}
