package reader_test

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	strand "github.com/strand-run/strand"
	"github.com/strand-run/strand/broker"
	"github.com/strand-run/strand/internal/broker/brokertest"
	"github.com/strand-run/strand/reader"
	"github.com/strand-run/strand/writer"
)

// idleStopBound is how soon after its ctx ends an idle worker's Run must
// return: far below a pull request's 2 s wait, which an idle stop used to
// wait out. A functional bound, not a speed measurement.
const idleStopBound = 500 * time.Millisecond

// An idle worker's Run returns at once when its ctx ends, whatever pulls
// it has open: priority lanes, fair lanes, prefetch, several queues.
func TestIdleStopReturnsAtOnce(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	register(t, e)
	for _, cfg := range []reader.Config{
		{},
		{Queues: []string{"idle-a", "idle-b"}, Prefetch: 2, Fair: true, QueueWeights: map[string]int{"idle-a": 3}},
	} {
		b := brokertest.Connect(t, e.srv, broker.Config{})
		r, err := reader.New(b, e.reg, cfg)
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- r.Run(ctx) }()
		time.Sleep(500 * time.Millisecond) // its pulls are open, waiting
		cancel()
		start := time.Now()
		select {
		case err := <-done:
			if err != nil {
				t.Fatalf("Run: %v", err)
			}
		case <-time.After(time.Minute):
			t.Fatal("Run did not return")
		}
		d := time.Since(start)
		t.Logf("an idle worker (%v) stopped in %v", cfg.Queues, d)
		if d > idleStopBound {
			t.Errorf("an idle worker (%+v) took %v to stop; want under %v", cfg.Queues, d, idleStopBound)
		}
	}
}

// A task submitted just as a worker stops is run exactly once: by the
// stopping worker if it took it before it stopped, else later by the next
// worker, at once (not after AckWait: it was not left in flight to the
// stopped worker's pull) and at its first attempt, or its second when the
// stopping worker received it and handed it back once; never delivered
// back to the stopping worker again and again.
func TestStopRacingSubmit(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	stopRacingSubmit(t, e.w, func(cfg reader.Config) *reader.Reader {
		r, err := reader.New(brokertest.Connect(t, e.srv, broker.Config{}), e.reg, cfg)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}, e.reg.MustRegister)
}

// stopRacingSubmit stops an idle worker while a task is submitted, at
// offsets around the stop, then checks the task's one run on the next
// worker (see TestStopRacingSubmit). newReader makes a worker on a
// connection of its own.
func stopRacingSubmit(t *testing.T, w *writer.Writer, newReader func(reader.Config) *reader.Reader, register func(string, any)) {
	var mu sync.Mutex
	runs := map[string][]strand.Task{} // task id → its runs
	register("record", func(ctx context.Context) error {
		tk, _ := strand.TaskFrom(ctx)
		mu.Lock()
		runs[tk.ID] = append(runs[tk.ID], tk)
		mu.Unlock()
		return nil
	})
	ctx := ctxT(t, 2*time.Minute)
	var onFirst, second, handedBack atomic.Int32
	const rounds = 12
	for i := range rounds {
		queue := "race" + string(rune('a'+i))
		first := newReader(reader.Config{Queues: []string{queue}, WorkerID: "first"})
		runCtx, stop := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- first.Run(runCtx) }()
		time.Sleep(300 * time.Millisecond)                // its pull is open
		offset := time.Duration(i%6-2) * time.Millisecond // -2 ms … +3 ms around the stop
		submitted := make(chan strand.Handle, 1)
		go func() {
			time.Sleep(max(offset, 0))
			h, err := w.Submit(ctx, "record", nil, strand.Queue(queue))
			if err != nil {
				t.Error(err)
			}
			submitted <- h
		}()
		time.Sleep(max(-offset, 0))
		stop()
		start := time.Now()
		if err := <-done; err != nil {
			t.Fatalf("Run: %v", err)
		}
		if d := time.Since(start); d > 5*time.Second {
			t.Errorf("round %d: the first worker took %v to stop", i, d)
		}
		h := <-submitted
		if h == nil {
			t.FailNow()
		}
		next := newReader(reader.Config{Queues: []string{queue}, WorkerID: "next"})
		nextCtx, stopNext := context.WithCancel(context.Background())
		nextDone := make(chan error, 1)
		go func() { nextDone <- next.Run(nextCtx) }()
		waitCtx, cancelWait := context.WithTimeout(ctx, 10*time.Second) // far below AckWait (30 s)
		err := h.Result(waitCtx, nil)
		cancelWait()
		time.Sleep(50 * time.Millisecond) // a second run would show by now
		stopNext()
		if err := <-nextDone; err != nil {
			t.Fatalf("Run: %v", err)
		}
		if err != nil {
			t.Fatalf("round %d (offset %v): task %s: %v (left in flight to the stopped worker?)", i, offset, h.ID(), err)
		}
		mu.Lock()
		rs := runs[h.ID()]
		mu.Unlock()
		if len(rs) != 1 {
			t.Fatalf("round %d (offset %v): task ran %d times: %+v", i, offset, len(rs), rs)
		}
		switch run := rs[0]; {
		case run.Worker == "first" && run.Attempt == 1:
			onFirst.Add(1)
		case run.Worker == "next" && run.Attempt == 1:
			second.Add(1)
		case run.Worker == "next" && run.Attempt == 2:
			handedBack.Add(1) // received by the stopping worker, handed back once
		default:
			t.Errorf("round %d (offset %v): ran on %s at attempt %d; want the first worker at attempt 1, or the next at attempt 1 (2 if handed back)", i, offset, run.Worker, run.Attempt)
		}
	}
	t.Logf("%d rounds: %d ran on the stopping worker, %d on the next, %d handed back to the next", rounds, onFirst.Load(), second.Load(), handedBack.Load())
}
