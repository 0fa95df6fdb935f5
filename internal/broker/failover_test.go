package broker_test

import (
	"context"
	"errors"
	"testing"
	"time"

	pub "github.com/strand-run/strand/broker"
	"github.com/strand-run/strand/internal/link"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/strand-run/strand/internal/broker"
	"github.com/strand-run/strand/internal/broker/brokertest"
	"github.com/strand-run/strand/server"
)

// TestFailoverLeavesIsolatedServer cuts the node a broker is connected to
// off from its two peers (its routes, not its client port) and checks that
// the broker moves to another node of its URL list, where JetStream answers.
func TestFailoverLeavesIsolatedServer(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a 3-node cluster")
	}
	t.Parallel()
	servers, partition := brokertest.StartPartitionedCluster(t, 3)
	// Cut a node that does not lead the meta group: it stops answering at
	// once. A cut-off meta leader answers account info until it steps down
	// (a client on it moved 22s after the cut, too long for this test).
	victim := 0
	for i, s := range servers {
		if !s.NATS().JetStreamIsLeader() {
			victim = i
			break
		}
	}
	others := make([]*server.Server, 0, 2)
	for i, s := range servers {
		if i != victim {
			others = append(others, s)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	// The victim first and no shuffling, so the broker starts on it.
	b, err := broker.Connect(ctx, broker.Config{URL: brokertest.URLs(append([]*server.Server{servers[victim]}, others...)...), Replicas: 3}, nats.DontRandomize())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Close() })
	nc := b.Conn()
	if got, want := nc.ConnectedUrl(), servers[victim].URL(); got != want {
		t.Fatalf("connected to %s, want the first URL %s", got, want)
	}

	partition.Isolate(victim)
	cut := time.Now()
	for nc.ConnectedUrl() == servers[victim].URL() || !nc.IsConnected() {
		if time.Since(cut) > 15*time.Second {
			t.Fatalf("still on the isolated %s 15s after the cut", servers[victim].NATS().Name())
		}
		time.Sleep(20 * time.Millisecond)
	}
	moved := time.Since(cut)
	if n := servers[victim].NATS().NumRoutes(); n != 0 {
		t.Fatalf("the isolated %s still has %d routes", servers[victim].NATS().Name(), n)
	}
	if _, err := b.JetStream().AccountInfo(ctx); err != nil {
		t.Fatalf("account info on %s after the move: %v", nc.ConnectedUrl(), err)
	}
	t.Logf("moved from %s to %s %v after the cut", servers[victim].URL(), nc.ConnectedUrl(), moved.Round(time.Millisecond))

	// strand's bucket (R3, two of three nodes left) takes writes again.
	for {
		pctx, pcancel := context.WithTimeout(ctx, time.Second)
		_, err := b.JetStream().Publish(pctx, b.Names().KeySubject(b.Names().StateKey("q", "failover-probe")), []byte("ok"))
		pcancel()
		if err == nil {
			break
		}
		if ctx.Err() != nil || !broker.Transient(err) {
			t.Fatalf("write to the bucket after the move: %v", err)
		}
	}
	t.Logf("bucket writable %v after the cut", time.Since(cut).Round(time.Millisecond))
}

// TestFailoverStaysOnOnlyServer: with one server, a JetStream that does
// not answer is no reason to reconnect; there is nowhere to go.
func TestFailoverStaysOnOnlyServer(t *testing.T) {
	t.Parallel()
	s := brokertest.Start(t)
	b := brokertest.Connect(t, s, pub.Config{FailoverInterval: 20 * time.Millisecond, FailoverTimeout: 100 * time.Millisecond, FailoverFailures: 2})
	if err := s.NATS().DisableJetStream(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	if _, err := link.Core(b).JetStream().AccountInfo(ctx); !broker.Transient(err) && !errors.Is(err, jetstream.ErrJetStreamNotEnabled) {
		t.Fatalf("account info with JetStream off: %v, want it unanswered", err)
	}
	time.Sleep(500 * time.Millisecond) // some 25 checks, 12 runs of 2 failures
	if n := link.Core(b).Conn().Stats().Reconnects; n != 0 {
		t.Fatalf("%d reconnects to the only server", n)
	}
}

// TestFailoverFromEnv: the watchdog's settings come from STRAND_FAILOVER_*.
func TestFailoverFromEnv(t *testing.T) {
	t.Setenv("STRAND_FAILOVER_INTERVAL", "250ms")
	t.Setenv("STRAND_FAILOVER_FAILURES", "2")
	c, err := broker.FromEnv()
	if err != nil {
		t.Fatal(err)
	}
	if c.Failover.Interval != 250*time.Millisecond || c.Failover.Failures != 2 {
		t.Fatalf("failover config from env: %+v", c.Failover)
	}
}
