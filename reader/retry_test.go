package reader_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/strand-run/strand/internal/link"

	strand "github.com/strand-run/strand"
	"github.com/strand-run/strand/broker"
	"github.com/strand-run/strand/inspect"
	"github.com/strand-run/strand/internal/broker/brokertest"
	"github.com/strand-run/strand/internal/codec"
	"github.com/strand-run/strand/reader"
)

// runs records when each attempt of each task started.
type runs struct {
	mu sync.Mutex
	at map[string][]time.Time
}

func (r *runs) add(ctx context.Context) int {
	tk, _ := strand.TaskFrom(ctx)
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.at == nil {
		r.at = map[string][]time.Time{}
	}
	r.at[tk.ID] = append(r.at[tk.ID], time.Now())
	return len(r.at[tk.ID])
}

func (r *runs) of(id string) []time.Time {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]time.Time(nil), r.at[id]...)
}

// A failing task runs max_attempts times with growing delays, ends dead,
// is listed in the dead letters, and a replay runs it again, linked to it.
func TestRetryThenDeadThenReplay(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	var rs runs
	fixed := false
	var fixedMu sync.Mutex
	e.reg.MustRegister("fail", func(ctx context.Context, msg string) (string, error) {
		rs.add(ctx)
		fixedMu.Lock()
		defer fixedMu.Unlock()
		if fixed {
			return "ok " + msg, nil
		}
		return "", errors.New(msg)
	})
	e.worker(reader.Config{MaxAttempts: 3, RetryBase: 100 * time.Millisecond})
	ctx := ctxT(t, 30*time.Second)
	h, err := e.w.Submit(ctx, "fail", []any{"disk full"}, strand.Meta(map[string]string{"user": "ann"}))
	if err != nil {
		t.Fatal(err)
	}
	err = h.Result(ctx, nil)
	if err == nil || err.Error() != "fail: disk full" {
		t.Fatalf("result error %v", err)
	}
	info, err := h.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if info.Status != strand.StatusDead || info.Attempt != 3 {
		t.Fatalf("info %+v, want dead after attempt 3", info)
	}
	at := rs.of(h.ID())
	if len(at) != 3 {
		t.Fatalf("%d attempts, want 3", len(at))
	}
	// Base 100ms ±20 %, then 200ms ±20 %: the second wait is longer than
	// the first can be.
	if d1, d2 := at[1].Sub(at[0]), at[2].Sub(at[1]); d1 < 75*time.Millisecond || d2 < 150*time.Millisecond {
		t.Fatalf("delays %v then %v, want ≥ 80ms then ≥ 160ms", d1, d2)
	}

	in, err := inspect.New(e.b, inspect.Config{})
	if err != nil {
		t.Fatal(err)
	}
	dead, err := in.DeadLetters(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(dead) != 1 {
		t.Fatalf("dead letters %+v", dead)
	}
	d := dead[0]
	if d.ID != h.ID() || d.Func != "fail" || d.Queue != "default" || d.Kind != string(strand.ErrFailed) ||
		d.Error != "fail: disk full" || d.Attempt != 3 || d.Finished.IsZero() || d.Status != strand.StatusDead || d.Seq == 0 {
		t.Fatalf("dead letter %+v", d)
	}

	fixedMu.Lock()
	fixed = true
	fixedMu.Unlock()
	res, err := in.Act(ctx, "replay", inspect.Task{ID: h.ID()})
	if err == nil {
		err = res[0].Err
	}
	if err != nil {
		t.Fatal(err)
	}
	rh, err := e.w.Open(res[0].NewID)
	if err != nil {
		t.Fatal(err)
	}
	var got string
	if err := rh.Result(ctx, &got); err != nil || got != "ok disk full" {
		t.Fatalf("replay: %q, %v", got, err)
	}
	rinfo, err := rh.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if rh.ID() == h.ID() || rinfo.Meta["replay_of"] != h.ID() || rinfo.Meta["user"] != "ann" || rinfo.Attempt != 1 {
		t.Fatalf("replay info %+v", rinfo)
	}
	if dead, err := in.DeadLetters(ctx); err != nil || len(dead) != 0 {
		t.Fatalf("dead letters after replay: %+v, %v", dead, err)
	}
	if res, err := in.Act(ctx, "replay", inspect.Task{ID: h.ID()}); err != nil || !errors.Is(res[0].Err, strand.ErrNotFound) {
		t.Fatalf("second replay: %v", err)
	}
}

// Retry(err, after) reruns the task after that delay, with the retrying
// state in between; Permanent ends it at once; bad args are never retried.
func TestRetryHelpers(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	var rs runs
	e.reg.MustRegister("later", func(ctx context.Context) (int, error) {
		if n := rs.add(ctx); n == 1 {
			return 0, strand.Retry(errors.New("busy"), time.Second)
		}
		return 7, nil
	})
	e.reg.MustRegister("never", func(ctx context.Context) error {
		rs.add(ctx)
		return strand.Permanent(errors.New("card declined"))
	})
	e.reg.MustRegister("add", func(a, b int) int { return a + b })
	e.reg.MustRegister("boom", func(ctx context.Context) int { rs.add(ctx); panic("kaboom") })
	e.worker(reader.Config{MaxAttempts: 3, RetryBase: 50 * time.Millisecond})

	// Each subtest has its own ctx: parallel subtests start only once their
	// parent returns, and may wait for others first.
	t.Run("retry after", func(t *testing.T) {
		t.Parallel()
		ctx := ctxT(t, 30*time.Second)
		h, err := e.w.Submit(ctx, "later", nil)
		if err != nil {
			t.Fatal(err)
		}
		// Between the attempts: retrying, with the error and the next time.
		var st *codec.State
		for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
			entry, err := link.Core(e.b).Read(ctx, link.Core(e.b).Names().StateKey("default", h.ID()))
			if err != nil || entry == nil {
				continue
			}
			if st, err = codec.DecodeState(entry.Data); err == nil && st.Status == strand.StatusRetrying {
				break
			}
		}
		if st == nil || st.Status != strand.StatusRetrying || st.Attempt != 1 || st.LastError == nil ||
			st.LastError.Message != "later: busy" || st.NextAttempt < time.Now().UnixMilli()-5000 {
			t.Fatalf("state between attempts %+v", st)
		}
		var got int
		if err := h.Result(ctx, &got); err != nil || got != 7 {
			t.Fatalf("result %d, %v", got, err)
		}
		at := rs.of(h.ID())
		if len(at) != 2 || at[1].Sub(at[0]) < 900*time.Millisecond {
			t.Fatalf("attempts at %v, want two a second apart", at)
		}
	})
	for _, tc := range []struct {
		name, fn string
		args     []any
		opts     []strand.Option
		status   strand.Status
		attempt  int
		kind     string
	}{
		{"permanent", "never", nil, nil, strand.StatusFailed, 1, string(strand.ErrFailed)},
		{"bad args", "add", []any{"x", 1}, nil, strand.StatusFailed, 1, string(strand.ErrBadArgs)},
		{"unknown func", "nope", nil, nil, strand.StatusFailed, 1, string(strand.ErrUnknownFunc)},
		{"panic", "boom", nil, nil, strand.StatusDead, 3, string(strand.ErrPanic)},
		{"panic, one attempt asked", "boom", nil, []strand.Option{strand.MaxAttempts(1)}, strand.StatusFailed, 1, string(strand.ErrPanic)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ctx := ctxT(t, 30*time.Second)
			h, err := e.w.Submit(ctx, tc.fn, tc.args, tc.opts...)
			if err != nil {
				t.Fatal(err)
			}
			if err := h.Result(ctx, nil); err == nil {
				t.Fatal("no error")
			}
			info, err := h.Info(ctx)
			if err != nil {
				t.Fatal(err)
			}
			var te *strand.TaskError
			if info.Status != tc.status || info.Attempt != tc.attempt || !errors.As(info.Err, &te) || string(te.Kind) != tc.kind {
				t.Fatalf("info %+v (error %v), want %s after attempt %d, kind %s", info, info.Err, tc.status, tc.attempt, tc.kind)
			}
			if n := len(rs.of(h.ID())); tc.fn != "add" && tc.fn != "nope" && n != tc.attempt {
				t.Fatalf("handler ran %d times", n)
			}
			in, err := inspect.New(e.b, inspect.Config{})
			if err != nil {
				t.Fatal(err)
			}
			dead, err := in.DeadLetters(ctx)
			if err != nil {
				t.Fatal(err)
			}
			listed := false
			for _, d := range dead {
				listed = listed || d.ID == h.ID()
			}
			if listed != (tc.status == strand.StatusDead) {
				t.Fatalf("status %s, in the dead letters: %v", tc.status, listed)
			}
		})
	}
}

