package broker_test

import (
	"testing"
	"time"

	"github.com/strand-run/strand/broker"
	"github.com/strand-run/strand/internal/broker/brokertest"
	"github.com/strand-run/strand/internal/link"
)

// TestResyncOnLeaderElection: the leader-elected advisory of the bucket's
// stream signals Resync at once and again a second later (a replica may
// lag behind the new leader).
func TestResyncOnLeaderElection(t *testing.T) {
	t.Parallel()
	s, b := brokertest.New(t)
	core := link.Core(b)
	other := brokertest.Connect(t, s, broker.Config{})
	ch, before := core.Resync()
	if err := link.Core(other).Conn().Publish("$JS.EVENT.ADVISORY.STREAM.LEADER_ELECTED."+core.Names().Stream(), []byte("{}")); err != nil {
		t.Fatal(err)
	}
	select {
	case <-ch:
	case <-time.After(5 * time.Second):
		t.Fatal("no resync at the advisory")
	}
	ch, at := core.Resync()
	if at == before {
		t.Fatal("the count did not grow")
	}
	select {
	case <-ch:
	case <-time.After(5 * time.Second):
		t.Fatal("no resync a second after the advisory")
	}
}
