package broker_test

import (
	"context"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/strand-run/strand/broker"
	ib "github.com/strand-run/strand/internal/broker"
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
	core.WatchingLeaders()
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

// TestAnswerAfterLeaderElection: a write whose answer never comes is
// given up on (a Transient error, to send it again) once a leader
// election comes after it was sent and answerGrace has passed; one whose
// answer comes within the grace gets it.
func TestAnswerAfterLeaderElection(t *testing.T) {
	t.Parallel()
	s, b := brokertest.New(t)
	core := link.Core(b)
	other := link.Core(brokertest.Connect(t, s, broker.Config{})).Conn()
	core.WatchingLeaders()
	// A "stream" that takes writes and answers only when told to.
	answers := make(chan *nats.Msg, 2)
	sub, err := other.Subscribe("answer.late.*", func(m *nats.Msg) { answers <- m })
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Unsubscribe()
	if err := other.Flush(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	send := func(subject string) *ib.Write {
		w, err := core.PublishAsync(&nats.Msg{Subject: subject, Data: []byte("x")})
		if err != nil {
			t.Fatal(err)
		}
		return w
	}
	lost := send("answer.late.lost")
	slow := send("answer.late.slow")
	<-answers
	slowMsg := <-answers
	if slowMsg.Subject != "answer.late.slow" {
		t.Fatal("writes came out of order")
	}
	if err := other.Publish("$JS.EVENT.ADVISORY.STREAM.LEADER_ELECTED."+core.Names().Stream(), []byte("{}")); err != nil {
		t.Fatal(err)
	}
	time.AfterFunc(50*time.Millisecond, func() { _ = slowMsg.Respond([]byte(`{"stream":"S","seq":7}`)) })
	if ack, err := core.Answer(ctx, slow); err != nil || ack.Sequence != 7 {
		t.Fatalf("a slow answer within the grace: %+v, %v", ack, err)
	}
	began := time.Now()
	_, err = core.Answer(ctx, lost)
	if !ib.Transient(err) {
		t.Fatalf("a lost answer: %v, want a Transient error", err)
	}
	if waited := time.Since(began); waited > 10*time.Second {
		t.Fatalf("gave up after %v, not at the election's grace", waited)
	}
}
