package dispatch_test

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	strand "github.com/strand-run/strand"
	"github.com/strand-run/strand/broker"
	"github.com/strand-run/strand/broker/brokertest"
	"github.com/strand-run/strand/dispatch"
	"github.com/strand-run/strand/reader"
	"github.com/strand-run/strand/registry"
	"github.com/strand-run/strand/server"
	"github.com/strand-run/strand/writer"
)

// worker runs a reader for reg on its own connection until the returned
// stop is called (or the test ends).
func worker(t *testing.T, srv *server.Server, reg *registry.Registry, cfg reader.Config) (stop func()) {
	t.Helper()
	b := brokertest.Connect(t, srv, broker.Config{})
	r, err := reader.New(b, reg, cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("Run: %v", err)
				}
			case <-time.After(time.Minute):
				t.Error("Run did not return")
			}
		})
	}
	t.Cleanup(stop)
	return stop
}

func newWriter(t *testing.T, b *broker.Broker) *writer.Writer {
	t.Helper()
	w, err := writer.New(b, writer.Config{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = w.Close() })
	return w
}

func ctxT(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

func TestDispatchThousand(t *testing.T) {
	t.Parallel()
	srv, b := brokertest.New(t)
	reg := registry.New()
	reg.MustRegister("double", func(n int) (int, error) {
		if n%100 == 7 {
			return 0, strand.Permanent(errOdd)
		}
		return 2 * n, nil
	})
	worker(t, srv, reg, reader.Config{Concurrency: 8})
	ctx := ctxT(t, 90*time.Second)

	const n = 1000
	calls := make([]writer.Call, n)
	for i := range calls {
		calls[i] = writer.Call{Func: "double", Args: []any{i}}
	}
	g, err := dispatch.New(newWriter(t, b)).Submit(ctx, calls)
	if err != nil {
		t.Fatal(err)
	}
	if err := g.Wait(ctx); err != nil {
		t.Fatal(err)
	}
	if g.Pending() != 0 || g.Completed() != n-10 || g.Failed() != 10 {
		t.Fatalf("pending %d completed %d failed %d, want 0 %d 10", g.Pending(), g.Completed(), g.Failed(), n-10)
	}
	ids, sts, errs, rs := g.IDs(), g.Statuses(), g.Errors(), g.Results()
	seen := make(map[string]bool)
	for i := range n {
		if ids[i] == "" || seen[ids[i]] {
			t.Fatalf("task %d: id %q empty or repeated", i, ids[i])
		}
		seen[ids[i]] = true
		if i%100 == 7 {
			if sts[i] != strand.StatusFailed || errs[i] == nil || rs[i] != nil {
				t.Fatalf("task %d: %s %v %v, want failed with an error", i, sts[i], errs[i], rs[i])
			}
			continue
		}
		var got int
		if err := g.Result(i, &got); err != nil || got != 2*i || sts[i] != strand.StatusCompleted || errs[i] != nil {
			t.Fatalf("task %d: %d %v %s %v, want %d completed", i, got, err, sts[i], errs[i], 2*i)
		}
		if rs[i] == nil {
			t.Fatalf("task %d: Results has nil", i)
		}
	}
}

type stringErr string

func (e stringErr) Error() string { return string(e) }

const errOdd = stringErr("seven")

func TestWaitUntilThenCancelRest(t *testing.T) {
	t.Parallel()
	srv, b := brokertest.New(t)
	reg := registry.New()
	var cancelledAll atomic.Bool
	var startsAfter atomic.Int64
	reg.MustRegister("step", func(ctx context.Context, i int) (int, error) {
		if cancelledAll.Load() && i >= 0 {
			startsAfter.Add(1)
		}
		if i < 3 {
			return i, nil
		}
		<-ctx.Done() // the later steps hold on until they are stopped
		return 0, ctx.Err()
	})
	stop := worker(t, srv, reg, reader.Config{Concurrency: 1, ShutdownTimeout: 100 * time.Millisecond})
	ctx := ctxT(t, 60*time.Second)

	const n = 10
	calls := make([]writer.Call, n)
	for i := range calls {
		calls[i] = writer.Call{Func: "step", Args: []any{i}}
	}
	w := newWriter(t, b)
	g, err := dispatch.New(w).Submit(ctx, calls)
	if err != nil {
		t.Fatal(err)
	}
	if err := g.WaitUntil(ctx, func(g *dispatch.Group) bool { return g.Completed() >= 3 }); err != nil {
		t.Fatal(err)
	}
	if g.Completed() != 3 || g.Pending() != n-3 {
		t.Fatalf("completed %d pending %d, want 3 and %d", g.Completed(), g.Pending(), n-3)
	}
	// Step 3 runs (blocked) now; stopping the worker hands it back unfinished.
	stop()
	cancelled, err := g.CancelRest(ctx)
	if err != nil || cancelled != n-3 {
		t.Fatalf("CancelRest = %d, %v; want %d", cancelled, err, n-3)
	}
	cancelledAll.Store(true)
	if g.Pending() != 0 || g.Cancelled() != n-3 {
		t.Fatalf("pending %d cancelled %d, want 0 and %d", g.Pending(), g.Cancelled(), n-3)
	}

	// A new worker takes the queue in order: once a task submitted after the
	// cancels has run, every cancelled one has been passed over.
	worker(t, srv, reg, reader.Config{Concurrency: 1})
	h, err := w.Submit(ctx, "step", -1)
	if err != nil {
		t.Fatal(err)
	}
	if err := h.Result(ctx, nil); err != nil {
		t.Fatal(err)
	}
	if n := startsAfter.Load(); n != 0 {
		t.Fatalf("%d cancelled tasks ran after CancelRest", n)
	}
	for i, st := range g.Statuses() {
		want := strand.StatusCompleted
		if i >= 3 {
			want = strand.StatusCancelled
		}
		if st != want {
			t.Errorf("task %d: %s, want %s", i, st, want)
		}
		if live, err := g.Handle(i).Status(ctx); err != nil || live != want {
			t.Errorf("task %d: stored status %s (%v), want %s", i, live, err, want)
		}
	}
}
