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

func TestItemsStream(t *testing.T) {
	t.Parallel()
	s := brokertest.Start(t)
	ctx := context.Background()
	b := brokertest.Connect(t, s, pub.Config{Prefix: "acme", ItemsMaxAge: time.Hour})
	_ = brokertest.Connect(t, s, pub.Config{Prefix: "acme"}) // finds it, changes nothing
	n := link.Core(b).Names()
	if n.ItemsStream() != "ACME_ITEMS" || n.ItemsSubject("q", "x1") != "acme.items.q.x1" {
		t.Fatalf("names %s %s", n.ItemsStream(), n.ItemsSubject("q", "x1"))
	}
	st, err := link.Core(b).JetStream().Stream(ctx, n.ItemsStream())
	if err != nil {
		t.Fatal(err)
	}
	cfg := st.CachedInfo().Config
	if cfg.MaxAge != time.Hour || cfg.Retention != jetstream.LimitsPolicy || cfg.Storage != jetstream.FileStorage ||
		len(cfg.Subjects) != 1 || cfg.Subjects[0] != "acme.items.>" {
		t.Fatalf("items stream %+v", cfg)
	}
}
