package reader_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	strand "github.com/strand-run/strand"
	"github.com/strand-run/strand/broker"
	"github.com/strand-run/strand/internal/broker/brokertest"
	"github.com/strand-run/strand/internal/link"
	"github.com/strand-run/strand/reader"
)

// A worker that has forgotten cancellations (it keeps 65 536 for an hour)
// still never runs a cancelled task: a task queued before the newest
// cancellation it forgot reads its outcome before it runs. Here the worker
// keeps one cancellation and forgets the others at once.
func TestForgottenCancelStillSkips(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	var runs atomic.Int64
	e.reg.MustRegister("touch", func() { runs.Add(1) })
	ctx := ctxT(t, 30*time.Second)
	var hs []strand.Handle
	for range 3 {
		h, err := e.w.Submit(ctx, "touch", nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := h.Cancel(ctx); err != nil {
			t.Fatal(err)
		}
		hs = append(hs, h)
	}
	// The worker reads the three cancellations when it starts, and forgets
	// all but the last as it reads them.
	r, err := reader.New(brokertest.Connect(t, e.srv, broker.Config{}), e.reg, reader.Config{})
	if err != nil {
		t.Fatal(err)
	}
	reader.ForgetCancels(r, 1, 0)
	rctx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(rctx) }()
	defer func() {
		stop()
		if err := <-done; err != nil {
			t.Error(err)
		}
	}()
	tasks := link.Core(e.b).Names().TasksStream()
	for deadline := time.Now().Add(10 * time.Second); streamMsgs(t, e, tasks) != 0; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%d cancelled tasks still queued", streamMsgs(t, e, tasks))
		}
	}
	if n := runs.Load(); n != 0 {
		t.Fatalf("%d cancelled tasks ran", n)
	}
	for _, h := range hs {
		if st, err := h.Status(ctx); err != nil || st != strand.StatusCancelled {
			t.Fatalf("task %s: %s, %v; want cancelled", h.ID(), st, err)
		}
	}
}
