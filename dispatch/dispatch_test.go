package dispatch_test

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	strand "github.com/strand-run/strand"
	"github.com/strand-run/strand/broker"
	"github.com/strand-run/strand/dispatch"
	"github.com/strand-run/strand/internal/broker/brokertest"
	"github.com/strand-run/strand/reader"
	"github.com/strand-run/strand/registry"
	"github.com/strand-run/strand/runner"
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
	g, err := dispatch.Submit(ctx, newWriter(t, b), calls)
	if err != nil {
		t.Fatal(err)
	}
	if err := g.Wait(ctx, nil); err != nil {
		t.Fatal(err)
	}
	if p, c, f := g.Count(strand.StatusPending), g.Count(strand.StatusCompleted), g.Count(strand.StatusFailed); p != 0 || c != n-10 || f != 10 {
		t.Fatalf("pending %d completed %d failed %d, want 0 %d 10", p, c, f, n-10)
	}
	hs, outs := g.Handles(), g.Outcomes()
	seen := make(map[string]bool)
	for i := range n {
		id := hs[i].ID()
		if id == "" || seen[id] || outs[i].ID != id {
			t.Fatalf("task %d: id %q empty or repeated, outcome of %q", i, id, outs[i].ID)
		}
		seen[id] = true
		var got int
		err := outs[i].Decode(&got)
		if i%100 == 7 {
			if outs[i].Status != strand.StatusFailed || !errors.Is(err, strand.ErrFailed) || outs[i].Result != nil {
				t.Fatalf("task %d: %+v %v, want failed with an error", i, outs[i], err)
			}
			continue
		}
		if err != nil || got != 2*i || outs[i].Status != strand.StatusCompleted || outs[i].Err != nil {
			t.Fatalf("task %d: %d %v %+v, want %d completed", i, got, err, outs[i], 2*i)
		}
	}
}

// On a local runner a group submits one by one; a refused call (a bad
// option, an option a local runner cannot honour) is a failed member with
// the refusal as its error, and does not stop the others; a group of only
// refused calls is an error.
func TestDispatchOnAPoolWithRefusals(t *testing.T) {
	t.Parallel()
	reg := registry.New()
	reg.MustRegister("double", func(n int) int { return 2 * n })
	p := runner.Pool(reg, 2)
	defer p.Close()
	ctx := ctxT(t, 30*time.Second)
	calls := []writer.Call{
		{Func: "double", Args: []any{1}},
		{Func: "double", Args: []any{2}, Opts: []strand.Option{strand.After(time.Hour)}},
		{Func: "double", Args: []any{3}, Opts: []strand.Option{strand.ID("d-3")}},
	}
	g, err := dispatch.Submit(ctx, p, calls)
	if err != nil {
		t.Fatal(err)
	}
	if err := g.Wait(ctx, nil); err != nil {
		t.Fatal(err)
	}
	outs := g.Outcomes()
	var a, c int
	if err := outs[0].Decode(&a); err != nil || a != 2 {
		t.Errorf("task 0: %d %v", a, err)
	}
	if err := outs[2].Decode(&c); err != nil || c != 6 || g.Handles()[2].ID() != "d-3" {
		t.Errorf("task 2: %d %v", c, err)
	}
	if g.Handles()[1] != nil || outs[1].Status != strand.StatusFailed || !errors.Is(outs[1].Decode(nil), strand.ErrBadOption) {
		t.Errorf("refused task: %+v", outs[1])
	}
	if n := g.Count(strand.StatusCompleted); n != 2 {
		t.Errorf("%d completed", n)
	}
	if _, err := dispatch.Submit(ctx, p, calls[1:2]); !errors.Is(err, strand.ErrBadOption) {
		t.Errorf("a group of refused calls: %v", err)
	}
}

type stringErr string

func (e stringErr) Error() string { return string(e) }

const errOdd = stringErr("seven")

func TestWaitPredicateThenCancelRest(t *testing.T) {
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
	g, err := dispatch.Submit(ctx, w, calls)
	if err != nil {
		t.Fatal(err)
	}
	if err := g.Wait(ctx, func(g *dispatch.Group) bool { return g.Count(strand.StatusCompleted) >= 3 }); err != nil {
		t.Fatal(err)
	}
	if c, p := g.Count(strand.StatusCompleted), g.Count(strand.StatusPending); c != 3 || p != n-3 {
		t.Fatalf("completed %d pending %d, want 3 and %d", c, p, n-3)
	}
	// Step 3 runs (blocked) now; stopping the worker hands it back unfinished.
	stop()
	cancelled, err := g.CancelRest(ctx)
	if err != nil || cancelled != n-3 {
		t.Fatalf("CancelRest = %d, %v; want %d", cancelled, err, n-3)
	}
	cancelledAll.Store(true)
	if p, c := g.Count(strand.StatusPending), g.Count(strand.StatusCancelled); p != 0 || c != n-3 {
		t.Fatalf("pending %d cancelled %d, want 0 and %d", p, c, n-3)
	}

	// A new worker takes the queue in order: once a task submitted after the
	// cancels has run, every cancelled one has been passed over.
	worker(t, srv, reg, reader.Config{Concurrency: 1})
	h, err := w.Submit(ctx, "step", []any{-1})
	if err != nil {
		t.Fatal(err)
	}
	if err := h.Result(ctx, nil); err != nil {
		t.Fatal(err)
	}
	if n := startsAfter.Load(); n != 0 {
		t.Fatalf("%d cancelled tasks ran after CancelRest", n)
	}
	for i, o := range g.Outcomes() {
		want := strand.StatusCompleted
		if i >= 3 {
			want = strand.StatusCancelled
		}
		if o.Status != want {
			t.Errorf("task %d: %s, want %s", i, o.Status, want)
		}
		if live, err := g.Handles()[i].Status(ctx); err != nil || live != want {
			t.Errorf("task %d: stored status %s (%v), want %s", i, live, err, want)
		}
	}
}
