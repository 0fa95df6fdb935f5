package reader_test

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	strand "github.com/strand-run/strand"

	ib "github.com/strand-run/strand/internal/broker"
	"github.com/strand-run/strand/internal/codec"
	"github.com/strand-run/strand/internal/link"
	"github.com/strand-run/strand/reader"
	"github.com/strand-run/strand/writer"
)

// What the server holds follows live work: a task that has run leaves
// nothing in its queue, and its outcome nothing once the result TTL passed.
// Then its status reads unknown, and a cancel is refused and changes nothing.
func TestNothingLeftAfterResultTTL(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	register(t, e)
	e.worker(reader.Config{})
	ctx := ctxT(t, 30*time.Second)
	hs, errs := e.w.SubmitBatch(ctx, []writer.Call{
		{Func: "add", Args: []any{1, 2}, Opts: []strand.Option{strand.ResultTTL(time.Second)}},
		{Func: "add", Args: []any{3, 4}, Opts: []strand.Option{strand.ResultTTL(time.Second), strand.ID("mine")}},
	})
	for i, err := range errs {
		if err != nil {
			t.Fatal(i, err)
		}
	}
	for _, h := range hs {
		if err := h.Result(ctx, nil); err != nil {
			t.Fatal(err)
		}
	}
	// The ack follows the outcome: give it a moment to land.
	for deadline := time.Now().Add(5 * time.Second); streamMsgs(t, e, link.Core(e.b).Names().TasksStream()) != 0; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%d tasks left in the queue after they ran", streamMsgs(t, e, link.Core(e.b).Names().TasksStream()))
		}
	}
	// The id is taken while the outcome is kept.
	if h, err := e.w.Submit(ctx, "add", []any{3, 4}, strand.ID("mine")); !errors.Is(err, strand.ErrDuplicate) || h == nil || h.ID() != "mine" {
		t.Fatalf("resubmit while the outcome is kept: %v, %v", h, err)
	}
	waitStatus(t, ctx, hs[0], strand.StatusUnknown, 10*time.Second)
	waitStatus(t, ctx, hs[1], strand.StatusUnknown, 10*time.Second)
	for _, h := range hs {
		if err := h.Cancel(ctx); !errors.Is(err, strand.ErrNotFound) {
			t.Fatalf("cancel of a task whose outcome expired: %v", err)
		}
		if st, _ := h.Status(ctx); st != strand.StatusUnknown {
			t.Fatalf("after a refused cancel: %s", st)
		}
		if rec, err := link.Core(e.b).Read(ctx, link.Core(e.b).Names().CancelKey("default", h.ID())); err != nil || rec != nil {
			t.Fatalf("a refused cancel wrote %v (%v)", rec, err)
		}
	}
	// The id is free again, and a new task runs under it.
	h, err := e.w.Submit(ctx, "add", []any{5, 5}, strand.ID("mine"))
	if err != nil {
		t.Fatal(err)
	}
	var sum int
	if err := h.Result(ctx, &sum); err != nil || sum != 10 {
		t.Fatalf("the id's second task: %d, %v", sum, err)
	}
	if n := streamMsgs(t, e, link.Core(e.b).Names().Stream()); n > 3 {
		t.Fatalf("%d records in the bucket, want at most the second task's", n)
	}
}

