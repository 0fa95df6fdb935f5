package clustertest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/strand-run/strand/internal/link"

	"github.com/nats-io/nats.go"
	"github.com/rs/zerolog"

	strand "github.com/strand-run/strand"
	"github.com/strand-run/strand/broker"
	"github.com/strand-run/strand/internal/broker/brokertest"
	"github.com/strand-run/strand/reader"
	"github.com/strand-run/strand/registry"
	"github.com/strand-run/strand/server"
	"github.com/strand-run/strand/writer"
)

const (
	tasks       = 1000
	chunk       = 100
	taskMS      = 20
	concurrency = 32
	killAfter   = 200 // completed tasks
)

// TestClusterFailover runs 1 000 tasks on a 3-node cluster with R3 and shuts
// down a node once 200 have completed: the stream leader of KV_STRAND in one
// run, JetStream's meta leader in the other. The writer and the worker are
// connected to the node that dies, and must move to the others by
// themselves. Every task must complete, with one completed outcome each.
func TestClusterFailover(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a 3-node cluster twice")
	}
	for _, tc := range []struct {
		name   string
		victim func(t *testing.T, b *broker.Broker, servers []*server.Server) *server.Server
	}{
		{"stream leader", func(t *testing.T, b *broker.Broker, servers []*server.Server) *server.Server {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			s, err := brokertest.StreamLeader(ctx, link.Core(b).JetStream(), link.Core(b).Names().TasksStream(), servers)
			if err != nil {
				t.Fatal(err)
			}
			return s
		}},
		{"meta leader", func(t *testing.T, b *broker.Broker, servers []*server.Server) *server.Server {
			s := brokertest.MetaLeader(servers)
			if s == nil {
				t.Fatal("no meta leader")
			}
			return s
		}},
	} {
		t.Run(tc.name, func(t *testing.T) { failover(t, tc.victim) })
	}
}

