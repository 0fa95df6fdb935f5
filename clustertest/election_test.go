package clustertest

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	ib "github.com/strand-run/strand/internal/broker"
	"github.com/strand-run/strand/internal/link"

	"github.com/nats-io/nats.go"

	strand "github.com/strand-run/strand"
	"github.com/strand-run/strand/broker"
	"github.com/strand-run/strand/internal/broker/brokertest"
	"github.com/strand-run/strand/reader"
	"github.com/strand-run/strand/registry"
	"github.com/strand-run/strand/server"
	"github.com/strand-run/strand/writer"
)

// TestSubmitDuringElection: producers that connect and submit while the
// tasks stream elects a new leader (its leader's node just went down) ride
// the election out — as `strand submit` does: connect, submit, exit — and
// every task they submitted runs.
func TestSubmitDuringElection(t *testing.T) {
	if testing.Short() {
		t.Skip("a 3-node cluster")
	}
	t.Parallel()
	servers := brokertest.StartCluster(t, 3)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	admin := connect(t, servers)
	if _, err := link.Core(admin).EnsureQueue(ctx, "default", ib.QueueConfig{}); err != nil {
		t.Fatal(err)
	}
	victim := brokertest.StopStreamLeader(t, link.Core(admin).JetStream(), link.Core(admin).Names().TasksStream(), servers)
	killed := time.Now()
	// The dead node comes first in the producers' URL list, as it would for
	// a producer configured with it.
	order := append([]*server.Server{victim}, slices.DeleteFunc(slices.Clone(servers), func(s *server.Server) bool { return s == victim })...)

	const producers = 8
	ids := make([]string, producers)
	errs := make([]error, producers)
	took := make([]time.Duration, producers)
	var wg sync.WaitGroup
	for i := range producers {
		wg.Go(func() {
			pctx, cancel := context.WithTimeout(ctx, 20*time.Second)
			defer cancel()
			began := time.Now()
			b, err := broker.Connect(pctx, broker.Config{URL: brokertest.URLs(order...), Replicas: 3}, nats.DontRandomize())
			if err != nil {
				errs[i] = err
				return
			}
			defer b.Close()
			w, err := writer.New(b, writer.Config{})
			if err != nil {
				errs[i] = err
				return
			}
			defer w.Close()
			h, err := w.Submit(pctx, "add", []any{i, 1})
			if err != nil {
				errs[i] = err
				return
			}
			ids[i], took[i] = h.ID(), time.Since(began)
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("producer %d: %v", i, err)
		}
	}
	t.Logf("%d producers submitted %v after the stream leader %s went down (each took %v)",
		producers, time.Since(killed).Round(time.Millisecond), victim.NATS().Name(), slices.Max(took).Round(time.Millisecond))
	if t.Failed() {
		return
	}

	reg := registry.New()
	reg.MustRegister("add", func(a, b int) int { return a + b })
	r, err := reader.New(connect(t, servers), reg, reader.Config{})
	if err != nil {
		t.Fatal(err)
	}
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- r.Run(runCtx) }()
	defer func() { stop(); <-done }()
	w, err := writer.New(connect(t, servers), writer.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	for i, id := range ids {
		h, err := w.Open(id, strand.Queue("default"))
		if err != nil {
			t.Fatal(err)
		}
		var sum int
		if err := h.Result(ctx, &sum); err != nil || sum != i+1 {
			t.Errorf("task %s of producer %d: %d, %v", id, i, sum, err)
		}
	}
}
