package clustertest

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	strand "github.com/strand-run/strand"
	"github.com/strand-run/strand/broker/brokertest"
	"github.com/strand-run/strand/reader"
	"github.com/strand-run/strand/registry"
	"github.com/strand-run/strand/writer"
)

// TestStopOnCluster: on a 3-node R3 cluster, an idle worker's Run returns
// at once when its ctx ends (far below the 2 s wait of its open pulls, which
// it withdraws), on whichever node it is connected to; and a task submitted
// just as a worker stops runs exactly once: on the stopping worker if it
// took it in time, else on the next worker at once (not after AckWait) at
// its first attempt, or its second when the stopping worker had received it
// and handed it back once.
func TestStopOnCluster(t *testing.T) {
	if testing.Short() {
		t.Skip("a 3-node cluster")
	}
	t.Parallel()
	servers := brokertest.StartCluster(t, 3)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	reg := registry.New()
	var mu sync.Mutex
	runs := map[string][]strand.Task{}
	reg.MustRegister("record", func(ctx context.Context) error {
		tk, _ := strand.TaskFrom(ctx)
		mu.Lock()
		runs[tk.ID] = append(runs[tk.ID], tk)
		mu.Unlock()
		return nil
	})
	w, err := writer.New(connect(t, servers), writer.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	start := func(queue, id string, node int) (stop func() time.Duration) {
		// Each worker on a node of its own in turn: its pulls reach the
		// consumer's leader directly or over a route.
		order := append(slices.Clone(servers[node%3:]), servers[:node%3]...)
		r, err := reader.New(connect(t, order), reg, reader.Config{Queues: []string{queue}, WorkerID: id})
		if err != nil {
			t.Fatal(err)
		}
		runCtx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- r.Run(runCtx) }()
		return func() time.Duration {
			cancel()
			began := time.Now()
			if err := <-done; err != nil {
				t.Errorf("Run: %v", err)
			}
			return time.Since(began)
		}
	}
	var counts [3]int
	const rounds = 9
	for i := range rounds {
		queue := "stop" + string(rune('a'+i))
		stopFirst := start(queue, "first", i)
		time.Sleep(time.Second) // its consumer is made and its pulls are open
		if i < 3 {
			// Idle: nothing submitted.
			if d := stopFirst(); d > 500*time.Millisecond {
				t.Errorf("node %d: an idle worker took %v to stop; want under 500ms", i, d)
			} else {
				t.Logf("node %d: an idle worker stopped in %v", i, d)
			}
			continue
		}
		offset := time.Duration(i%3-1) * time.Millisecond
		submitted := make(chan *writer.Handle, 1)
		go func() {
			time.Sleep(max(offset, 0))
			h, err := w.Submit(ctx, "record", writer.Queue(queue))
			if err != nil {
				t.Error(err)
			}
			submitted <- h
		}()
		time.Sleep(max(-offset, 0))
		if d := stopFirst(); d > 5*time.Second {
			t.Errorf("round %d: the first worker took %v to stop", i, d)
		}
		h := <-submitted
		if h == nil {
			t.FailNow()
		}
		stopNext := start(queue, "next", i+1)
		waitCtx, cancelWait := context.WithTimeout(ctx, 15*time.Second) // below AckWait (30 s)
		err := h.Result(waitCtx, nil)
		cancelWait()
		time.Sleep(100 * time.Millisecond) // a second run would show by now
		stopNext()
		if err != nil {
			t.Fatalf("round %d (offset %v): task %s: %v (left in flight to the stopped worker?)", i, offset, h.ID(), err)
		}
		mu.Lock()
		rs := runs[h.ID()]
		mu.Unlock()
		if len(rs) != 1 {
			t.Fatalf("round %d: task ran %d times: %+v", i, len(rs), rs)
		}
		switch run := rs[0]; {
		case run.Worker == "first" && run.Attempt == 1:
			counts[0]++
		case run.Worker == "next" && run.Attempt == 1:
			counts[1]++
		case run.Worker == "next" && run.Attempt == 2:
			counts[2]++
		default:
			t.Errorf("round %d (offset %v): ran on %s at attempt %d", i, offset, run.Worker, run.Attempt)
		}
	}
	t.Logf("racing rounds: %d ran on the stopping worker, %d on the next, %d handed back to the next", counts[0], counts[1], counts[2])
}
