package reader_test

import (
	"context"
	"errors"
	"iter"
	"os"
	"strings"
	"testing"
	"time"

	strand "github.com/strand-run/strand"
	"github.com/strand-run/strand/reader"
	"github.com/strand-run/strand/registry"
)

// childFunctions are what process-queue tasks run, in the worker and in
// its children alike (TestMain serves them).
func childFunctions() *registry.Registry {
	reg := registry.New()
	reg.MustRegister("add", func(a, b int) int { return a + b })
	reg.MustRegister("pid", func() int { return os.Getpid() })
	reg.MustRegister("exit", func(code int) { os.Exit(code) })
	reg.MustRegister("deaf", func(ms int) { time.Sleep(time.Duration(ms) * time.Millisecond) })
	reg.MustRegister("halfway", func(ctx context.Context) int {
		strand.Progress(ctx, 1, 2, "half")
		time.Sleep(500 * time.Millisecond)
		return os.Getpid()
	})
	reg.MustRegister("pids", func(n int) iter.Seq[int] {
		return func(yield func(int) bool) {
			for range n {
				if !yield(os.Getpid()) {
					return
				}
			}
		}
	})
	return reg
}

// TestProcessQueues: tasks of a process queue run in a child process; one
// that kills its child fails with kind crashed and the worker goes on.
func TestProcessQueues(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.reg = childFunctions()
	e.worker(reader.Config{Queues: []string{"default", "iso"}, ProcessQueues: []string{"iso"}})
	ctx := ctxT(t, 30*time.Second)
	iso := strand.Queue("iso")

	pid := func(opts ...strand.Option) int {
		t.Helper()
		h, err := e.w.Submit(ctx, "pid", nil, opts...)
		if err != nil {
			t.Fatal(err)
		}
		var p int
		if err := h.Result(ctx, &p); err != nil {
			t.Fatal(err)
		}
		return p
	}
	if p := pid(); p != os.Getpid() {
		t.Errorf("default queue: ran in pid %d, want the worker's %d", p, os.Getpid())
	}
	if p := pid(iso); p == os.Getpid() || p == 0 {
		t.Errorf("process queue: ran in pid %d, want a child of %d", p, os.Getpid())
	}

	h, err := e.w.Submit(ctx, "exit", []any{7}, iso)
	if err != nil {
		t.Fatal(err)
	}
	err = h.Result(ctx, nil)
	if !errors.Is(err, strand.ErrCrashed) || !strings.Contains(err.Error(), "exit status 7") {
		t.Errorf("exit 7: got %v, want a crash with its exit status", err)
	}
	if st, _ := h.Status(ctx); st != strand.StatusFailed {
		t.Errorf("exit 7: status %s, want failed", st)
	}

	h, err = e.w.Submit(ctx, "deaf", []any{60_000}, iso, strand.Timeout(200*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	if err := h.Result(ctx, nil); !errors.Is(err, strand.ErrTimeout) {
		t.Errorf("deaf past its timeout: got %v, want a timeout", err)
	}

	// An iterator's items stream from the child.
	h, err = e.w.Submit(ctx, "pids", []any{3}, iso)
	if err != nil {
		t.Fatal(err)
	}
	var pids []int
	for p, err := range strand.Items[int](ctx, h) {
		if err != nil {
			t.Fatal(err)
		}
		pids = append(pids, p)
	}
	if len(pids) != 3 || pids[0] == os.Getpid() || pids[0] != pids[2] {
		t.Errorf("pids 3: got %v, want three times one child's pid", pids)
	}

	// Progress reported in the child reaches the task's state.
	h, err = e.w.Submit(ctx, "halfway", nil, iso)
	if err != nil {
		t.Fatal(err)
	}
	var seen []strand.Report
	if _, err := h.WatchProgress(ctx, func(p strand.Report) { seen = append(seen, p) }); err != nil {
		t.Fatal(err)
	}
	if len(seen) == 0 || seen[0] != (strand.Report{Done: 1, Total: 2, Note: "half"}) {
		t.Errorf("progress from the child: %+v", seen)
	}

	h, err = e.w.Submit(ctx, "add", []any{2, 3}, iso)
	if err != nil {
		t.Fatal(err)
	}
	var sum int
	if err := h.Result(ctx, &sum); err != nil || sum != 5 {
		t.Errorf("add after the crash: got %d, %v", sum, err)
	}
}
