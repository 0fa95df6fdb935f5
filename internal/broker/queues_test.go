package broker_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/strand-run/strand/internal/link"

	"github.com/strand-run/strand/internal/broker"
	"github.com/strand-run/strand/internal/broker/brokertest"
	"github.com/strand-run/strand/internal/codec"
)

// submitTo queues n tasks of func echo in queue, with fresh ids.
func submitTo(t *testing.T, b *broker.Broker, queue string, n int) {
	t.Helper()
	var tasks []*broker.Task
	for i := range n {
		id := fmt.Sprintf("%s-%d-%d", queue, time.Now().UnixNano(), i)
		env := &codec.Envelope{V: codec.Version, ID: id, Func: "echo", Queue: queue, Created: time.Now().UnixMilli()}
		data, err := codec.EncodeEnvelope(codec.Msgpack, env)
		if err != nil {
			t.Fatal(err)
		}
		tasks = append(tasks, &broker.Task{Queue: queue, ID: id, Func: "echo", Format: codec.Msgpack, Data: data, TTL: time.Hour})
	}
	for i, err := range b.Submit(context.Background(), tasks...) {
		if err != nil {
			t.Fatalf("submit %d: %v", i, err)
		}
	}
}

func TestQueuesWithoutConsumer(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	_, b := brokertest.New(t)
	if _, err := link.Core(b).EnsureQueue(ctx, "served", broker.QueueConfig{}); err != nil {
		t.Fatal(err)
	}
	submitTo(t, link.Core(b), "served", 30)
	submitTo(t, link.Core(b), "lonely", 3)
	submitTo(t, link.Core(b), "served", 30)
	depths := func() map[string]string {
		qs, err := link.Core(b).Queues(ctx)
		if err != nil {
			t.Fatal(err)
		}
		out := map[string]string{}
		for _, q := range qs {
			out[q.Queue] = fmt.Sprintf("%d %s", q.Depth, q.Consumer)
		}
		return out
	}
	got := depths()
	if len(got) != 2 || got["served"] != "60 strand-served" || got["lonely"] != "3 " {
		t.Fatalf("queues: %v", got)
	}
	// Found once, counted since; a new queue later is found too.
	submitTo(t, link.Core(b), "other", 2)
	submitTo(t, link.Core(b), "lonely", 1)
	if got := depths(); len(got) != 3 || got["lonely"] != "4 " || got["other"] != "2 " {
		t.Fatalf("queues: %v", got)
	}
}
