package broker_test

import (
	"context"
	"testing"
	"time"

	pub "github.com/strand-run/strand/broker"
	"github.com/strand-run/strand/internal/link"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/strand-run/strand/internal/broker"
	"github.com/strand-run/strand/internal/broker/brokertest"
)

func TestProvisionIsIdempotent(t *testing.T) {
	t.Parallel()
	s := brokertest.Start(t)
	ctx := context.Background()
	b1 := brokertest.Connect(t, s, pub.Config{})
	b2 := brokertest.Connect(t, s, pub.Config{})
	if _, err := link.Core(b1).EnsureQueue(ctx, "q", broker.QueueConfig{}); err != nil {
		t.Fatal(err)
	}
	if _, err := link.Core(b2).EnsureQueue(ctx, "q", broker.QueueConfig{}); err != nil {
		t.Fatal(err)
	}
	kv, err := link.Core(b1).JetStream().KeyValue(ctx, "STRAND")
	if err != nil {
		t.Fatal(err)
	}
	st, err := kv.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.Bucket() != "STRAND" || st.TTL() != 0 || st.History() != 1 {
		t.Fatalf("bucket %s ttl %v history %d", st.Bucket(), st.TTL(), st.History())
	}
	ts, err := link.Core(b1).JetStream().Stream(ctx, "STRAND_TASKS")
	if err != nil {
		t.Fatal(err)
	}
	if c := ts.CachedInfo().Config; c.Retention != jetstream.WorkQueuePolicy || c.MaxMsgsPerSubject != 1 ||
		!c.DiscardNewPerSubject || c.AllowRollup || !c.AllowMsgTTL || !c.AllowDirect {
		t.Fatalf("tasks stream %+v", c)
	}
}

func TestPrefixSeparatesDeployments(t *testing.T) {
	t.Parallel()
	s := brokertest.Start(t)
	a := brokertest.Connect(t, s, pub.Config{Prefix: "alpha"})
	b := brokertest.Connect(t, s, pub.Config{Prefix: "beta"})
	if link.Core(a).Names().Bucket() == link.Core(b).Names().Bucket() || link.Core(a).Names().Event("r.q.x") == link.Core(b).Names().Event("r.q.x") {
		t.Fatal("prefixes share names")
	}
	if _, err := link.Core(b).JetStream().Stream(context.Background(), "KV_ALPHA"); err != nil {
		t.Fatal(err)
	}
}

// The task cycle's server features: a task subject takes one message,
// whatever headers its publisher sets, until its ack removes it; outcomes
// are republished as events and expire by their per-key TTL.
func TestTaskAndRecordSemantics(t *testing.T) {
	t.Parallel()
	_, b := brokertest.New(t)
	ctx := context.Background()
	n := link.Core(b).Names()
	sub, err := b.Conn().SubscribeSync(n.Event(">"))
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Unsubscribe()
	if err := b.Conn().Flush(); err != nil {
		t.Fatal(err)
	}
	msg := nats.NewMsg(n.TaskSubject("q", "id1"))
	msg.Data = []byte("x")
	if _, err := link.Core(b).JetStream().PublishMsg(ctx, msg); err != nil {
		t.Fatal(err)
	}
	msg.Data = []byte("y") // no create-only header: refused all the same
	if _, err := link.Core(b).JetStream().PublishMsg(ctx, msg); err == nil {
		t.Fatal("second task on a subject accepted")
	}
	msg.Header.Set("Nats-Rollup", "sub")
	if _, err := link.Core(b).JetStream().PublishMsg(ctx, msg); err == nil {
		t.Fatal("rollup over a queued task accepted")
	}
	if rec, err := link.Core(b).Queued(ctx, "q", "id1"); err != nil || rec == nil || string(rec.Data) != "x" {
		t.Fatalf("queued task %+v, %v", rec, err)
	}
	cons, err := link.Core(b).EnsureQueue(ctx, "q", broker.QueueConfig{})
	if err != nil {
		t.Fatal(err)
	}
	batch, err := cons.Fetch(1, jetstream.FetchMaxWait(2*time.Second), jetstream.FetchPriorityGroup("strand"))
	if err != nil {
		t.Fatal(err)
	}
	for m := range batch.Messages() {
		if err := m.DoubleAck(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if rec, err := link.Core(b).Queued(ctx, "q", "id1"); err != nil || rec != nil {
		t.Fatalf("acked task still queued: %+v, %v", rec, err)
	}
	w, err := link.Core(b).WriteOutcome("q", "id1", []byte{0x80}, 0, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	select {
	case <-w.Ok():
	case err := <-w.Err():
		t.Fatal(err)
	}
	ev, err := sub.NextMsg(time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if ev.Subject != n.Event(n.ResultKey("q", "id1")) {
		t.Fatalf("event %s %q", ev.Subject, ev.Data)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		rec, err := link.Core(b).Read(ctx, n.ResultKey("q", "id1"))
		if err == nil && rec == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("per-key TTL did not expire the outcome: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func TestParseTaskSubject(t *testing.T) {
	t.Parallel()
	n := broker.NewNames("")
	for _, tc := range []struct {
		subj, q, id string
		ok          bool
	}{
		{"strand.t.default.abc", "default", "abc", true},
		{"strand.t.default", "", "", false},
		{"strand.r.abc", "", "", false},
		{"other.t.q.abc", "", "", false},
		{"strand.t.q.a.b", "", "", false},
	} {
		q, id, ok := n.ParseTaskSubject(tc.subj)
		if q != tc.q || id != tc.id || ok != tc.ok {
			t.Errorf("%s: got %q %q %v", tc.subj, q, id, ok)
		}
	}
	for _, tc := range []struct {
		s, kind, q, id string
		ok             bool
	}{
		{"r.q.abc", "r", "q", "abc", true},
		{"strand.evt.c.q.abc", "c", "q", "abc", true},
		{"$KV.STRAND.s.q.abc", "s", "q", "abc", true},
		{"r.abc", "", "", "", false},
		{"r.q.a.b", "", "", "", false},
	} {
		kind, q, id, ok := n.ParseKey(tc.s)
		if kind != tc.kind || q != tc.q || id != tc.id || ok != tc.ok {
			t.Errorf("%s: got %q %q %q %v", tc.s, kind, q, id, ok)
		}
	}
}
