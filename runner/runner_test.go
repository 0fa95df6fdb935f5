package runner_test

import (
	"context"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	strand "github.com/strand-run/strand"
	"github.com/strand-run/strand/broker"
	"github.com/strand-run/strand/broker/brokertest"
	"github.com/strand-run/strand/reader"
	"github.com/strand-run/strand/runner"
	"github.com/strand-run/strand/writer"
)

func ctxT(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// natsRunner starts a server, a worker for functions() and a writer, and
// returns the writer as a runner.
func natsRunner(t *testing.T) strand.Runner {
	t.Helper()
	srv, b := brokertest.New(t)
	w, err := writer.New(b, writer.Config{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = w.Close() })
	rb := brokertest.Connect(t, srv, broker.Config{})
	r, err := reader.New(rb, functions(), reader.Config{Concurrency: 4})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("reader: %v", err)
		}
	})
	return w.Runner()
}

// runners builds each kind of runner for one test.
var runners = []struct {
	name string
	make func(t *testing.T) strand.Runner
}{
	{"inline", func(*testing.T) strand.Runner { return runner.Inline(functions()) }},
	{"pool", func(t *testing.T) strand.Runner {
		p := runner.Pool(functions(), 4)
		t.Cleanup(func() { _ = p.Close() })
		return p
	}},
	{"process", func(t *testing.T) strand.Runner {
		p := runner.Process(runner.ProcessConfig{Concurrency: 4})
		t.Cleanup(func() { _ = p.Close() })
		return p
	}},
	{"nats", natsRunner},
}

// TestSameOnEveryRunner runs the same calls on every runner: the results
// and the errors (kind and message) are the same.
func TestSameOnEveryRunner(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name    string
		fn      string
		args    []any
		want    int
		kind    string // "" for success
		message string // the error's message, or its start with a trailing "…"
	}{
		{name: "result", fn: "add", args: []any{2, 3}, want: 5},
		{name: "bad args", fn: "add", args: []any{"x", 3}, kind: string(strand.ErrBadArgs), message: `add: arg 1: want int, got string "x"`},
		{name: "arity", fn: "add", args: []any{1}, kind: string(strand.ErrBadArgs), message: "add: want 2 args, got 1"},
		{name: "unknown func", fn: "nosuch", kind: string(strand.ErrUnknownFunc), message: "nosuch: unknown function…"},
		{name: "handler error", fn: "fail", args: []any{"boom"}, kind: string(strand.ErrFailed), message: "fail: boom"},
		{name: "panic", fn: "boom", kind: string(strand.ErrPanic), message: "boom: panic: kaboom"},
	}
	for _, rc := range runners {
		t.Run(rc.name, func(t *testing.T) {
			t.Parallel()
			r := rc.make(t)
			ctx := ctxT(t, 30*time.Second)
			handles := make([]strand.Handle, len(cases))
			for i, c := range cases { // all at once: the process runner runs them side by side
				h, err := r.Submit(ctx, c.fn, c.args...)
				if err != nil {
					t.Fatalf("%s: submit: %v", c.name, err)
				}
				handles[i] = h
			}
			for i, c := range cases {
				h := handles[i]
				var got int
				err := h.Result(ctx, &got)
				st, serr := h.Status(ctx)
				if serr != nil {
					t.Fatalf("%s: status: %v", c.name, serr)
				}
				if c.kind == "" {
					if err != nil || got != c.want || st != strand.StatusCompleted {
						t.Errorf("%s: got %d, %v, status %s; want %d, completed", c.name, got, err, st, c.want)
					}
					continue
				}
				var te *strand.TaskError
				if !errors.As(err, &te) {
					t.Errorf("%s: got %v (%T), want a *strand.TaskError", c.name, err, err)
					continue
				}
				prefix, isPrefix := strings.CutSuffix(c.message, "…")
				if string(te.Kind) != c.kind || (isPrefix && !strings.HasPrefix(te.Message, prefix)) || (!isPrefix && te.Message != c.message) {
					t.Errorf("%s: got kind %q message %q; want %q %q", c.name, te.Kind, te.Message, c.kind, c.message)
				}
				if st != strand.StatusFailed {
					t.Errorf("%s: status %s, want failed", c.name, st)
				}
			}
			// kwargs through each runner's own option
			kw := any(runner.Kwargs(greetKw{Greeting: "hello"}))
			if rc.name == "nats" {
				kw = writer.Kwargs(greetKw{Greeting: "hello"})
			}
			h, err := r.Submit(ctx, "greet", "ada", kw)
			if err != nil {
				t.Fatal(err)
			}
			var s string
			if err := h.Result(ctx, &s); err != nil || s != "hello, ada" {
				t.Errorf("greet: got %q, %v", s, err)
			}
		})
	}
}

// TestTypedRoundTrip calls a typed task, and a typed view of a plain
// function, on the NATS and the pool runners.
func TestTypedRoundTrip(t *testing.T) {
	t.Parallel()
	for _, rc := range runners {
		if rc.name != "nats" && rc.name != "pool" {
			continue
		}
		t.Run(rc.name, func(t *testing.T) {
			t.Parallel()
			r := rc.make(t)
			ctx := ctxT(t, 30*time.Second)
			h, err := addTask.Call(ctx, r, 40, 2)
			if err != nil {
				t.Fatal(err)
			}
			if got, err := h.Result(ctx); err != nil || got != 42 {
				t.Errorf("typed_add: got %d, %v", got, err)
			}
			add := strand.Func2[int, int, int]("add", r)
			h, err = add.Call(ctx, 2, 3)
			if err != nil {
				t.Fatal(err)
			}
			if got, err := h.Result(ctx); err != nil || got != 5 {
				t.Errorf("add: got %d, %v", got, err)
			}
			fail := strand.Func1[string, struct{}]("fail", r)
			hf, err := fail.Call(ctx, "no")
			if err != nil {
				t.Fatal(err)
			}
			if _, err := hf.Result(ctx); strand.KindOf(err) != strand.ErrFailed {
				t.Errorf("fail: got %v", err)
			}
		})
	}
}

