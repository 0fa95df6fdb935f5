package reader_test

import (
	"context"
	"os"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/strand-run/strand/internal/link"

	strand "github.com/strand-run/strand"
	"github.com/strand-run/strand/internal/codec"
	"github.com/strand-run/strand/reader"
)

// findWorker lists the workers and returns the one named id, if listed.
func findWorker(t *testing.T, e *env, id string) (codec.Worker, bool) {
	t.Helper()
	ws, err := link.Core(e.b).ListWorkers(ctxT(t, 5*time.Second), nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range ws {
		if w.ID == id {
			return w, true
		}
	}
	return codec.Worker{}, false
}

// A running worker is listed with what it runs and how busy it is, and a
// worker that stops is gone at once.
func TestWorkerRecord(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	register(t, e)
	stop := e.worker(reader.Config{
		WorkerID: "hb-1", Queues: []string{"default", "other"}, Concurrency: 3, HeartbeatEvery: 100 * time.Millisecond,
	})
	ctx := ctxT(t, 30*time.Second)
	h, err := e.w.Submit(ctx, "sleep", []any{3000})
	if err != nil {
		t.Fatal(err)
	}
	var rec codec.Worker
	for {
		w, ok := findWorker(t, e, "hb-1")
		if ok && w.InFlight > 0 {
			rec = w
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("no record of hb-1 with a task in flight: %+v (listed %v)", w, ok)
		}
		time.Sleep(50 * time.Millisecond)
	}
	host, _ := os.Hostname()
	if rec.InFlight != 1 || rec.Concurrency != 3 || rec.PID != os.Getpid() || rec.Host != host ||
		!slices.Equal(rec.Queues, []string{"default", "other"}) || !slices.Contains(rec.Functions, "sleep") ||
		rec.Version == "" || rec.Started == 0 || rec.Beat < rec.Started ||
		time.Since(time.UnixMilli(rec.Beat)) > 10*time.Second {
		t.Fatalf("record %+v", rec)
	}
	if err := h.Result(ctx, nil); err != nil {
		t.Fatal(err)
	}
	for {
		w, _ := findWorker(t, e, "hb-1")
		if w.InFlight == 0 {
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("in_flight stays %d after the task ended", w.InFlight)
		}
		time.Sleep(50 * time.Millisecond)
	}
	stop()
	if w, ok := findWorker(t, e, "hb-1"); ok {
		t.Fatalf("a stopped worker is still listed: %+v", w)
	}
}

// Worker ids are keys of the workers bucket: the default one is made of
// safe characters, and a given one that is not is refused.
func TestWorkerID(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	r, err := reader.New(e.b, e.reg, reader.Config{})
	if err != nil {
		t.Fatal(err)
	}
	if strings.ContainsFunc(reader.IDOf(r), func(c rune) bool {
		return !(c == '-' || c == '_' || c == '=' || ('0' <= c && c <= '9') || ('a' <= c && c <= 'z') || ('A' <= c && c <= 'Z'))
	}) {
		t.Fatalf("default worker id %q is not a plain KV key", reader.IDOf(r))
	}
	for _, id := range []string{"a.b", "a b", "a*", strings.Repeat("x", 129)} {
		if _, err := reader.New(e.b, e.reg, reader.Config{WorkerID: id}); err == nil {
			t.Errorf("worker id %q accepted", id)
		}
	}
}

// A task longer than AckWait is kept by its worker's in-progress acks: it
// runs once and completes on its first attempt.
func TestLongTaskNotRedelivered(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	var runs atomic.Int32
	e.reg.MustRegister("long", func(ctx context.Context) error {
		runs.Add(1)
		select {
		case <-time.After(3500 * time.Millisecond):
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	})
	e.worker(reader.Config{AckWait: time.Second, Concurrency: 2})
	ctx := ctxT(t, 30*time.Second)
	h, err := e.w.Submit(ctx, "long", nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := h.Result(ctx, nil); err != nil {
		t.Fatal(err)
	}
	o, err := h.Wait(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if o.Status != strand.StatusCompleted || o.Attempt != 1 || runs.Load() != 1 {
		t.Fatalf("outcome %s attempt %d after %d runs; want completed, attempt 1, one run", o.Status, o.Attempt, runs.Load())
	}
}

// The record tells a change of the tasks in flight soon after it, not a
// whole heartbeat interval (here a minute) later.
func TestWorkerRecordBusy(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	register(t, e)
	e.worker(reader.Config{WorkerID: "hb-busy", Concurrency: 4, HeartbeatEvery: time.Minute})
	ctx := ctxT(t, 30*time.Second)
	for {
		if _, ok := findWorker(t, e, "hb-busy"); ok {
			break
		}
		if ctx.Err() != nil {
			t.Fatal("hb-busy never listed")
		}
		time.Sleep(20 * time.Millisecond)
	}
	var hs []interface {
		Result(context.Context, any) error
	}
	for range 2 {
		h, err := e.w.Submit(ctx, "sleep", []any{3000})
		if err != nil {
			t.Fatal(err)
		}
		hs = append(hs, h)
	}
	waitBusy := func(want int) {
		t.Helper()
		for {
			if w, _ := findWorker(t, e, "hb-busy"); w.InFlight == want {
				return
			}
			if ctx.Err() != nil {
				t.Fatalf("in_flight never %d", want)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	waitBusy(2)
	for _, h := range hs {
		if err := h.Result(ctx, nil); err != nil {
			t.Fatal(err)
		}
	}
	waitBusy(0)
}