func failover(t *testing.T, victimOf func(*testing.T, *broker.Broker, []*server.Server) *server.Server) {
	servers := brokertest.StartCluster(t, 3)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	admin := connect(t, servers)
	checkReplicas(t, ctx, admin)
	victim := victimOf(t, admin, servers)
	streamLeader, _ := brokertest.StreamLeader(ctx, link.Core(admin).JetStream(), link.Core(admin).Names().TasksStream(), servers)
	t.Logf("victim %s (stream leader %s, meta leader %s)", victim.NATS().Name(), streamLeader.NATS().Name(), brokertest.MetaLeader(servers).NATS().Name())

	// The worker and the writer start on the victim and must fail over.
	order := append([]*server.Server{victim}, slices.DeleteFunc(slices.Clone(servers), func(s *server.Server) bool { return s == victim })...)
	reg := registry.New()
	var runs sync.Map // task id → *atomic.Int32
	reg.MustRegister("sleep", func(ctx context.Context, ms int) error {
		if tk, ok := strand.TaskFrom(ctx); ok {
			n, _ := runs.LoadOrStore(tk.ID, new(atomic.Int32))
			n.(*atomic.Int32).Add(1)
		}
		select {
		case <-time.After(time.Duration(ms) * time.Millisecond):
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	})
	reg.MustRegister("add", func(a, b int) int { return a + b })
	wb := connect(t, order)
	lg := zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.WarnLevel).With().Timestamp().Logger()
	defer runWorker(t, wb, reg, reader.Config{Concurrency: concurrency, Logger: &lg})()
	checkConsumerReplicas(t, ctx, admin)

	w, err := writer.New(connect(t, order), writer.Config{Logger: &lg})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()

	// Submit in chunks, paced so that submitting goes on across the kill;
	// each handle is waited for as soon as it exists.
	var (
		completed atomic.Int64
		mu        sync.Mutex
		doneAt    []time.Time
		failures  []error
		waiters   sync.WaitGroup
		reached   = make(chan struct{})
		once      sync.Once
	)
	fail := func(err error) {
		mu.Lock()
		failures = append(failures, err)
		mu.Unlock()
	}
	handles := make([]strand.Handle, 0, tasks)
	start := time.Now()
	submitted := make(chan struct{})
	go func() {
		defer close(submitted)
		for range tasks / chunk {
			calls := make([]writer.Call, chunk)
			for i := range calls {
				calls[i] = writer.Call{Func: "sleep", Args: []any{taskMS}}
			}
			hs, errs := w.SubmitBatch(ctx, calls)
			for i, h := range hs {
				if errs[i] != nil {
					fail(fmt.Errorf("submit: %w", errs[i]))
					continue
				}
				handles = append(handles, h)
				waiters.Go(func() {
					if err := h.Result(ctx, nil); err != nil {
						fail(fmt.Errorf("result %s: %w", h.ID(), err))
						return
					}
					mu.Lock()
					doneAt = append(doneAt, time.Now())
					mu.Unlock()
					if completed.Add(1) >= killAfter {
						once.Do(func() { close(reached) })
					}
				})
			}
			time.Sleep(50 * time.Millisecond)
		}
	}()

	select {
	case <-reached:
	case <-ctx.Done():
		t.Fatalf("only %d tasks completed before the deadline", completed.Load())
	}
	killed := time.Now()
	victim.Stop()
	t.Logf("%s shut down after %d of %d tasks completed (%v after the first submit)",
		victim.NATS().Name(), completed.Load(), tasks, killed.Sub(start).Round(time.Millisecond))
	lctx, lcancel := context.WithTimeout(ctx, 30*time.Second)
	if s, err := brokertest.StreamLeader(lctx, link.Core(admin).JetStream(), link.Core(admin).Names().TasksStream(), servers); err == nil {
		t.Logf("stream leader %s %v after the kill", s.NATS().Name(), time.Since(killed).Round(time.Millisecond))
	} else {
		t.Error(err)
	}
	lcancel()

	<-submitted
	submitTook := time.Since(start)
	waiters.Wait()
	elapsed := time.Since(start)
	for _, err := range failures {
		t.Error(err)
	}
	if got := completed.Load(); got != tasks {
		explainStuck(t, admin, handles, &runs)
		t.Fatalf("%d of %d tasks completed", got, tasks)
	}

	// Each task has one outcome, completed; count the handler's reruns.
	reruns := 0
	for _, h := range handles {
		o, err := h.Info(ctx)
		if err != nil || o.Status != strand.StatusCompleted {
			t.Errorf("task %s: outcome %+v, %v", h.ID(), o, err)
		}
		if n, ok := runs.Load(h.ID()); ok {
			reruns += int(n.(*atomic.Int32).Load()) - 1
		}
	}
	mu.Lock()
	slices.SortFunc(doneAt, func(a, b time.Time) int { return a.Compare(b) })
	var stall, stallAt time.Duration
	for i := 1; i < len(doneAt); i++ {
		if d := doneAt[i].Sub(doneAt[i-1]); doneAt[i].After(killed) && d > stall {
			stall, stallAt = d, doneAt[i-1].Sub(killed)
		}
	}
	buckets := map[int]int{} // completions per second after the kill
	for _, at := range doneAt {
		if at.After(killed) {
			buckets[int(at.Sub(killed)/time.Second)]++
		}
	}
	mu.Unlock()
	if elapsed > 5*time.Second {
		t.Logf("completions per second after the kill: %v; submitting took %v", buckets, submitTook.Round(time.Millisecond))
	}
	t.Logf("all %d completed in %v; longest pause between completions after the kill %v, from %v after it; %d handler reruns",
		tasks, elapsed.Round(time.Millisecond), stall.Round(time.Millisecond), stallAt.Round(time.Millisecond), reruns)
}

