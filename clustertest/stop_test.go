package clustertest

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	ib "github.com/strand-run/strand/internal/broker"
	"github.com/strand-run/strand/internal/link"

	strand "github.com/strand-run/strand"

	"github.com/strand-run/strand/internal/broker/brokertest"
	"github.com/strand-run/strand/reader"
	"github.com/strand-run/strand/registry"
	"github.com/strand-run/strand/writer"
)

// TestStopOnCluster: on a 3-node R3 cluster, an idle worker connected to
// the node that leads its queue's lane consumers (moved there) returns from
// Run at once when its ctx ends (far below the 2 s wait of its open pulls,
// which it withdraws); one on another node waits for its pulls to end, as a
// withdrawal there could drop a task on the route (broker.Puller.Close). A
// task submitted just as a worker stops, on any node, runs exactly once: on
// the stopping worker if it took it in time, else on the next worker at once
// (not after AckWait) at its first attempt, or its second when the stopping
// worker had received it and handed it back once.
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
	admin := connect(t, servers)
	var lastServer string // the server the last worker started is on
	start := func(queue, id string, node int) (stop func() time.Duration) {
		// Each worker on a node of its own in turn: its pulls reach the
		// consumer's leader directly or over a route.
		order := append(slices.Clone(servers[node%3:]), servers[:node%3]...)
		rb := connect(t, order)
		lastServer = rb.Conn().ConnectedServerName()
		r, err := reader.New(rb, reg, reader.Config{Queues: []string{queue}, WorkerID: id})
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
	leader := func(consumer string) string {
		cons, err := link.Core(admin).JetStream().Consumer(ctx, link.Core(admin).Names().TasksStream(), consumer)
		if err != nil || cons.CachedInfo().Cluster == nil {
			t.Fatalf("consumer %s: %v", consumer, err)
		}
		return cons.CachedInfo().Cluster.Leader
	}
	// moveLeaders makes server lead every lane consumer of queue.
	moveLeaders := func(queue, server string) {
		for _, lane := range ib.Lanes {
			name := link.Core(admin).Names().LaneConsumer(queue, lane)
			for deadline := time.Now().Add(20 * time.Second); leader(name) != server; {
				if time.Now().After(deadline) {
					t.Fatalf("consumer %s: leader %s, not %s", name, leader(name), server)
				}
				body := `{"placement": {"preferred": "` + server + `"}}`
				_, _ = admin.Conn().Request("$JS.API.CONSUMER.LEADER.STEPDOWN."+link.Core(admin).Names().TasksStream()+"."+name, []byte(body), 2*time.Second)
				time.Sleep(300 * time.Millisecond)
			}
		}
	}
	// Idle, on the node that leads every lane consumer of its queue: Run
	// returns at once. On another node: within the pulls' wait.
	stop := start("idle", "idle", 0)
	time.Sleep(time.Second) // its consumers are made and its pulls are open
	moveLeaders("idle", lastServer)
	time.Sleep(300 * time.Millisecond) // pulls open again after the leader change
	if d := stop(); d > 500*time.Millisecond {
		t.Errorf("an idle worker on its consumers' leader took %v to stop; want under 500ms", d)
	} else {
		t.Logf("an idle worker on its consumers' leader stopped in %v", d)
	}
	stop = start("idle", "idle", 1)
	time.Sleep(time.Second)
	on := lastServer
	moveLeaders("idle", servers[2].NATS().Name())
	time.Sleep(300 * time.Millisecond)
	if d := stop(); d > 4*time.Second {
		t.Errorf("an idle worker on %s took %v to stop; want its pulls' 2 s at most", on, d)
	} else {
		t.Logf("an idle worker on %s (its consumers led by %s) stopped in %v", on, servers[2].NATS().Name(), d)
	}
	var counts [3]int
	const rounds = 12
	for i := range rounds {
		queue := fmt.Sprintf("stop%d", i)
		stopFirst := start(queue, "first", i)
		time.Sleep(time.Second)                           // its consumer is made and its pulls are open
		offset := time.Duration(i%4-2) * time.Millisecond // -2 ms … +1 ms around the stop
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
		t.Logf("round %d: first worker on %s, consumer leader %s", i, lastServer, leader(link.Core(admin).Names().Consumer(queue)))
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
