package flow_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/strand-run/strand/internal/link"

	strand "github.com/strand-run/strand"
	"github.com/strand-run/strand/broker"
	"github.com/strand-run/strand/flow"
	"github.com/strand-run/strand/internal/codec"
	"github.com/strand-run/strand/reader"
	"github.com/strand-run/strand/scratch"
	"github.com/strand-run/strand/strandtest"
)

// TestJoinReleasedOnceUnderRace plays the workers' part by hand, with no
// worker running: both parents of a diamond's join complete, then four
// connections carry each parent on at the same instant, again and again
// (two workers finishing together, and the redeliveries after a crash
// between outcome and release). The join is queued exactly once: the tasks
// stream stores one message for it.
func TestJoinReleasedOnceUnderRace(t *testing.T) {
	t.Parallel()
	env := strandtest.New(t, scratch.Options{NoWorker: true})
	ctx := wait(t)
	c := client{env.Writer}
	h, err := c.Submit(ctx, flow.New(
		flow.Call("a", "add", 1, 1),
		flow.Call("b", "add", 10).After("a"),
		flow.Call("c", "add", 20).After("a"),
		flow.Call("d", "add").After("b", "c"),
	))
	if err != nil {
		t.Fatal(err)
	}
	b := env.Broker
	startEnv := queued(t, ctx, b, h.ID())
	if err := link.Core(b).StartFlow(ctx, startEnv, codec.Msgpack); err != nil {
		t.Fatal(err)
	}
	complete := func(step string, result int) {
		t.Helper()
		id := codec.StepID(h.ID(), step)
		queued(t, ctx, b, id) // released, and not answered yet
		raw, _ := codec.Msgpack.Marshal(result)
		data, _ := codec.Msgpack.Marshal(&codec.Outcome{Status: strand.StatusCompleted, Result: raw, Finished: time.Now().UnixMilli()})
		w, err := link.Core(b).WriteOutcome("default", id, data, codec.Msgpack, time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		select {
		case <-w.Ok():
		case err := <-w.Err():
			t.Fatal(err)
		}
	}
	complete("a", 2)
	if err := link.Core(b).CarryOn(ctx, &codec.FlowRef{ID: h.ID(), Queue: "default", Step: "a"}, nil); err != nil {
		t.Fatal(err)
	}
	complete("b", 12)
	complete("c", 22)

	var conns []*broker.Broker
	for range 4 {
		cb, err := broker.Connect(ctx, broker.Config{URL: env.Server.URL()})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = cb.Close() })
		conns = append(conns, cb)
	}
	for round := range 5 {
		var wg sync.WaitGroup
		start := make(chan struct{})
		for i, cb := range conns {
			step := []string{"b", "c"}[i%2]
			wg.Go(func() {
				<-start
				if err := link.Core(cb).CarryOn(ctx, &codec.FlowRef{ID: h.ID(), Queue: "default", Step: step}, nil); err != nil {
					t.Errorf("round %d: carry %s on: %v", round, step, err)
				}
			})
		}
		close(start)
		wg.Wait()
	}
	d := queued(t, ctx, b, codec.StepID(h.ID(), "d"))
	if len(d.Args) != 2 || string(d.Args[0]) != "\x0c" || string(d.Args[1]) != "\x16" {
		t.Fatalf("d's args %x, want [12 22]", d.Args)
	}
	info, err := link.Core(b).JetStream().Stream(ctx, link.Core(b).Names().TasksStream())
	if err != nil {
		t.Fatal(err)
	}
	// The start task, a, b, c and d: five messages ever stored.
	if got := info.CachedInfo().State.LastSeq; got != 5 {
		t.Fatalf("the tasks stream stored %d messages, want 5: d was released more than once", got)
	}

	// d runs and is answered (its message leaves the stream); a late
	// redelivery of b carries on again: d is not queued a second time.
	complete("d", 34)
	rec, err := link.Core(b).Queued(ctx, "default", codec.StepID(h.ID(), "d"))
	if err != nil || rec == nil {
		t.Fatalf("d: %v %v", rec, err)
	}
	if err := info.DeleteMsg(ctx, rec.Seq); err != nil {
		t.Fatal(err)
	}
	for _, step := range []string{"b", "c", "d"} {
		if err := link.Core(conns[0]).CarryOn(ctx, &codec.FlowRef{ID: h.ID(), Queue: "default", Step: step}, nil); err != nil {
			t.Fatal(err)
		}
	}
	if rec, err := link.Core(b).Queued(ctx, "default", codec.StepID(h.ID(), "d")); err != nil || rec != nil {
		t.Fatalf("d queued again after it ran: %v %v", rec, err)
	}
	st, err := h.Wait(ctx)
	if err != nil || st.Status != strand.StatusCompleted {
		t.Fatalf("workflow %v %v", st, err)
	}
}

