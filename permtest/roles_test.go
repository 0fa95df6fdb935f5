package permtest

import (
	"context"
	"errors"
	"iter"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	ib "github.com/strand-run/strand/internal/broker"
	"github.com/strand-run/strand/internal/link"

	"github.com/nats-io/nats.go"

	strand "github.com/strand-run/strand"
	"github.com/strand-run/strand/broker"
	"github.com/strand-run/strand/inspect"
	"github.com/strand-run/strand/internal/codec"
	"github.com/strand-run/strand/reader"
	"github.com/strand-run/strand/registry"
	"github.com/strand-run/strand/writer"
)

// TestRoles runs a worker and a producer of queue a, each with its least
// privileges (perms.conf), next to an admin: what they must do works, and
// each step outside queue a is refused at once with strand.ErrForbidden.
func TestRoles(t *testing.T) {
	url := startServer(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	admin := connect(t, url, "admin")                     // provisions the streams
	if _, err := link.Core(admin).Flow(ctx); err != nil { // the flow bucket, which producers and workers may not create
		t.Fatal(err)
	}
	if _, err := link.Core(admin).Workers(ctx); err != nil { // and the workers bucket, which a worker may not create
		t.Fatal(err)
	}
	if _, err := link.Core(admin).EnsureQueue(ctx, "b", ib.QueueConfig{}); err != nil {
		t.Fatal(err)
	}
	adminIn, err := inspect.New(admin, inspect.Config{})
	if err != nil {
		t.Fatal(err)
	}
	adminW, err := writer.New(admin, writer.Config{Queue: "b"})
	if err != nil {
		t.Fatal(err)
	}
	defer adminW.Close()
	pendingB, err := adminW.Submit(ctx, "add", []any{1, 2}) // no worker of b: it stays queued
	if err != nil {
		t.Fatal(err)
	}

	// The producer of queue a, with an error handler of its own (chained).
	async := make(chan error, 256)
	producer := connect(t, url, "producer-a", nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) {
		select {
		case async <- err:
		default:
		}
	}))
	w, err := writer.New(producer, writer.Config{Queue: "a"})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()

	// A task cancelled before any worker runs: the worker reads the
	// cancellation when it starts, and skips the task.
	cancelledEarly, err := w.Submit(ctx, "add", []any{1, 1})
	must(t, err)
	must(t, cancelledEarly.Cancel(ctx))

	// The worker of queue a.
	var flaky atomic.Int32
	started := make(chan struct{}, 1)
	stopped := make(chan error, 1)
	reg := registry.New()
	must(t, reg.Register("add", func(a, b int) int { return a + b }))
	must(t, reg.Register("fail", func() error { return errors.New("always") }))
	must(t, reg.Register("count", func(n int) iter.Seq2[int, error] {
		first := flaky.Add(1) == 1
		return func(yield func(int, error) bool) {
			for i := range n {
				if !yield(i, nil) {
					return
				}
				if first {
					yield(0, strand.Retry(errors.New("first attempt fails"), 10*time.Millisecond))
					return
				}
			}
		}
	}))
	must(t, reg.Register("slow", func(ctx context.Context) error {
		strand.Progress(ctx, 1, 10, "started")
		started <- struct{}{}
		<-ctx.Done()
		stopped <- context.Cause(ctx)
		return ctx.Err()
	}))
	worker := connect(t, url, "worker-a")
	r, err := reader.New(worker, reg, reader.Config{Queues: []string{"a"}, WorkerID: "perm-a", RetryBase: 10 * time.Millisecond, HeartbeatEvery: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	runCtx, stopRun := context.WithCancel(ctx)
	ran := make(chan error, 1)
	go func() { ran <- r.Run(runCtx) }()
	defer func() {
		stopRun()
		if err := <-ran; err != nil {
			t.Errorf("worker: %v", err)
		}
	}()

	t.Run("producer and worker of a", func(t *testing.T) {
		if o, err := cancelledEarly.Wait(ctx); err != nil || o.Status != strand.StatusCancelled {
			t.Fatalf("cancelled before the worker started: %v, %v", o, err)
		}
		for { // the worker skips it: b's task is the only one left
			n, err := streamMsgs(ctx, admin, link.Core(admin).Names().TasksStream())
			must(t, err)
			if n == 1 {
				break
			}
			time.Sleep(10 * time.Millisecond)
		}
		if rec, err := link.Core(admin).Read(ctx, link.Core(admin).Names().ResultKey("a", cancelledEarly.ID())); err != nil || rec != nil {
			t.Fatalf("the task cancelled before the worker started ran: %v, %v", rec, err)
		}
		h, err := w.Submit(ctx, "add", []any{2, 3})
		if err != nil {
			t.Fatal(err)
		}
		var sum int
		if err := h.Result(ctx, &sum); err != nil || sum != 5 {
			t.Fatalf("add: %d, %v", sum, err)
		}
		same, err := w.Open(h.ID(), strand.Queue("a"))
		must(t, err)
		if st, err := same.Status(ctx); err != nil || st != strand.StatusCompleted {
			t.Fatalf("status: %s, %v", st, err)
		}
		// A worker holding a task asks whether another worker waits for its
		// queue's tasks (reader/hold.go): its lanes' consumers' info.
		for _, lane := range []string{"", ib.LaneHigh, ib.LaneLow} {
			if _, err := link.Core(worker).Waiting(ctx, "a", lane); err != nil {
				t.Fatalf("a worker of a reading its consumer's waiting requests (lane %q): %v", lane, err)
			}
		}

		// Flow control: a priority lane, a key unique until finished, a debounce.
		for _, opt := range []strand.Option{strand.Priority("high"), strand.Priority("low"),
			strand.Unique("u1", 0), strand.Debounce("d1", time.Second)} {
			h, err := w.Submit(ctx, "add", []any{2, 3}, opt)
			must(t, err)
			if err := h.Result(ctx, &sum); err != nil || sum != 5 {
				t.Fatalf("add with a flow option: %d, %v", sum, err)
			}
		}

		// Items, with a retry that drops the first attempt's.
		h, err = w.Submit(ctx, "count", []any{3}, strand.MaxAttempts(2))
		must(t, err)
		var got []int
		for n, err := range strand.Items[int](ctx, h) {
			must(t, err)
			got = append(got, n)
		}
		// The first attempt's item is read live, then the second's from 0.
		if o, err := h.Wait(ctx); err != nil || o.Status != strand.StatusCompleted || len(got) < 3 || !slices.Equal(got[len(got)-3:], []int{0, 1, 2}) {
			t.Fatalf("count: items %v, outcome %v, %v", got, o, err)
		}

		// Dead letters.
		h, err = w.Submit(ctx, "fail", nil, strand.MaxAttempts(2))
		must(t, err)
		if o, err := h.Wait(ctx); err != nil || o.Status != strand.StatusDead {
			t.Fatalf("fail: %v, %v", o, err)
		}
		dead, err := adminIn.DeadLetters(ctx)
		if err != nil || len(dead) != 1 || dead[0].ID != h.ID() {
			t.Fatalf("dead letters: %v, %v", dead, err)
		}

		// The admin replays it, purges the dead letters and the task.
		res, err := adminIn.Act(ctx, "replay", inspect.Task{ID: h.ID()})
		must(t, err)
		must(t, res[0].Err)
		replayed, err := adminW.Open(res[0].NewID, strand.Queue(res[0].Queue))
		must(t, err)
		if o, err := replayed.Wait(ctx); err != nil || o.Status != strand.StatusDead {
			t.Fatalf("replayed: %v, %v", o, err)
		}
		if n, err := adminIn.PurgeDead(ctx); err != nil || n != 1 {
			t.Fatalf("purge dead letters: %d, %v", n, err)
		}
		rs, err := adminIn.Act(ctx, "delete", inspect.Task{ID: h.ID()})
		must(t, err)
		must(t, rs[0].Err)

		// Progress, live and read, and the cancellation of a running task.
		h, err = w.Submit(ctx, "slow", nil)
		must(t, err)
		progressed := make(chan struct{})
		watched := make(chan error, 1)
		go func() {
			o, err := h.WatchProgress(ctx, func(strand.Report) {
				select {
				case <-progressed:
				default:
					close(progressed)
				}
			})
			if err == nil && o.Status != strand.StatusCancelled {
				err = errors.New("watched: " + string(o.Status))
			}
			watched <- err
		}()
		<-started
		<-progressed
		if p, err := h.Progress(ctx); err != nil || p == nil || p.Done != 1 {
			t.Fatalf("progress: %v, %v", p, err)
		}
		must(t, h.Cancel(ctx))
		if cause := <-stopped; cause == nil || !strings.Contains(cause.Error(), "cancelled") {
			t.Fatalf("slow stopped by %v", cause)
		}
		if o, err := h.Wait(ctx); err != nil || o.Status != strand.StatusCancelled {
			t.Fatalf("slow: %v, %v", o, err)
		}
		must(t, <-watched)

		// The admin sees the worker and the queues.
		ws, err := adminIn.Workers(ctx)
		if err != nil || len(ws) != 1 || ws[0].ID != "perm-a" {
			t.Fatalf("workers: %v, %v", ws, err)
		}
		qs, err := link.Core(admin).Queues(ctx)
		if err != nil || len(qs) != 2 || qs[0].Queue != "a" || qs[1].Queue != "b" || qs[1].Depth != 1 {
			t.Fatalf("queues: %+v, %v", qs, err)
		}
	})

	// Each refusal must come as strand.ErrForbidden, well before ctx (5 s)
	// could end the call.
	forbidden := func(t *testing.T, what string, call func(ctx context.Context) error) {
		t.Helper()
		ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		start := time.Now()
		err := call(ctx)
		took := time.Since(start)
		if !errors.Is(err, strand.ErrForbidden) {
			t.Fatalf("%s: want strand.ErrForbidden, got %v after %v", what, err, took)
		}
		t.Logf("%s: refused in %v: %v", what, took.Round(time.Microsecond), err)
	}
	bHandle := func() strand.Handle {
		h, err := w.Open(pendingB.ID(), strand.Queue("b"))
		must(t, err)
		return h
	}

	t.Run("producer of a outside a", func(t *testing.T) {
		forbidden(t, "submit to b", func(ctx context.Context) error {
			_, err := w.Submit(ctx, "add", []any{1, 2}, strand.Queue("b"))
			return err
		})
		forbidden(t, "status of b's task", func(ctx context.Context) error {
			_, err := bHandle().Status(ctx)
			return err
		})
		forbidden(t, "progress of b's task", func(ctx context.Context) error {
			_, err := bHandle().Progress(ctx)
			return err
		})
		forbidden(t, "wait for b's task", func(ctx context.Context) error {
			_, err := bHandle().Wait(ctx)
			return err
		})
		forbidden(t, "watch the progress of b's task", func(ctx context.Context) error {
			_, err := bHandle().WatchProgress(ctx, func(strand.Report) {})
			return err
		})
		forbidden(t, "read the items of b's task", func(ctx context.Context) error {
			for _, err := range bHandle().Items(ctx) {
				return err
			}
			return nil
		})
		forbidden(t, "cancel b's task", func(ctx context.Context) error { return bHandle().Cancel(ctx) })
		forbidden(t, "purge b's task", func(ctx context.Context) error {
			in, err := inspect.New(producer, inspect.Config{})
			must(t, err)
			rs, err := in.Act(ctx, "delete", inspect.Task{Queue: "b", ID: pendingB.ID()})
			must(t, err)
			return rs[0].Err
		})
		forbidden(t, "overwrite b's queued task", func(ctx context.Context) error {
			return link.Core(producer).Submit(ctx, &ib.Task{Queue: "b", ID: pendingB.ID(), Func: "add", Format: codec.Msgpack, Data: []byte{0x80}, TTL: time.Hour})[0]
		})
		forbidden(t, "open by id without its queue (a read across queues)", func(ctx context.Context) error {
			h, err := w.Open(pendingB.ID())
			must(t, err)
			_, err = h.Status(ctx)
			return err
		})
		forbidden(t, "submit with an own id to b", func(ctx context.Context) error {
			_, err := w.Submit(ctx, "add", []any{1, 2}, strand.Queue("b"), strand.ID("mine"))
			return err
		})
		for _, subject := range []string{"$KV.STRAND.r.a.x", "$KV.STRAND.s.a.x", "$KV.STRAND.r.b.x"} {
			forbidden(t, "write "+subject, func(ctx context.Context) error {
				return publishRefused(ctx, producer, async, subject)
			})
		}
		if st, err := adminW.Open(pendingB.ID(), strand.Queue("b")); err != nil {
			t.Fatal(err)
		} else if s, err := st.Status(ctx); err != nil || s != strand.StatusPending {
			t.Fatalf("b's task after all that: %s, %v", s, err)
		}
	})

	t.Run("worker of a outside a", func(t *testing.T) {
		forbidden(t, "consume b", func(ctx context.Context) error {
			rb, err := reader.New(worker, reg, reader.Config{Queues: []string{"b"}})
			must(t, err)
			return rb.Run(ctx)
		})
		forbidden(t, "read b's consumer", func(ctx context.Context) error {
			_, err := link.Core(worker).Waiting(ctx, "b", "")
			return err
		})
		forbidden(t, "pull from b's consumer", func(ctx context.Context) error {
			p, err := link.Core(worker).Pull("b", time.Second, false, func(ib.Delivery) {}, func(int) {})
			must(t, err)
			defer p.Stop()
			for {
				if err := p.Request(1); err != nil {
					return err
				}
				select {
				case <-ctx.Done():
					return ctx.Err()
				case <-time.After(time.Millisecond):
				}
			}
		})
		werr := make(chan error, 256)
		worker2 := connect(t, url, "worker-a", nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) {
			select {
			case werr <- err:
			default:
			}
		}))
		// A worker queues its own queue's firings (strand.t.a.*), no other.
		for _, subject := range []string{"$KV.STRAND.r.b.x", "$KV.STRAND.c.a.x", "strand.t.b.x"} {
			forbidden(t, "write "+subject, func(ctx context.Context) error {
				return publishRefused(ctx, worker2, werr, subject)
			})
		}
	})
}

