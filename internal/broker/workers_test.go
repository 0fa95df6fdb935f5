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

	"github.com/strand-run/strand/internal/broker/brokertest"
)

// The workers bucket is made on first use, shared by every process, and lets
// a record expire by its own TTL.
func TestWorkersBucket(t *testing.T) {
	t.Parallel()
	s := brokertest.Start(t)
	ctx := context.Background()
	b1 := brokertest.Connect(t, s, pub.Config{})
	b2 := brokertest.Connect(t, s, pub.Config{})
	if link.Core(b1).Names().WorkersBucket() != "STRAND_WORKERS" {
		t.Fatalf("workers bucket %q", link.Core(b1).Names().WorkersBucket())
	}
	kv, err := link.Core(b1).Workers(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := link.Core(b2).Workers(ctx); err != nil {
		t.Fatalf("second lookup: %v", err)
	}
	st, err := kv.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.Bucket() != "STRAND_WORKERS" || st.History() != 1 || st.TTL() != 0 || st.LimitMarkerTTL() == 0 {
		t.Fatalf("bucket %s history %d ttl %v marker ttl %v", st.Bucket(), st.History(), st.TTL(), st.LimitMarkerTTL())
	}
	info := st.(*jetstream.KeyValueBucketStatus).StreamInfo()
	if !info.Config.AllowMsgTTL || info.Config.Storage != jetstream.MemoryStorage {
		t.Fatalf("stream config: allow msg ttl %v, storage %v", info.Config.AllowMsgTTL, info.Config.Storage)
	}

	msg := &nats.Msg{Subject: link.Core(b1).Names().WorkerSubject("w1"), Data: []byte("x")}
	if _, err := link.Core(b1).JetStream().PublishMsg(ctx, msg, jetstream.WithMsgTTL(time.Second)); err != nil {
		t.Fatal(err)
	}
	if _, err := kv.Get(ctx, "w1"); err != nil {
		t.Fatalf("record just written: %v", err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, err := kv.Get(ctx, "w1")
		if errors.Is(err, jetstream.ErrKeyNotFound) || errors.Is(err, jetstream.ErrKeyDeleted) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("record still there 10s after its 1s TTL: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