// explainStuck logs what is known of the tasks that did not complete (at
// most 5: status, attempt, worker, handler runs) and of the queue's
// consumer, for a failure that is rare enough to need it.
func explainStuck(t *testing.T, admin *broker.Broker, handles []strand.Handle, runs *sync.Map) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	shown := 0
	for _, h := range handles {
		info, err := h.Info(ctx)
		if err == nil && info.Status == strand.StatusCompleted {
			continue
		}
		n := int32(0)
		if c, ok := runs.Load(h.ID()); ok {
			n = c.(*atomic.Int32).Load()
		}
		if err != nil {
			t.Logf("stuck %s: info: %v; handler runs %d", h.ID(), err, n)
		} else {
			t.Logf("stuck %s: status %s, attempt %d, worker %q, waiting %q; handler runs %d", h.ID(), info.Status, info.Attempt, info.Worker, info.Waiting, n)
		}
		if shown++; shown == 5 {
			break
		}
	}
	cons, err := link.Core(admin).JetStream().Consumer(ctx, link.Core(admin).Names().TasksStream(), link.Core(admin).Names().Consumer("default"))
	if err != nil {
		t.Logf("consumer: %v", err)
		return
	}
	ci := cons.CachedInfo()
	t.Logf("consumer %s: pending %d, ack pending %d, redelivered %d, waiting %d, delivered %d, ack floor %d, cluster %+v",
		ci.Name, ci.NumPending, ci.NumAckPending, ci.NumRedelivered, ci.NumWaiting, ci.Delivered.Stream, ci.AckFloor.Stream, ci.Cluster)
}

// runWorker runs a worker of reg on b until the returned stop, which
// waits for it and reports an error of its Run.
func runWorker(t *testing.T, b *broker.Broker, reg *registry.Registry, cfg reader.Config) (stop func()) {
	t.Helper()
	r, err := reader.New(b, reg, cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	return func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	}
}

// connect opens a broker on servers in this order (no shuffle), R3.
func connect(t *testing.T, servers []*server.Server) *broker.Broker {
	t.Helper()
	b, err := broker.Connect(context.Background(), broker.Config{URL: brokertest.URLs(servers...), Replicas: 3},
		nats.DontRandomize())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Close() })
	return b
}

// checkReplicas checks that the task bucket's stream and the dead-letter
// stream have 3 replicas.
func checkReplicas(t *testing.T, ctx context.Context, b *broker.Broker) {
	t.Helper()
	for _, name := range []string{link.Core(b).Names().Stream(), link.Core(b).Names().TasksStream(), link.Core(b).Names().DLQStream()} {
		st, err := link.Core(b).JetStream().Stream(ctx, name)
		if err != nil {
			t.Fatalf("stream %s: %v", name, err)
		}
		info := st.CachedInfo()
		if info.Config.Replicas != 3 || info.Cluster == nil || len(info.Cluster.Replicas) != 2 {
			t.Fatalf("stream %s: %d replicas configured, cluster %+v; want 3", name, info.Config.Replicas, info.Cluster)
		}
	}
}

func checkConsumerReplicas(t *testing.T, ctx context.Context, b *broker.Broker) {
	t.Helper()
	var err error
	for ctx.Err() == nil {
		// A consumer that has no leader yet may leave an info request
		// unanswered: ask with a short timeout, again and again.
		cctx, ccancel := context.WithTimeout(ctx, time.Second)
		cons, cerr := link.Core(b).JetStream().Consumer(cctx, link.Core(b).Names().TasksStream(), link.Core(b).Names().Consumer("default"))
		ccancel()
		if cerr == nil {
			info := cons.CachedInfo()
			if info.Config.Replicas != 3 {
				t.Fatalf("consumer %s: %d replicas configured; want 3", info.Name, info.Config.Replicas)
			}
			if info.Cluster != nil && info.Cluster.Leader != "" && len(info.Cluster.Replicas) == 2 {
				return
			}
			cerr = fmt.Errorf("consumer %s: cluster %+v; want a leader and 2 replicas", info.Name, info.Cluster)
		}
		err = cerr
		time.Sleep(20 * time.Millisecond) // the worker creates it as it starts
	}
	t.Fatalf("consumer: %v", errors.Join(err, ctx.Err()))
}