// publishRefused publishes to subject as a JetStream write would and
// returns the refusal the connection's error handler (async) received,
// wrapped as the broker wraps it.
func publishRefused(ctx context.Context, b *broker.Broker, async <-chan error, subject string) error {
	// Drop the refusals of earlier checks first: a full channel would drop this one.
	for drained := false; !drained; {
		select {
		case <-async:
		default:
			drained = true
		}
	}
	if err := b.Conn().PublishRequest(subject, b.Conn().NewInbox(), []byte("x")); err != nil {
		return err
	}
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case err := <-async:
			if strings.Contains(err.Error(), `"`+subject+`"`) {
				return errors.Join(strand.ErrForbidden, err)
			}
		}
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// TestBeforeProvisioning: a producer or a worker may not create the
// streams, so one that connects before the admin has provisioned them is
// refused at once; once they exist it connects with its lookups alone.
func TestBeforeProvisioning(t *testing.T) {
	url := startServer(t)
	for _, user := range []string{"producer-a", "worker-a"} {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		start := time.Now()
		b, err := broker.Connect(ctx, broker.Config{URL: url, User: user, Password: user, InboxPrefix: inbox(user)})
		cancel()
		if err == nil {
			_ = b.Close()
		}
		if !errors.Is(err, strand.ErrForbidden) {
			t.Fatalf("%s before provisioning: want strand.ErrForbidden, got %v after %v", user, err, time.Since(start))
		}
		t.Logf("%s before provisioning: refused in %v: %v", user, time.Since(start).Round(time.Microsecond), err)
	}
	connect(t, url, "admin")
	connect(t, url, "producer-a")
	connect(t, url, "worker-a")
}

func streamMsgs(ctx context.Context, b *broker.Broker, stream string) (uint64, error) {
	st, err := link.Core(b).JetStream().Stream(ctx, stream)
	if err != nil {
		return 0, err
	}
	info, err := st.Info(ctx)
	if err != nil {
		return 0, err
	}
	return info.State.Msgs, nil
}
