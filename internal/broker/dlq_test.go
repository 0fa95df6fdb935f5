package broker_test

import (
	"context"
	"testing"
	"time"

	pub "github.com/strand-run/strand/broker"
	"github.com/strand-run/strand/internal/link"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/strand-run/strand/internal/broker/brokertest"
)

func TestDLQStream(t *testing.T) {
	t.Parallel()
	s := brokertest.Start(t)
	ctx := context.Background()
	b := brokertest.Connect(t, s, pub.Config{Prefix: "acme", DLQMaxAge: time.Hour})
	_ = brokertest.Connect(t, s, pub.Config{Prefix: "acme"}) // finds it, changes nothing
	n := link.Core(b).Names()
	if n.DLQStream() != "ACME_DLQ" || n.DLQSubject("emails") != "acme.dlq.emails" {
		t.Fatalf("names %s %s", n.DLQStream(), n.DLQSubject("emails"))
	}
	st, err := link.Core(b).DLQ(ctx)
	if err != nil {
		t.Fatal(err)
	}
	cfg := st.CachedInfo().Config
	if cfg.MaxAge != time.Hour || cfg.Retention != jetstream.LimitsPolicy || cfg.Storage != jetstream.FileStorage ||
		len(cfg.Subjects) != 1 || cfg.Subjects[0] != "acme.dlq.>" {
		t.Fatalf("dead-letter stream %+v", cfg)
	}
}
