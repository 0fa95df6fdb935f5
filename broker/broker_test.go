package broker_test

import (
	"context"
	"errors"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/strand-run/strand/broker"
	"github.com/strand-run/strand/broker/brokertest"
)

func TestProvisionIsIdempotent(t *testing.T) {
	t.Parallel()
	s := brokertest.Start(t)
	ctx := context.Background()
	b1 := brokertest.Connect(t, s, broker.Config{})
	b2 := brokertest.Connect(t, s, broker.Config{})
	if _, err := b1.EnsureQueue(ctx, "q", broker.QueueConfig{}); err != nil {
		t.Fatal(err)
	}
	if _, err := b2.EnsureQueue(ctx, "q", broker.QueueConfig{}); err != nil {
		t.Fatal(err)
	}
	st, err := b1.KV().Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.Bucket() != "STRAND" || st.TTL() != 0 || st.History() != 1 {
		t.Fatalf("bucket %s ttl %v history %d", st.Bucket(), st.TTL(), st.History())
	}
}

func TestPrefixSeparatesDeployments(t *testing.T) {
	t.Parallel()
	s := brokertest.Start(t)
	a := brokertest.Connect(t, s, broker.Config{Prefix: "alpha"})
	b := brokertest.Connect(t, s, broker.Config{Prefix: "beta"})
	if a.Names().Bucket() == b.Names().Bucket() || a.Names().Event("r.x") == b.Names().Event("r.x") {
		t.Fatal("prefixes share names")
	}
	if _, err := b.JetStream().Stream(context.Background(), "KV_ALPHA"); err != nil {
		t.Fatal(err)
	}
}

// The submit write: create-only, republished as an event, with a per-key TTL
// where asked; these are the server features strand's cycle rests on.
func TestBucketSemantics(t *testing.T) {
	t.Parallel()
	_, b := brokertest.New(t)
	ctx := context.Background()
	n := b.Names()
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
	msg.Header.Set(jetstream.ExpectedLastSubjSeqHeader, "0")
	if _, err := b.JetStream().PublishMsg(ctx, msg); err != nil {
		t.Fatal(err)
	}
	if _, err := b.JetStream().PublishMsg(ctx, msg); err == nil {
		t.Fatal("second create-only write accepted")
	}
	if _, err := b.KV().Create(ctx, n.ResultKey("id1"), []byte("r"), jetstream.KeyTTL(time.Second)); err != nil {
		t.Fatal(err)
	}
	// The outcome is republished; the task write before it was not.
	ev, err := sub.NextMsg(time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if ev.Subject != n.Event(n.ResultKey("id1")) || string(ev.Data) != "r" {
		t.Fatalf("event %s %q", ev.Subject, ev.Data)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		_, err := b.KV().Get(ctx, n.ResultKey("id1"))
		if errors.Is(err, jetstream.ErrKeyNotFound) || errors.Is(err, jetstream.ErrKeyDeleted) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("per-key TTL did not expire the key: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if _, err := b.KV().Get(ctx, n.TaskKey("q", "id1")); err != nil {
		t.Fatalf("task record without TTL expired: %v", err)
	}
}

func TestParseTaskSubject(t *testing.T) {
	t.Parallel()
	n := broker.NewNames("")
	for _, tc := range []struct {
		subj, q, id string
		ok          bool
	}{
		{"$KV.STRAND.t.default.abc", "default", "abc", true},
		{"$KV.STRAND.t.default", "", "", false},
		{"$KV.STRAND.r.abc", "", "", false},
		{"$KV.OTHER.t.q.abc", "", "", false},
		{"$KV.STRAND.t.q.a.b", "", "", false},
	} {
		q, id, ok := n.ParseTaskSubject(tc.subj)
		if q != tc.q || id != tc.id || ok != tc.ok {
			t.Errorf("%s: got %q %q %v", tc.subj, q, id, ok)
		}
	}
}

func TestStartServerPortTaken(t *testing.T) {
	t.Parallel()
	s := brokertest.Start(t)
	_, err := broker.StartServer(broker.ServerConfig{Addr: s.Addr().String(), DataDir: t.TempDir()})
	if !errors.Is(err, syscall.EADDRINUSE) {
		t.Fatalf("second server on %s: %v", s.Addr(), err)
	}
}