// TestProcessCrash: a child that exits, panics on a goroutine or is
// killed fails its task with a readable error; the caller lives on.
func TestProcessCrash(t *testing.T) {
	t.Parallel()
	p := runner.Process(runner.ProcessConfig{})
	t.Cleanup(func() { _ = p.Close() })
	ctx := ctxT(t, 30*time.Second)
	for _, c := range []struct {
		fn   string
		args []any
		want []string
	}{
		{"exit", []any{3}, []string{"exit: child process", "exit status 3", "leaving now"}},
		{"gopanic", nil, []string{"gopanic: child process", "exit status 2", "panic: in a goroutine"}},
		{"killself", nil, []string{"killself: child process", "signal: killed"}},
	} {
		h, err := p.Submit(ctx, c.fn, c.args...)
		if err != nil {
			t.Fatal(err)
		}
		err = h.Result(ctx, nil)
		if !errors.Is(err, strand.ErrCrashed) {
			t.Errorf("%s: got %v, want a crash", c.fn, err)
			continue
		}
		for _, w := range c.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s: error %q does not say %q", c.fn, err, w)
			}
		}
		if st, _ := h.Status(ctx); st != strand.StatusFailed {
			t.Errorf("%s: status %s, want failed", c.fn, st)
		}
	}
	// The caller is alive, and the runner still runs tasks, in another process.
	h, err := p.Submit(ctx, "pid")
	if err != nil {
		t.Fatal(err)
	}
	var pid int
	if err := h.Result(ctx, &pid); err != nil || pid == os.Getpid() || pid == 0 {
		t.Errorf("pid: got %d, %v; this process is %d", pid, err, os.Getpid())
	}
}

// TestProcessTimeoutAndCancel: a child past its timeout, or cancelled, is
// killed even if it ignores its ctx.
func TestProcessTimeoutAndCancel(t *testing.T) {
	t.Parallel()
	p := runner.Process(runner.ProcessConfig{})
	t.Cleanup(func() { _ = p.Close() })
	ctx := ctxT(t, 30*time.Second)

	h, err := p.Submit(ctx, "deaf", 60_000, runner.Timeout(100*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	if err := h.Result(ctx, nil); !errors.Is(err, strand.ErrTimeout) {
		t.Errorf("deaf with timeout: got %v, want a timeout", err)
	}
	h, err = p.Submit(ctx, "sleep", 60_000, runner.Timeout(100*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	if err := h.Result(ctx, nil); !errors.Is(err, strand.ErrTimeout) || !strings.Contains(err.Error(), "sleep: timed out after 100ms") {
		t.Errorf("sleep with timeout: got %v, want a timeout", err)
	}

	h, err = p.Submit(ctx, "deaf", 60_000)
	if err != nil {
		t.Fatal(err)
	}
	for st, _ := h.Status(ctx); st != strand.StatusRunning; st, _ = h.Status(ctx) {
		time.Sleep(time.Millisecond)
	}
	if err := h.Cancel(ctx); err != nil {
		t.Fatal(err)
	}
	if err := h.Result(ctx, nil); !errors.Is(err, strand.ErrCancelled) {
		t.Errorf("cancelled: got %v", err)
	}
	if st, _ := h.Status(ctx); st != strand.StatusCancelled {
		t.Errorf("cancelled: status %s", st)
	}
	if err := h.Cancel(ctx); !errors.Is(err, strand.ErrFinished) {
		t.Errorf("second cancel: got %v, want ErrFinished", err)
	}
}

// TestPoolCancel: a pending call cancelled never runs; a running one has
// its ctx cancelled; Close waits for both.
func TestPoolCancel(t *testing.T) {
	t.Parallel()
	p := runner.Pool(functions(), 1)
	ctx := ctxT(t, 30*time.Second)
	running, err := p.Submit(ctx, "sleep", 60_000)
	if err != nil {
		t.Fatal(err)
	}
	for st, _ := running.Status(ctx); st != strand.StatusRunning; st, _ = running.Status(ctx) {
		time.Sleep(time.Millisecond)
	}
	pending, err := p.Submit(ctx, "add", 1, 2)
	if err != nil {
		t.Fatal(err)
	}
	if st, _ := pending.Status(ctx); st != strand.StatusPending {
		t.Errorf("second call: %s, want pending", st)
	}
	for _, h := range []strand.Handle{pending, running} {
		if err := h.Cancel(ctx); err != nil {
			t.Fatal(err)
		}
		if err := h.Result(ctx, nil); !errors.Is(err, strand.ErrCancelled) {
			t.Errorf("got %v, want cancelled", err)
		}
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := p.Submit(ctx, "add", 1, 2); !errors.Is(err, runner.ErrClosed) {
		t.Errorf("submit after close: got %v", err)
	}
}

// TestTaskContext: the function sees its task in its ctx on every runner
// but NATS, whose worker fills in more.
func TestTaskContext(t *testing.T) {
	t.Parallel()
	for _, rc := range runners[:3] {
		r := rc.make(t)
		ctx := ctxT(t, 30*time.Second)
		h, err := r.Submit(ctx, "task", runner.ID("my-id"))
		if err != nil {
			t.Fatal(err)
		}
		var task strand.Task
		if err := h.Result(ctx, &task); err != nil || task.ID != "my-id" || task.Func != "task" || task.Attempt != 1 {
			t.Errorf("%s: got %+v, %v", rc.name, task, err)
		}
	}
}