// A handler that ignores its ctx is abandoned a grace period after its
// deadline: the task ends failed (timeout) and its slot runs the next task.
func TestAbandonAfterDeadline(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.reg.MustRegister("stubborn", func(ms int) { time.Sleep(time.Duration(ms) * time.Millisecond) })
	e.reg.MustRegister("add", func(a, b int) int { return a + b })
	b := brokertest.Connect(t, e.srv, broker.Config{})
	r, err := reader.New(b, e.reg, reader.Config{Concurrency: 1, AbandonAfter: 500 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	rctx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(rctx) }()
	t.Cleanup(func() {
		stop()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	ctx := ctxT(t, 30*time.Second)
	start := time.Now()
	h, err := e.w.Submit(ctx, "stubborn", []any{5000}, strand.Timeout(300*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	err = h.Result(ctx, nil)
	took := time.Since(start)
	if !errors.Is(err, strand.ErrTimeout) || err.Error() != "stubborn: timed out after 300ms" {
		t.Fatalf("error %v", err)
	}
	if took < 300*time.Millisecond || took > 4*time.Second {
		t.Fatalf("ended after %v, want about 0.8s", took)
	}
	if st, _ := h.Status(ctx); st != strand.StatusFailed {
		t.Fatalf("status %s", st)
	}
	// The only slot is free while the abandoned handler still sleeps.
	h2, err := e.w.Submit(ctx, "add", []any{1, 2})
	if err != nil {
		t.Fatal(err)
	}
	var sum int
	if err := h2.Result(ctx, &sum); err != nil || sum != 3 {
		t.Fatalf("add: %d, %v", sum, err)
	}
	// Counted until it returns (5s after it started).
	if n := reader.AbandonedOf(r); n != 1 && time.Since(start) < 4*time.Second {
		t.Fatalf("abandoned %d, want 1", n)
	}
}
