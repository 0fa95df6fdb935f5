package clustertest

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/strand-run/strand/internal/link"

	strand "github.com/strand-run/strand"

	"github.com/strand-run/strand/internal/broker/brokertest"
	"github.com/strand-run/strand/reader"
	"github.com/strand-run/strand/registry"
	"github.com/strand-run/strand/server"
	"github.com/strand-run/strand/writer"
)

// TestResultsAcrossBucketLeaderLoss: the node that leads the bucket's
// stream (it stores every outcome and republishes it as the event a
// handle waits for) goes down while outcomes pour in. The writer and the
// worker are on a node that stays up, so neither reconnects: outcomes the
// old leader committed but never republished reach their handles by the
// reads that follow the election all the same (broker.Resync), and every
// Result returns; outcome writes whose answers died with the leader are
// sent again at the election, not after the 15 s publish timeout (the
// test logs when the last result came).
func TestResultsAcrossBucketLeaderLoss(t *testing.T) {
	if testing.Short() {
		t.Skip("a 3-node cluster")
	}
	t.Parallel()
	servers := brokertest.StartCluster(t, 3)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	admin := connect(t, servers)
	checkReplicas(t, ctx, admin)
	victim, err := brokertest.StreamLeader(ctx, link.Core(admin).JetStream(), link.Core(admin).Names().Stream(), servers)
	if err != nil {
		t.Fatal(err)
	}
	others := slices.DeleteFunc(slices.Clone(servers), func(s *server.Server) bool { return s == victim })
	t.Logf("victim %s leads %s; clients on %s", victim.NATS().Name(), link.Core(admin).Names().Stream(), others[0].NATS().Name())

	reg := registry.New()
	var runs sync.Map // task id → *atomic.Int32
	reg.MustRegister("add", func(ctx context.Context, a, b int) int {
		if tk, ok := strand.TaskFrom(ctx); ok {
			n, _ := runs.LoadOrStore(tk.ID, new(atomic.Int32))
			n.(*atomic.Int32).Add(1)
		}
		return a + b
	})
	wb := connect(t, others)
	defer runWorker(t, wb, reg, reader.Config{Concurrency: 32})()
	w, err := writer.New(connect(t, others), writer.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()

	const n, batch, killAt = 3000, 100, 600
	var (
		completed atomic.Int64
		mu        sync.Mutex
		failures  []error
		waiters   sync.WaitGroup
		reached   = make(chan struct{})
		once      sync.Once
		submitted = make(chan struct{})
		last      atomic.Int64 // unix ns of the latest result
		lastOne   atomic.Value // its handle
	)
	go func() {
		defer close(submitted)
		for i := 0; i < n; i += batch {
			calls := make([]writer.Call, batch)
			for j := range calls {
				calls[j] = writer.Call{Func: "add", Args: []any{i + j, 1}}
			}
			hs, errs := w.SubmitBatch(ctx, calls)
			for j, h := range hs {
				if errs[j] != nil {
					mu.Lock()
					failures = append(failures, fmt.Errorf("submit: %w", errs[j]))
					mu.Unlock()
					continue
				}
				waiters.Go(func() {
					rctx, cancel := context.WithTimeout(ctx, time.Minute)
					defer cancel()
					if err := h.Result(rctx, nil); err != nil {
						info, ierr := h.Info(ctx)
						if ierr == nil {
							err = fmt.Errorf("%w (status %s, attempt %d, worker %q)", err, info.Status, info.Attempt, info.Worker)
						}
						mu.Lock()
						failures = append(failures, fmt.Errorf("result %s: %w", h.ID(), err))
						mu.Unlock()
						return
					}
					last.Store(time.Now().UnixNano())
					lastOne.Store(h)
					if completed.Add(1) == killAt {
						once.Do(func() { close(reached) })
					}
				})
			}
		}
	}()
	select {
	case <-reached:
	case <-ctx.Done():
		t.Fatalf("only %d tasks completed", completed.Load())
	}
	victim.Stop()
	killed := time.Now()
	<-submitted
	waiters.Wait()
	t.Logf("%d results, the last %v after the kill", completed.Load(), time.Unix(0, last.Load()).Sub(killed).Round(time.Millisecond))
	if h, ok := lastOne.Load().(strand.Handle); ok {
		if info, err := h.Info(ctx); err == nil {
			t.Logf("the last: %s, created %v, started %v, finished %v after the kill; attempt %d",
				h.ID(), info.Created.Sub(killed).Round(time.Millisecond), info.Started.Sub(killed).Round(time.Millisecond),
				info.Finished.Sub(killed).Round(time.Millisecond), info.Attempt)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	for i, err := range failures {
		if i == 5 {
			t.Errorf("… %d failures in all", len(failures))
			break
		}
		t.Error(err)
	}
	if got := completed.Load(); got != n {
		t.Errorf("%d of %d results", got, n)
	}
	// A write sent again after a lost answer must not make a task run
	// twice (a task is sent again only once its answer is given up on).
	reruns := 0
	runs.Range(func(_, v any) bool {
		reruns += int(v.(*atomic.Int32).Load()) - 1
		return true
	})
	t.Logf("%d handler reruns", reruns)
}
