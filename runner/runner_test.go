package runner_test

import (
	"context"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	strand "github.com/strand-run/strand"
	"github.com/strand-run/strand/internal/opt"
	"github.com/strand-run/strand/runner"
)

func ctxT(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// runnerCase builds one kind of runner for one test.
type runnerCase struct {
	name string
	make func(t *testing.T) strand.Runner
}

// runners are the local runners; nats_test.go adds the writer.
var runners = []runnerCase{
	{"inline", func(t *testing.T) strand.Runner {
		r := runner.Inline(functions())
		t.Cleanup(func() { _ = r.Close() })
		return r
	}},
	{"pool", func(t *testing.T) strand.Runner {
		p := runner.Pool(functions(), 4)
		t.Cleanup(func() { _ = p.Close() })
		return p
	}},
	{"process", func(t *testing.T) strand.Runner {
		p := runner.Process(4)
		t.Cleanup(func() { _ = p.Close() })
		return p
	}},
}

// local are the runners of this package.
func local() []runnerCase { return runners[:3] }

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
				h, err := r.Submit(ctx, c.fn, c.args)
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
				o, werr := h.Wait(ctx)
				if werr != nil || o.ID != h.ID() || o.Status != st || o.Attempt != 1 {
					t.Errorf("%s: outcome %+v, %v", c.name, o, werr)
				}
				if c.kind == "" {
					if err != nil || got != c.want || st != strand.StatusCompleted || o.Err != nil {
						t.Errorf("%s: got %d, %v, status %s; want %d, completed", c.name, got, err, st, c.want)
					}
					var again int
					if derr := o.Result.Decode(&again); derr != nil || again != c.want {
						t.Errorf("%s: outcome's result: %d, %v", c.name, again, derr)
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
				if !errors.Is(err, strand.Kind(c.kind)) || !errors.Is(o.Err, strand.Kind(c.kind)) {
					t.Errorf("%s: %v does not match its kind's sentinel", c.name, err)
				}
				if st != strand.StatusFailed {
					t.Errorf("%s: status %s, want failed", c.name, st)
				}
			}
			h, err := r.Submit(ctx, "greet", []any{"ada"}, strand.Kwargs(greetKw{Greeting: "hello"}))
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

// TestOptions: a local runner honours ID, Timeout, Kwargs and Meta,
// accepts and ignores the options that mean nothing without NATS, and
// refuses with ErrBadOption those it cannot honour, a bad option and an
// option passed among the args — before running anything.
func TestOptions(t *testing.T) {
	t.Parallel()
	for _, rc := range local() {
		t.Run(rc.name, func(t *testing.T) {
			t.Parallel()
			r := rc.make(t)
			ctx := ctxT(t, 30*time.Second)

			h, err := r.Submit(ctx, "meta", []any{"k"}, strand.Meta(map[string]string{"k": "v"}), strand.ID("opt-1"),
				strand.Queue("elsewhere"), strand.ResultTTL(time.Hour), strand.Option(opt.Trace("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01")),
				strand.Caller("me"), strand.Encoding("json"), strand.MaxAttempts(3), strand.Timeout(time.Minute))
			if err != nil {
				t.Fatalf("ignored options refused: %v", err)
			}
			var v string
			if err := h.Result(ctx, &v); err != nil || v != "v" || h.ID() != "opt-1" {
				t.Errorf("meta: %q, %v, id %s", v, err, h.ID())
			}
			in, err := h.Info(ctx)
			if err != nil || in.Meta["k"] != "v" || in.Func != "meta" || in.Status != strand.StatusCompleted || in.Worker != rc.name {
				t.Errorf("info: %+v, %v", in, err)
			}

			for name, o := range map[string]strand.Option{
				"At":          strand.At(time.Now().Add(time.Hour)),
				"After":       strand.After(time.Minute),
				"Unique":      strand.Unique("k", time.Minute),
				"Debounce":    strand.Debounce("k", time.Minute),
				"Key":         strand.Key("k"),
				"Fair":        strand.Fair(),
				"Priority":    strand.Priority("high"),
				"bad ID":      strand.ID("no spaces"),
				"bad Timeout": strand.Timeout(-time.Second),
			} {
				if _, err := r.Submit(ctx, "add", []any{1, 2}, o); !errors.Is(err, strand.ErrBadOption) {
					t.Errorf("%s: got %v, want ErrBadOption", name, err)
				}
			}
			_, err = r.Submit(ctx, "add", []any{1, strand.Timeout(time.Second)})
			if !errors.Is(err, strand.ErrBadOption) || !strings.Contains(err.Error(), "arg 2") {
				t.Errorf("an option among the args: got %v", err)
			}
			if _, err := r.Submit(ctx, "add", []any{1, func() {}}); err == nil || errors.Is(err, strand.ErrBadOption) {
				t.Errorf("an arg that cannot be encoded: got %v", err)
			}
		})
	}
}

// TestProcessCrash: a child that exits, panics on a goroutine or is
// killed fails its task with a readable error; the caller lives on.
func TestProcessCrash(t *testing.T) {
	t.Parallel()
	p := runner.Process(0)
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
		h, err := p.Submit(ctx, c.fn, c.args)
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
	h, err := p.Submit(ctx, "pid", nil)
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
	p := runner.Process(0)
	t.Cleanup(func() { _ = p.Close() })
	ctx := ctxT(t, 30*time.Second)

	h, err := p.Submit(ctx, "deaf", []any{60_000}, strand.Timeout(100*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	if err := h.Result(ctx, nil); !errors.Is(err, strand.ErrTimeout) {
		t.Errorf("deaf with timeout: got %v, want a timeout", err)
	}
	h, err = p.Submit(ctx, "sleep", []any{60_000}, strand.Timeout(100*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	if err := h.Result(ctx, nil); !errors.Is(err, strand.ErrTimeout) || !strings.Contains(err.Error(), "sleep: timed out after 100ms") {
		t.Errorf("sleep with timeout: got %v, want a timeout", err)
	}

	h, err = p.Submit(ctx, "deaf", []any{60_000})
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
// its ctx cancelled; Close waits for both, then refuses calls.
func TestPoolCancel(t *testing.T) {
	t.Parallel()
	p := runner.Pool(functions(), 1)
	ctx := ctxT(t, 30*time.Second)
	running, err := p.Submit(ctx, "sleep", []any{60_000})
	if err != nil {
		t.Fatal(err)
	}
	for st, _ := running.Status(ctx); st != strand.StatusRunning; st, _ = running.Status(ctx) {
		time.Sleep(time.Millisecond)
	}
	pending, err := p.Submit(ctx, "add", []any{1, 2})
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
	if o, _ := pending.Wait(ctx); o.Attempt != 0 || !o.Started.IsZero() {
		t.Errorf("a call cancelled while pending ran: %+v", o)
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := p.Submit(ctx, "add", []any{1, 2}); !errors.Is(err, strand.ErrClosed) {
		t.Errorf("submit after close: got %v", err)
	}
}

// TestInlineCancelledByCtx: an inline call whose ctx ends while it runs
// is cancelled; Wait on a call that outlives ctx returns ctx's error.
func TestInlineCancelledByCtx(t *testing.T) {
	t.Parallel()
	r := runner.Inline(functions())
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	h, err := r.Submit(ctx, "sleep", []any{60_000})
	if err != nil {
		t.Fatal(err)
	}
	if st, _ := h.Status(ctx); !st.Terminal() {
		t.Fatalf("inline call %s after Submit", st)
	}
	p := runner.Pool(functions(), 1)
	defer p.Close()
	h, err = p.Submit(context.Background(), "sleep", []any{200})
	if err != nil {
		t.Fatal(err)
	}
	wctx, wcancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer wcancel()
	if _, err := h.Wait(wctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("wait past ctx: %v", err)
	}
	if err := h.Result(ctxT(t, 30*time.Second), nil); err != nil {
		t.Errorf("the call outlives the ctx of Submit: %v", err)
	}
}

// TestTaskContext: the function sees its task in its ctx on every local
// runner.
func TestTaskContext(t *testing.T) {
	t.Parallel()
	for _, rc := range local() {
		r := rc.make(t)
		ctx := ctxT(t, 30*time.Second)
		h, err := r.Submit(ctx, "task", nil, strand.ID("my-id"))
		if err != nil {
			t.Fatal(err)
		}
		var task strand.Task
		if err := h.Result(ctx, &task); err != nil || task.ID != "my-id" || task.Func != "task" || task.Attempt != 1 {
			t.Errorf("%s: got %+v, %v", rc.name, task, err)
		}
	}
}
