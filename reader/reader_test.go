package reader_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/strand-run/strand/internal/link"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/goleak"

	strand "github.com/strand-run/strand"
	"github.com/strand-run/strand/broker"
	"github.com/strand-run/strand/internal/broker/brokertest"
	"github.com/strand-run/strand/internal/codec"
	"github.com/strand-run/strand/reader"
	"github.com/strand-run/strand/registry"
	"github.com/strand-run/strand/runner"
	"github.com/strand-run/strand/server"
	"github.com/strand-run/strand/writer"
)

func TestMain(m *testing.M) {
	runner.ServeChild(childFunctions()) // this binary is also the child of process queues
	goleak.VerifyTestMain(m,
		// The embedded server and nats.go keep a few process-wide goroutines.
		goleak.IgnoreTopFunction("github.com/nats-io/nats-server/v2/server.(*Server).startGoRoutine.func1"),
		goleak.IgnoreAnyFunction("github.com/nats-io/nats-server/v2/server.(*client).readLoop"),
		goleak.IgnoreAnyFunction("github.com/nats-io/nats-server/v2/server.timerWheel"),
		goleak.IgnoreTopFunction("time.Sleep"),
	)
}

type scaleOpts struct {
	Scale int    `msgpack:"scale"`
	Label string `json:"label"`
}

