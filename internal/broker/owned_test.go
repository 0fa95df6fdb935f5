package broker_test

import (
	"context"
	"errors"
	"testing"
	"time"

	strand "github.com/strand-run/strand"
	"github.com/strand-run/strand/internal/broker"
	"github.com/strand-run/strand/internal/broker/brokertest"
	"github.com/strand-run/strand/internal/codec"
	"github.com/strand-run/strand/internal/link"
)

// TestOwnIDFinishedDuringSubmit: an earlier task of a chosen id whose
// outcome lands between the submit's id checks and its publish (its worker
// wrote the outcome and acked in between) makes the submit ErrDuplicate
// after the fact; an outcome of the task just submitted does not.
func TestOwnIDFinishedDuringSubmit(t *testing.T) {
	_, pb := brokertest.New(t)
	b := link.Core(pb)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	outcome := func(id string, created int64) {
		data, err := codec.Msgpack.Marshal(&codec.Outcome{Status: strand.StatusCompleted, Func: "add", Queue: "default", Created: created, Attempt: 1})
		if err != nil {
			t.Fatal(err)
		}
		w, err := b.WriteOutcome("default", id, data, codec.Msgpack, time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		select {
		case <-w.Ok():
		case err := <-w.Err():
			t.Fatal(err)
		}
	}
	task := func(id string, created int64) *broker.Task {
		env := &codec.Envelope{V: codec.Version, ID: id, Func: "add", Queue: "default", Created: created}
		data, err := codec.Msgpack.Marshal(env)
		if err != nil {
			t.Fatal(err)
		}
		return &broker.Task{Queue: "default", ID: id, Func: "add", Format: codec.Msgpack, Data: data, TTL: time.Hour, OwnID: true, Created: created}
	}
	defer broker.SetIDFreeHook(nil)

	broker.SetIDFreeHook(func(*broker.Task) { outcome("raced", 1000) }) // the earlier task ends now
	if err := b.Submit(ctx, task("raced", 2000))[0]; !errors.Is(err, strand.ErrDuplicate) {
		t.Fatalf("submit while the earlier task ended: %v, want ErrDuplicate", err)
	}

	broker.SetIDFreeHook(func(*broker.Task) { outcome("fast", 3000) }) // an outcome with the new task's created time
	if err := b.Submit(ctx, task("fast", 3000))[0]; err != nil {
		t.Fatalf("submit whose own outcome is there at once: %v", err)
	}
}