// Acks that come out of order (a long task holds the consumer's ack floor)
// do not make a finished task whose outcome expired read pending.
func TestOutOfOrderAcksNeverReadPending(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	register(t, e)
	release := registerHold(e)
	e.worker(reader.Config{Concurrency: 2})
	ctx := ctxT(t, 30*time.Second)
	long, err := e.w.Submit(ctx, "hold", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer close(release)
	waitStatus(t, ctx, long, strand.StatusRunning, 10*time.Second)
	short, err := e.w.Submit(ctx, "add", []any{1, 1}, strand.ResultTTL(time.Second))
	if err != nil {
		t.Fatal(err)
	}
	if err := short.Result(ctx, nil); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		st, err := short.Status(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if st == strand.StatusUnknown {
			break
		}
		if st != strand.StatusCompleted || time.Now().After(deadline) {
			t.Fatalf("a finished task reads %s", st)
		}
	}
	if st, _ := long.Status(ctx); st != strand.StatusRunning {
		t.Fatalf("the long task reads %s", st)
	}
}

// A cancel racing a task's completion has one answer, which never changes:
// cancelled (and Cancel said yes) or the task's own outcome (and Cancel said
// it was finished). A completed task never reads cancelled.
func TestCancelRacingCompletion(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	var runs atomic.Int64
	e.reg.MustRegister("quick", func() int { runs.Add(1); return 1 })
	e.worker(reader.Config{Concurrency: 4})
	ctx := ctxT(t, 60*time.Second)
	const n = 200
	calls := make([]writer.Call, n)
	for i := range calls {
		calls[i] = writer.Call{Func: "quick"}
	}
	hs, errs := e.w.SubmitBatch(ctx, calls)
	cancelErrs := make([]error, n)
	var wg sync.WaitGroup
	for i, h := range hs {
		if errs[i] != nil {
			t.Fatal(errs[i])
		}
		wg.Go(func() { cancelErrs[i] = h.Cancel(ctx) })
	}
	wg.Wait()
	var cancelled, finished int
	for i, h := range hs {
		o, err := h.Wait(ctx)
		if err != nil {
			t.Fatal(err)
		}
		switch {
		case cancelErrs[i] == nil:
			cancelled++
			if o.Status != strand.StatusCancelled {
				t.Errorf("task %d: cancel succeeded, outcome %s", i, o.Status)
			}
		case errors.Is(cancelErrs[i], strand.ErrFinished):
			finished++
			if o.Status != strand.StatusCompleted {
				t.Errorf("task %d: cancel refused as finished, outcome %s", i, o.Status)
			}
		default:
			t.Fatalf("task %d: cancel: %v", i, cancelErrs[i])
		}
	}
	time.Sleep(200 * time.Millisecond) // any late write of a losing worker lands
	for i, h := range hs {
		info, err := h.Info(ctx)
		if err != nil {
			t.Fatal(err)
		}
		want := strand.StatusCompleted
		if cancelErrs[i] == nil {
			want = strand.StatusCancelled
		}
		if info.Status != want {
			t.Errorf("task %d reads %s later, want %s", i, info.Status, want)
		}
	}
	t.Logf("%d cancelled, %d finished first, %d handler runs", cancelled, finished, runs.Load())
	for deadline := time.Now().Add(5 * time.Second); streamMsgs(t, e, link.Core(e.b).Names().TasksStream()) != 0; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%d tasks left in the queue", streamMsgs(t, e, link.Core(e.b).Names().TasksStream()))
		}
	}
}

