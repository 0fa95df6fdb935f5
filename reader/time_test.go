package reader_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	strand "github.com/strand-run/strand"
	"github.com/strand-run/strand/reader"
	"github.com/strand-run/strand/writer"
)

// ran records the times a handler ran, by task id.
type ran struct {
	mu   sync.Mutex
	at   map[string][]time.Time
	seen chan string
}

func newRan() *ran { return &ran{at: map[string][]time.Time{}, seen: make(chan string, 1000)} }

func (r *ran) add(id string) {
	r.mu.Lock()
	r.at[id] = append(r.at[id], time.Now())
	r.mu.Unlock()
	r.seen <- id
}

func (r *ran) runs() map[string]int {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := map[string]int{}
	for id, ts := range r.at {
		out[id] = len(ts)
	}
	return out
}

// A delayed task reads scheduled, does not run before its time, and runs
// after it; its id is taken from submit on.
func TestDelayedTask(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	runs := newRan()
	e.reg.MustRegister("add", func(ctx context.Context, a, b int) int { tk, _ := strand.TaskFrom(ctx); runs.add(tk.ID); return a + b })
	e.worker(reader.Config{})
	ctx := ctxT(t, 60*time.Second)
	start := time.Now()
	h, err := e.w.Submit(ctx, "add", 2, 3, writer.After(2*time.Second), writer.ID("later"))
	if err != nil {
		t.Fatal(err)
	}
	if st, err := h.Status(ctx); err != nil || st != strand.StatusScheduled {
		t.Fatalf("status %s %v, want scheduled", st, err)
	}
	info, err := e.w.Open("later")
	if err != nil {
		t.Fatal(err)
	}
	if i, err := info.Info(ctx); err != nil || i.Status != strand.StatusScheduled || i.RunAt.Before(start.Add(2*time.Second).Truncate(time.Second)) || i.Func != "add" {
		t.Fatalf("info %+v %v", i, err)
	}
	// The id is taken while it waits: delayed or not, a second is refused.
	if _, err := e.w.Submit(ctx, "add", 1, 1, writer.ID("later")); !errors.Is(err, strand.ErrDuplicate) {
		t.Fatalf("immediate resubmit: %v, want duplicate", err)
	}
	if _, err := e.w.Submit(ctx, "add", 1, 1, writer.ID("later"), writer.After(time.Hour)); !errors.Is(err, strand.ErrDuplicate) {
		t.Fatalf("delayed resubmit: %v, want duplicate", err)
	}
	var sum int
	if err := h.Result(ctx, &sum); err != nil || sum != 5 {
		t.Fatalf("result %d %v", sum, err)
	}
	if took := time.Since(start); took < 2*time.Second {
		t.Fatalf("ran after %v, before its time", took)
	}
	if n := runs.runs()["later"]; n != 1 {
		t.Fatalf("ran %d times", n)
	}
}

// A delayed task cancelled while scheduled never runs and reads cancelled.
func TestDelayedCancel(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	runs := newRan()
	e.reg.MustRegister("add", func(ctx context.Context, a, b int) int { tk, _ := strand.TaskFrom(ctx); runs.add(tk.ID); return a + b })
	e.worker(reader.Config{})
	ctx := ctxT(t, 60*time.Second)
	h, err := e.w.Submit(ctx, "add", 2, 3, writer.After(2*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	if err := h.Cancel(ctx); err != nil {
		t.Fatal(err)
	}
	// A task submitted after it, due after it, runs: the worker was there.
	h2, err := e.w.Submit(ctx, "add", 1, 1, writer.After(3*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	var sum int
	if err := h2.Result(ctx, &sum); err != nil || sum != 2 {
		t.Fatalf("second: %d %v", sum, err)
	}
	if n := runs.runs()[h.ID()]; n != 0 {
		t.Fatalf("cancelled task ran %d times", n)
	}
	if st, err := h.Status(ctx); err != nil || st != strand.StatusCancelled {
		t.Fatalf("status %s %v", st, err)
	}
}

// Bad times: past runs now, beyond the task TTL is refused.
func TestDelayedBounds(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.reg.MustRegister("add", func(a, b int) int { return a + b })
	e.worker(reader.Config{})
	ctx := ctxT(t, 30*time.Second)
	h, err := e.w.Submit(ctx, "add", 2, 3, writer.At(time.Now().Add(-time.Hour)))
	if err != nil {
		t.Fatal(err)
	}
	var sum int
	if err := h.Result(ctx, &sum); err != nil || sum != 5 {
		t.Fatalf("past: %d %v", sum, err)
	}
	_, err = e.w.Submit(ctx, "add", 2, 3, writer.After(15*24*time.Hour))
	if !errors.Is(err, strand.ErrBadOption) || !strings.Contains(err.Error(), "task TTL") {
		t.Fatalf("beyond the task TTL: %v", err)
	}
}
