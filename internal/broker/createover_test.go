package broker_test

import (
	"context"
	"testing"
	"time"

	"github.com/strand-run/strand/internal/broker/brokertest"
	"github.com/strand-run/strand/internal/link"
)

// TestCreateOverItsOwnCopy: a create-only write sent again after its
// answer was lost finds its own first copy stored: that is its write,
// not an existing record; a record with other bytes still is one.
func TestCreateOverItsOwnCopy(t *testing.T) {
	t.Parallel()
	_, b := brokertest.New(t)
	core := link.Core(b)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	key := core.Names().CancelKey("default", "twice")
	seq, created, err := core.CreateOver(ctx, key, []byte("first"))
	if err != nil || !created {
		t.Fatalf("first write: created %v, %v", created, err)
	}
	again, created, err := core.CreateOver(ctx, key, []byte("first"))
	if err != nil || !created || again != seq {
		t.Fatalf("the same write again: seq %d created %v, %v; want seq %d, created", again, created, err, seq)
	}
	if _, created, err := core.CreateOver(ctx, key, []byte("other")); err != nil || created {
		t.Fatalf("another write: created %v, %v; want an existing record", created, err)
	}
}