// queued waits for task id to be queued and returns its envelope.
func queued(t *testing.T, ctx context.Context, b *broker.Broker, id string) *codec.Envelope {
	t.Helper()
	for {
		rec, err := link.Core(b).Queued(ctx, "default", id)
		if err != nil {
			t.Fatal(err)
		}
		if rec != nil {
			env, err := codec.DecodeEnvelope(codec.Msgpack, rec.Data)
			if err != nil {
				t.Fatal(err)
			}
			env.Queue = "default"
			return env
		}
		select {
		case <-ctx.Done():
			t.Fatalf("task %s never queued", id)
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// TestCrashBetweenOutcomeAndRelease: a step's outcome is stored but the
// worker that stored it died before it released anything or answered the
// task (played by hand: the outcome is written, the task left queued).
// The next worker to get the task finds the outcome standing, carries the
// workflow on from it — the child gets the stored result, not a new one —
// and the workflow completes.
func TestCrashBetweenOutcomeAndRelease(t *testing.T) {
	t.Parallel()
	env := strandtest.New(t, scratch.Options{NoWorker: true, Funcs: map[string]any{"add": func(a, b int) int { return a + b }}})
	ctx := wait(t)
	c := client{env.Writer}
	h, err := c.Submit(ctx, flow.Chain(flow.Call("a", "add", 1, 2), flow.Call("b", "add", 10)))
	if err != nil {
		t.Fatal(err)
	}
	b := env.Broker
	if err := link.Core(b).StartFlow(ctx, queued(t, ctx, b, h.ID()), codec.Msgpack); err != nil {
		t.Fatal(err)
	}
	queued(t, ctx, b, codec.StepID(h.ID(), "a"))
	raw, _ := codec.Msgpack.Marshal(100) // what the dead worker stored
	data, _ := codec.Msgpack.Marshal(&codec.Outcome{Status: strand.StatusCompleted, Result: raw, Finished: time.Now().UnixMilli()})
	w, err := link.Core(b).WriteOutcome("default", codec.StepID(h.ID(), "a"), data, codec.Msgpack, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	<-w.Ok()
	if err := env.StartWorker(ctx, reader.Config{}); err != nil {
		t.Fatal(err)
	}
	var n int
	err = h.Result(ctx, &n)
	if err != nil || n != 110 {
		t.Fatalf("workflow gave %d, %v; want 110 (b after the stored outcome of a)", n, err)
	}
}

// TestStartTaskWithOutcome: a start task that gets an outcome instead of
// being run — here cancelled as a task before any worker took it, as an
// older worker would fail it as an unknown function — ends the workflow
// for its waiters, and no step ever starts.
func TestStartTaskWithOutcome(t *testing.T) {
	t.Parallel()
	env := strandtest.New(t, scratch.Options{NoWorker: true, Funcs: map[string]any{"add": func(a, b int) int { return a + b }}})
	ctx := wait(t)
	c := client{env.Writer}
	h, err := c.Submit(ctx, flow.Chain(flow.Call("a", "add", 1, 2), flow.Call("b", "add", 10)))
	if err != nil {
		t.Fatal(err)
	}
	if err := link.Core(env.Broker).Cancel(ctx, "default", h.ID(), time.Hour); err != nil {
		t.Fatal(err)
	}
	if err := env.StartWorker(ctx, reader.Config{}); err != nil {
		t.Fatal(err)
	}
	st, err := h.Wait(ctx)
	if err != nil || st.Status != strand.StatusCancelled || st.Err == nil {
		t.Fatalf("workflow %+v, %v; want cancelled with its error", st, err)
	}
	time.Sleep(300 * time.Millisecond)
	if st, err = h.Status(ctx); err != nil || st.Status != strand.StatusCancelled {
		t.Fatalf("after the worker started: %+v, %v", st, err)
	}
	if l, err := link.Core(env.Broker).Look(ctx, "default", codec.StepID(h.ID(), "a")); err != nil || l.Status() != strand.StatusUnknown {
		t.Fatalf("step a: %v, %v; want never released", l.Status(), err)
	}
}