// A worker that crashed between writing the outcome and acking leaves the
// task to be redelivered: the next worker finds the outcome, acks, and does
// not run the handler again; the status stays what the outcome says.
func TestRedeliveryAfterOutcomeBeforeAck(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	var runs atomic.Int64
	e.reg.MustRegister("once", func() int { runs.Add(1); return 7 })
	ctx := ctxT(t, 30*time.Second)
	h, err := e.w.Submit(ctx, "once", nil)
	if err != nil {
		t.Fatal(err)
	}
	// The "crashed" worker: it takes the task, records its outcome, never acks.
	cons, err := link.Core(e.b).EnsureQueue(ctx, "default", ib.QueueConfig{AckWait: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	batch, err := cons.Fetch(1, jetstream.FetchMaxWait(5*time.Second), jetstream.FetchPriorityGroup("strand"))
	if err != nil {
		t.Fatal(err)
	}
	got := 0
	for range batch.Messages() {
		got++
	}
	if got != 1 {
		t.Fatalf("fetched %d tasks", got)
	}
	data, _ := codec.Msgpack.Marshal(&codec.Outcome{Status: strand.StatusCompleted, Result: []byte{7}, Attempt: 1, Worker: "crashed"})
	w, err := link.Core(e.b).WriteOutcome("default", h.ID(), data, codec.Msgpack, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	select {
	case <-w.Ok():
	case err := <-w.Err():
		t.Fatal(err)
	}
	if st, _ := h.Status(ctx); st != strand.StatusCompleted {
		t.Fatalf("status %s between outcome and ack", st)
	}
	e.worker(reader.Config{AckWait: time.Second})
	for deadline := time.Now().Add(15 * time.Second); streamMsgs(t, e, link.Core(e.b).Names().TasksStream()) != 0; time.Sleep(100 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the redelivered task was not answered")
		}
	}
	var v int
	if err := h.Result(ctx, &v); err != nil || v != 7 {
		t.Fatalf("result %d, %v", v, err)
	}
	if n := runs.Load(); n != 0 {
		t.Fatalf("the handler ran %d times after its outcome was written", n)
	}
}

// Every TTL that arrives on the wire is bounded: a result TTL under the
// server's minimum runs the task once and keeps its outcome, instead of an
// outcome write the server refuses and a handler run again and again.
func TestWireTTLBounds(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	var runs atomic.Int64
	e.reg.MustRegister("count", func() int64 { return runs.Add(1) })
	e.worker(reader.Config{})
	ctx := ctxT(t, 30*time.Second)
	for id, ms := range map[string]int64{"ttl-1": 1, "ttl-999": 999, "ttl-huge": 1 << 62} {
		runs.Store(0)
		env := &codec.Envelope{V: codec.Version, ID: id, Func: "count", ResultTTLMS: ms}
		data, err := codec.EncodeEnvelope(codec.Msgpack, env)
		if err != nil {
			t.Fatal(err)
		}
		msg := nats.NewMsg(link.Core(e.b).Names().TaskSubject("default", env.ID))
		msg.Data = data
		js, _ := jetstream.New(e.b.Conn())
		if _, err := js.PublishMsg(ctx, msg); err != nil {
			t.Fatal(err)
		}
		h, _ := e.w.Open(env.ID, strand.Queue("default"))
		if err := h.Result(ctx, nil); err != nil {
			t.Fatalf("result_ttl_ms %d: %v", ms, err)
		}
		time.Sleep(100 * time.Millisecond)
		if n := runs.Load(); n != 1 {
			t.Fatalf("result_ttl_ms %d: the handler ran %d times", ms, n)
		}
	}
	// Go producers are told at once.
	if _, err := e.w.Submit(ctx, "count", nil, strand.ResultTTL(500*time.Millisecond)); !errors.Is(err, strand.ErrBadOption) {
		t.Fatalf("result TTL 500ms: %v", err)
	}
	if _, err := writer.New(e.b, writer.Config{TaskTTL: 10 * time.Millisecond}); !errors.Is(err, strand.ErrBadOption) {
		t.Fatalf("task TTL 10ms: %v", err)
	}
}

func waitStatus(t *testing.T, ctx context.Context, h strand.Handle, want strand.Status, d time.Duration) {
	t.Helper()
	var st strand.Status
	for deadline := time.Now().Add(d); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		var err error
		if st, err = h.Status(ctx); err != nil {
			t.Fatal(err)
		}
		if st == want {
			return
		}
	}
	t.Fatalf("task %s: status %s, want %s", h.ID(), st, want)
}

func streamMsgs(t *testing.T, e *env, name string) uint64 {
	t.Helper()
	st, err := link.Core(e.b).JetStream().Stream(context.Background(), name)
	if err != nil {
		t.Fatal(err)
	}
	info, err := st.Info(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return info.State.Msgs
}

// A worker's prefetch never takes a task that a free slot of another
// worker is waiting for: prefetch requests rank below every request for a
// free slot, so a busy worker with prefetch does not sit on tasks while an
// idle worker could run them (the prefetch trap).
func TestPrefetchNeverTakesFromIdle(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	release := registerHold(e)
	registerWho(e)
	ctx := ctxT(t, 30*time.Second)
	e.worker(reader.Config{WorkerID: "busy", Concurrency: 1, Prefetch: 4})
	long, err := e.w.Submit(ctx, "hold", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer close(release)
	waitStatus(t, ctx, long, strand.StatusRunning, 10*time.Second)
	e.worker(reader.Config{WorkerID: "idle", Concurrency: 1})
	for i := range 5 {
		// The property holds for a free slot that waits: wait until the
		// idle worker's request is in beside the busy one's prefetch.
		waitPulls(t, ctx, e, 2)
		h, err := e.w.Submit(ctx, "who", nil)
		if err != nil {
			t.Fatal(err)
		}
		var worker string
		if err := h.Result(ctx, &worker); err != nil {
			t.Fatal(err)
		}
		if worker != "idle" {
			t.Fatalf("task %d ran on %q: the busy worker's prefetch took it from the idle one", i, worker)
		}
	}
}

// A task a busy worker holds (its prefetch took it while no worker had a
// free slot) goes to a worker that becomes idle meanwhile,
// instead of waiting for the long task to end: the trap that prefetch
// set when held tasks stayed where they were delivered.
func TestHeldTaskGoesToAnIdleWorker(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	release := registerHold(e)
	registerWho(e)
	ctx := ctxT(t, 30*time.Second)
	e.worker(reader.Config{WorkerID: "busy", Concurrency: 1, Prefetch: 1}) // as a larger pool's default
	long, err := e.w.Submit(ctx, "hold", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer close(release)
	waitStatus(t, ctx, long, strand.StatusRunning, 10*time.Second)
	h, err := e.w.Submit(ctx, "who", nil)
	if err != nil {
		t.Fatal(err)
	}
	waitAckPending(t, ctx, e, 2) // the busy worker holds it
	e.worker(reader.Config{WorkerID: "idle", Concurrency: 1, Prefetch: -1})
	var worker string
	if err := h.Result(ctx, &worker); err != nil {
		t.Fatal(err)
	}
	if worker != "idle" {
		t.Fatalf("the held task ran on %q, want the idle worker", worker)
	}
	if st, err := long.Status(ctx); err != nil || st != strand.StatusRunning {
		t.Fatalf("the long task is %s (%v): the held task waited for it", st, err)
	}
}

// registerWho registers "who", a handler that returns the id of the
// worker that runs it.
func registerWho(e *env) {
	e.reg.MustRegister("who", func(ctx context.Context) string {
		tk, _ := strand.TaskFrom(ctx)
		return tk.Worker
	})
}

// registerHold registers "hold", a handler that runs until the returned
// channel is closed (or its ctx ends).
func registerHold(e *env) chan struct{} {
	release := make(chan struct{})
	e.reg.MustRegister("hold", func(ctx context.Context) error {
		select {
		case <-release:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	})
	return release
}

// A stopping worker starts the task it holds within its grace, as it
// lets the running one finish, instead of handing it back: no attempt is
// burnt on a deploy and nothing waits for another worker.
func TestStoppingWorkerRunsWhatItHolds(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	release := make(chan struct{})
	e.reg.MustRegister("wait", func(ctx context.Context) error {
		select {
		case <-release:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	})
	e.reg.MustRegister("quick", func() int { return 1 })
	ctx := ctxT(t, 30*time.Second)
	stop := e.worker(reader.Config{WorkerID: "leaving", Concurrency: 1, Prefetch: 1, ShutdownTimeout: 20 * time.Second})
	long, err := e.w.Submit(ctx, "wait", nil)
	if err != nil {
		t.Fatal(err)
	}
	waitStatus(t, ctx, long, strand.StatusRunning, 10*time.Second)
	held, err := e.w.Submit(ctx, "quick", nil)
	if err != nil {
		t.Fatal(err)
	}
	waitAckPending(t, ctx, e, 2)
	stopped := make(chan struct{})
	go func() { stop(); close(stopped) }()
	time.Sleep(300 * time.Millisecond) // the worker is stopping: it asks for nothing more
	close(release)
	<-stopped
	for _, h := range []strand.Handle{long, held} {
		o, err := h.Wait(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if o.Status != strand.StatusCompleted || o.Attempt != 1 || o.Worker != "leaving" {
			t.Errorf("task %s: %s, attempt %d, on %q; want completed at attempt 1 on the stopping worker", h.ID(), o.Status, o.Attempt, o.Worker)
		}
	}
}

// waitPulls waits until the default queue's consumer has n pull requests
// waiting.
func waitPulls(t *testing.T, ctx context.Context, e *env, n int) {
	t.Helper()
	waitConsumer(t, ctx, e, "pull requests waiting", n, func(ci *jetstream.ConsumerInfo) int { return ci.NumWaiting })
}

// waitAckPending waits until the default queue's consumer has delivered n
// tasks that are not answered yet.
func waitAckPending(t *testing.T, ctx context.Context, e *env, n int) {
	t.Helper()
	waitConsumer(t, ctx, e, "tasks delivered and unanswered", n, func(ci *jetstream.ConsumerInfo) int { return ci.NumAckPending })
}

// waitConsumer waits until count of the default queue's consumer info is n
// or more.
func waitConsumer(t *testing.T, ctx context.Context, e *env, what string, n int, count func(*jetstream.ConsumerInfo) int) {
	t.Helper()
	cons, err := link.Core(e.b).JetStream().Consumer(ctx, link.Core(e.b).Names().TasksStream(), link.Core(e.b).Names().Consumer("default"))
	if err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		info, err := cons.Info(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if count(info) >= n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d %s, want %d", count(info), what, n)
		}
	}
}