func register(t *testing.T, e *env) {
	t.Helper()
	e.reg.MustRegister("add", func(a, b int) int { return a + b })
	e.reg.MustRegister("echo", func(x any) any { return x })
	e.reg.MustRegister("scale", func(ctx context.Context, x float64, o scaleOpts) (string, error) {
		if _, ok := strand.TaskFrom(ctx); !ok {
			return "", errors.New("no task in ctx")
		}
		return fmt.Sprintf("%s=%g", o.Label, x*float64(o.Scale)), nil
	})
	e.reg.MustRegister("fail", func(msg string) error { return errors.New(msg) })
	e.reg.MustRegister("boom", func() int { panic("kaboom") })
	e.reg.MustRegister("sleep", func(ctx context.Context, ms int) error {
		select {
		case <-time.After(time.Duration(ms) * time.Millisecond):
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	})
	e.reg.MustRegister("whoami", func(ctx context.Context) (strand.Task, error) {
		tk, _ := strand.TaskFrom(ctx)
		return tk, nil
	})
}

func TestAPI(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	register(t, e)
	e.worker(reader.Config{Concurrency: 4})

	for _, tc := range []struct {
		name    string
		fn      string
		args    []any
		opts    []strand.Option
		want    any
		wantErr string
		kind    error
	}{
		{"positional", "add", []any{2, 3}, nil, int64(5), "", nil},
		{"any", "echo", []any{map[string]any{"k": []any{"v", int8(1)}}}, nil, map[string]any{"k": []any{"v", int8(1)}}, "", nil},
		{"kwargs struct and ctx", "scale", []any{1.5}, []strand.Option{strand.Kwargs(map[string]any{"scale": 2, "label": "x"})}, "x=3", "", nil},
		{"kwargs json", "scale", []any{1.5}, []strand.Option{strand.Kwargs(map[string]any{"scale": 2, "label": "y"}), strand.Encoding("json")}, "y=3", "", nil},
		{"json positional", "add", []any{40, 2}, []strand.Option{strand.Encoding("json")}, int64(42), "", nil},
		{"error result", "fail", []any{"nope"}, nil, nil, "fail: nope", nil},
		{"bad type", "add", []any{"x", 3}, nil, nil, `add: arg 1: want int, got string "x"`, strand.ErrBadArgs},
		{"bad type json", "add", []any{1, "x"}, []strand.Option{strand.Encoding("json")}, nil, `add: arg 2: want int, got string "x"`, strand.ErrBadArgs},
		{"float for int", "add", []any{1.5, 2}, nil, nil, `add: arg 1: want int, got float 1.5`, strand.ErrBadArgs},
		{"arity", "add", []any{1}, nil, nil, "add: want 2 args, got 1", strand.ErrBadArgs},
		{"unknown kwarg", "scale", []any{1.0}, []strand.Option{strand.Kwargs(map[string]any{"scal": 2})}, nil, `scale: kwargs: unknown field "scal"`, strand.ErrBadArgs},
		{"kwargs to a func without", "add", []any{1, 2}, []strand.Option{strand.Kwargs(map[string]any{"x": 1})}, nil, "add: takes no kwargs, got map of 1", strand.ErrBadArgs},
		{"unknown func", "no_such_func", []any{1}, nil, nil, "no_such_func: unknown function (this worker runs: add, boom, echo, fail, scale, sleep, whoami)", strand.ErrUnknownFunc},
		{"panic", "boom", nil, nil, nil, "boom: panic: kaboom", strand.ErrPanic},
		{"timeout", "sleep", []any{5000}, []strand.Option{strand.Timeout(200 * time.Millisecond)}, nil, "sleep: timed out after 200ms", strand.ErrTimeout},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ctx := ctxT(t, 20*time.Second)
			h, err := e.w.Submit(ctx, tc.fn, tc.args, tc.opts...)
			if err != nil {
				t.Fatal(err)
			}
			var got any
			err = h.Result(ctx, &got)
			if tc.wantErr != "" {
				if err == nil || err.Error() != tc.wantErr {
					t.Fatalf("error %v, want %q", err, tc.wantErr)
				}
				if tc.kind != nil && !errors.Is(err, tc.kind) {
					t.Fatalf("error %v is not %v", err, tc.kind)
				}
				st, _ := h.Status(ctx)
				if st != strand.StatusFailed {
					t.Fatalf("status %s", st)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if fmt.Sprint(got) != fmt.Sprint(tc.want) {
				t.Fatalf("result %#v, want %#v", got, tc.want)
			}
		})
	}
}

func TestTaskContext(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	register(t, e)
	e.worker(reader.Config{WorkerID: "w-1"})
	ctx := ctxT(t, 10*time.Second)
	h, err := e.w.Submit(ctx, "whoami", nil, strand.ID("who-1"), strand.Meta(map[string]string{"user": "ann"}))
	if err != nil {
		t.Fatal(err)
	}
	var got strand.Task
	if err := h.Result(ctx, &got); err != nil {
		t.Fatal(err)
	}
	if got.ID != "who-1" || got.Func != "whoami" || got.Queue != "default" || got.Attempt != 1 || got.Worker != "w-1" || got.Meta["user"] != "ann" {
		t.Fatalf("task %+v", got)
	}
	info, err := h.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if info.Status != strand.StatusCompleted || info.Func != "whoami" || info.Worker != "w-1" || info.Attempt != 1 ||
		info.Meta["user"] != "ann" || info.Started.IsZero() || info.Finished.Before(info.Started) || info.Created.IsZero() {
		t.Fatalf("info %+v", info)
	}
}

// A producer in another language publishes the documented bytes with plain
// NATS; a worker runs it and the outcome is in the same format.
func TestForeignProducer(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	register(t, e)
	e.worker(reader.Config{})
	ctx := ctxT(t, 10*time.Second)
	js, _ := jetstream.New(e.b.Conn())
	for _, tc := range []struct {
		id, ct string
		data   []byte
	}{
		{"json-1", "application/json", []byte(`{"v":1,"id":"json-1","func":"add","args":[20,22],"queue":"default","unknown_key":true}`)},
		// msgpack {"v":1,"id":"mp-1","func":"add","args":[1,2]}
		{"mp-1", "", []byte("\x84\xa1v\x01\xa2id\xa4mp-1\xa4func\xa3add\xa4args\x92\x01\x02")},
	} {
		sub, err := e.b.Conn().SubscribeSync("strand.evt.r.default." + tc.id)
		if err != nil {
			t.Fatal(err)
		}
		msg := nats.NewMsg("strand.t.default." + tc.id)
		msg.Data = tc.data
		msg.Header.Set("Nats-Expected-Last-Subject-Sequence", "0")
		if tc.ct != "" {
			msg.Header.Set("Content-Type", tc.ct)
		}
		if _, err := js.PublishMsg(ctx, msg); err != nil {
			t.Fatal(err)
		}
		ev, err := sub.NextMsg(5 * time.Second)
		if err != nil {
			t.Fatal(err)
		}
		_ = sub.Unsubscribe()
		o, f, err := codec.DecodeOutcome(ev.Data)
		if err != nil {
			t.Fatal(err)
		}
		if (tc.ct != "") != (f == codec.JSON) {
			t.Fatalf("%s: outcome format %s", tc.id, f)
		}
		v, _ := codec.ToAny(f, o.Result)
		if o.Status != strand.StatusCompleted || (fmt.Sprint(v) != "42" && fmt.Sprint(v) != "3") {
			t.Fatalf("%s: outcome %+v result %v", tc.id, o, v)
		}
	}
}

func TestDuplicateID(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	register(t, e)
	ctx := ctxT(t, 10*time.Second)
	if _, err := e.w.Submit(ctx, "add", []any{1, 2}, strand.ID("order-7")); err != nil {
		t.Fatal(err)
	}
	_, err := e.w.Submit(ctx, "add", []any{1, 2}, strand.ID("order-7"))
	if !errors.Is(err, strand.ErrDuplicate) {
		t.Fatalf("second submit: %v", err)
	}
	// Still taken after the task ran: the id is an idempotency key while its result lives.
	e.worker(reader.Config{})
	h, _ := e.w.Open("order-7")
	if err := h.Result(ctx, nil); err != nil {
		t.Fatal(err)
	}
	_, err = e.w.Submit(ctx, "add", []any{1, 2}, strand.ID("order-7"))
	if !errors.Is(err, strand.ErrDuplicate) {
		t.Fatalf("submit after completion: %v", err)
	}
}

func TestCancelBeforeStart(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	var ran atomic.Int32
	e.reg.MustRegister("mark", func() { ran.Add(1) })
	ctx := ctxT(t, 10*time.Second)
	h, err := e.w.Submit(ctx, "mark", nil)
	if err != nil {
		t.Fatal(err)
	}
	if st, _ := h.Status(ctx); st != strand.StatusPending {
		t.Fatalf("status %s", st)
	}
	// Another process cancels it knowing only the id.
	other, _ := e.w.Open(h.ID())
	if err := other.Cancel(ctx); err != nil {
		t.Fatal(err)
	}
	if err := other.Cancel(ctx); !errors.Is(err, strand.ErrFinished) {
		t.Fatalf("second cancel: %v", err)
	}
	after, err := e.w.Submit(ctx, "mark", nil)
	if err != nil {
		t.Fatal(err)
	}
	e.worker(reader.Config{}) // a worker started later never runs it
	if err := after.Result(ctx, nil); err != nil {
		t.Fatal(err)
	}
	if err := h.Result(ctx, nil); !errors.Is(err, strand.ErrCancelled) {
		t.Fatalf("result of cancelled: %v", err)
	}
	if n := ran.Load(); n != 1 {
		t.Fatalf("ran %d times, want 1 (only the task submitted after)", n)
	}
	nf, _ := e.w.Open("never-submitted")
	if err := nf.Cancel(ctx); !errors.Is(err, strand.ErrNotFound) {
		t.Fatalf("cancel unknown: %v", err)
	}
}

func TestCancelRunning(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	register(t, e)
	e.worker(reader.Config{Concurrency: 1})
	ctx := ctxT(t, 20*time.Second)
	h, err := e.w.Submit(ctx, "sleep", []any{10000})
	if err != nil {
		t.Fatal(err)
	}
	for {
		st, _ := h.Status(ctx)
		if st == strand.StatusRunning {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err := h.Cancel(ctx); err != nil {
		t.Fatal(err)
	}
	if err := h.Result(ctx, nil); !errors.Is(err, strand.ErrCancelled) {
		t.Fatalf("result %v", err)
	}
	// The slot is free: the single-slot worker runs the next task.
	next, _ := e.w.Submit(ctx, "add", []any{1, 1})
	wctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := next.Result(wctx, nil); err != nil {
		t.Fatalf("next task after cancel: %v", err)
	}
}

func TestResultTTL(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	register(t, e)
	ctx := ctxT(t, 30*time.Second)
	// Queued longer than the result TTL with no worker: still runs.
	h, err := e.w.Submit(ctx, "add", []any{1, 2}, strand.ResultTTL(time.Second))
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(1500 * time.Millisecond)
	e.worker(reader.Config{})
	var n int
	if err := h.Result(ctx, &n); err != nil || n != 3 {
		t.Fatalf("result %d %v", n, err)
	}
	// Then the outcome expires.
	deadline := time.Now().Add(10 * time.Second)
	for {
		st, err := h.Status(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if st == strand.StatusUnknown {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("status still %s after the TTL", st)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func TestOversizedPayload(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	register(t, e)
	e.worker(reader.Config{})
	ctx := ctxT(t, 10*time.Second)
	big := strings.Repeat("x", int(link.Core(e.b).MaxPayload()))
	if _, err := e.w.Submit(ctx, "echo", []any{big}); !errors.Is(err, strand.ErrTooLarge) {
		t.Fatalf("submit: %v", err)
	}
	// A result too large to store fails the task instead of looping.
	e.reg.MustRegister("grow", func(n int) string { return strings.Repeat("y", n) })
	h, err := e.w.Submit(ctx, "grow", []any{int(link.Core(e.b).MaxPayload())})
	if err != nil {
		t.Fatal(err)
	}
	if err := h.Result(ctx, nil); !errors.Is(err, strand.ErrTooLarge) {
		t.Fatalf("result: %v", err)
	}
}

func TestMalformedTasks(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	register(t, e)
	e.worker(reader.Config{})
	ctx := ctxT(t, 10*time.Second)
	js, _ := jetstream.New(e.b.Conn())
	for _, tc := range []struct {
		id, ct string
		data   []byte
		want   string
	}{
		{"garbage", "", []byte{0xc1, 0xff, 0x00}, "malformed"},
		{"empty", "", nil, "empty"},
		{"badjson", "application/json", []byte(`{"v":1,`), "malformed"},
		{"noversion", "application/json", []byte(`{"id":"noversion","func":"add"}`), "missing v"},
		{"future", "application/json", []byte(`{"v":9,"id":"future","func":"add"}`), "version 9"},
		{"otherid", "application/json", []byte(`{"v":1,"id":"x","func":"add"}`), "does not match"},
		{"badct", "text/plain", []byte(`hello`), "content type"},
	} {
		h, _ := e.w.Open(tc.id)
		msg := nats.NewMsg("strand.t.default." + tc.id)
		msg.Data = tc.data
		if tc.ct != "" {
			msg.Header.Set("Content-Type", tc.ct)
		}
		if _, err := js.PublishMsg(ctx, msg); err != nil {
			t.Fatal(err)
		}
		err := h.Result(ctx, nil)
		if !errors.Is(err, strand.ErrMalformed) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v", tc.id, err)
		}
	}
	// The worker lives on.
	h, _ := e.w.Submit(ctx, "add", []any{1, 1})
	if err := h.Result(ctx, nil); err != nil {
		t.Fatal(err)
	}
}

func TestManyWaitersOneSubscription(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	register(t, e)
	ctx := ctxT(t, 30*time.Second)
	const n = 500
	hs := make([]strand.Handle, n)
	for i := range hs {
		h, err := e.w.Submit(ctx, "add", []any{i, 1})
		if err != nil {
			t.Fatal(err)
		}
		hs[i] = h
	}
	before := e.b.Conn().NumSubscriptions()
	var wg sync.WaitGroup
	errs := make(chan error, 2*n)
	for i, h := range hs {
		for range 2 { // two waiters per task
			wg.Go(func() {
				var got int
				if err := h.Result(ctx, &got); err != nil {
					errs <- err
				} else if got != i+1 {
					errs <- fmt.Errorf("task %d: got %d", i, got)
				}
			})
		}
	}
	time.Sleep(200 * time.Millisecond)
	if subs := e.b.Conn().NumSubscriptions() - before; subs > 1 {
		t.Fatalf("%d subscriptions for %d waiters", subs, 2*n)
	}
	e.worker(reader.Config{Concurrency: 8})
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// Stopping a worker while it runs tasks loses none: running ones finish
// within the shutdown timeout or are handed back, buffered ones are handed
// back, and another worker completes the rest.
func TestShutdownLosesNothing(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	register(t, e)
	ctx := ctxT(t, 60*time.Second)
	const n = 60
	hs := make([]strand.Handle, n)
	for i := range hs {
		ms := 300
		if i%10 == 0 {
			ms = 5000 // longer than the shutdown timeout: handed back
		}
		h, err := e.w.Submit(ctx, "sleep", []any{ms})
		if err != nil {
			t.Fatal(err)
		}
		hs[i] = h
	}
	stop := e.worker(reader.Config{Concurrency: 8, ShutdownTimeout: time.Second, WorkerID: "first"})
	time.Sleep(700 * time.Millisecond)
	stop()
	e.worker(reader.Config{Concurrency: 16, WorkerID: "second"})
	second := 0
	for _, h := range hs {
		if err := h.Result(ctx, nil); err != nil {
			info, _ := h.Info(context.Background())
			t.Fatalf("task %s: %v; info %+v", h.ID(), err, info)
		}
		info, _ := h.Info(ctx)
		if d := info.Finished.Sub(info.Created); d > 15*time.Second {
			t.Errorf("task %s took %v: handed back tasks waited out AckWait", h.ID(), d)
		}
		if info.Worker == "second" {
			second++
		}
	}
	if second == 0 || second == n {
		t.Fatalf("%d of %d tasks ran on the second worker; want some on each", second, n)
	}
}

func TestRegisterRefusesBadSignatures(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	if _, err := reader.New(e.b, e.reg, reader.Config{Queues: []string{"bad.queue"}}); err == nil {
		t.Fatal("queue with a dot accepted")
	}
}

func TestSubmitBatch(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	register(t, e)
	ctx := ctxT(t, 60*time.Second)
	if _, err := e.w.Submit(ctx, "add", []any{0, 0}, strand.ID("taken")); err != nil {
		t.Fatal(err)
	}
	const n = 1000
	calls := make([]writer.Call, n)
	for i := range calls {
		calls[i] = writer.Call{Func: "add", Args: []any{i, 1}}
	}
	calls[10].Opts = []strand.Option{strand.ID("taken")}
	calls[20].Args = []any{strings.Repeat("x", int(link.Core(e.b).MaxPayload()))}
	hs, errs := e.w.SubmitBatch(ctx, calls)
	if !errors.Is(errs[10], strand.ErrDuplicate) || hs[10] == nil || hs[10].ID() != "taken" {
		t.Fatalf("duplicate in batch: %v", errs[10])
	}
	if !errors.Is(errs[20], strand.ErrTooLarge) || hs[20] != nil {
		t.Fatalf("oversized in batch: %v", errs[20])
	}
	e.worker(reader.Config{Concurrency: 8})
	for i, h := range hs {
		if i == 10 || i == 20 {
			continue
		}
		if errs[i] != nil {
			t.Fatalf("call %d: %v", i, errs[i])
		}
		var got int
		if err := h.Result(ctx, &got); err != nil || got != i+1 {
			t.Fatalf("call %d: %d %v", i, got, err)
		}
	}
}

// A handle waiting while the server restarts gets its result: clients
// reconnect by themselves, and an outcome event lost in between is re-read.
func TestServerRestartWhileWaiting(t *testing.T) {
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
	reg := registry.New()
	reg.MustRegister("add", func(a, b int) int { return a + b })
	ctx := ctxT(t, 60*time.Second)
	h, err := w.Submit(ctx, "add", []any{2, 3})
	if err != nil {
		t.Fatal(err)
	}
	srv.Stop()
	srv = brokertest.StartWith(t, server.Config{Addr: addr, DataDir: dir})
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
	if err := h.Result(ctx, &sum); err != nil || sum != 5 {
		t.Fatalf("result %d %v", sum, err)
	}
	// The writer keeps working on its reconnected connection.
	h2, err := w.Submit(ctx, "add", []any{1, 1})
	if err != nil {
		t.Fatal(err)
	}
	if err := h2.Result(ctx, &sum); err != nil || sum != 2 {
		t.Fatalf("after restart: %d %v", sum, err)
	}
}
