package main

import (
	"context"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	strand "github.com/strand-run/strand"
	"github.com/strand-run/strand/broker"
	"github.com/strand-run/strand/inspect"
	"github.com/strand-run/strand/server"
)

// TestBrowse runs the browse run with a tiny size and checks what each read
// found (never how fast it was): the records written from protocol.md are
// read back by the Inspector as the tasks they describe.
func TestBrowse(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	const n = 10_001
	res, err := browseRun(ctx, n)
	if err != nil {
		t.Fatal(err)
	}
	want := []int{50, 50, 50, 10, 1, 0, 1, 0} // the last: charts, no page
	if len(res) != len(want) {
		t.Fatalf("%d reads, want %d: %+v", len(res), len(want), res)
	}
	for i, r := range res {
		if r.Tasks != want[i] || r.Partial {
			t.Errorf("%s: %d tasks (partial %v), want %d", r.What, r.Tasks, r.Partial, want[i])
		}
	}
	if last := res[len(res)-1]; last.Scanned != n {
		t.Errorf("charts read %d records, want %d", last.Scanned, n)
	}
}

// TestKeepOutcomes checks the outcome records the browse run writes field
// by field, as the Inspector reads them.
func TestKeepOutcomes(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	srv, err := server.Start(server.Config{Addr: "127.0.0.1:0", DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Stop()
	b, err := broker.Connect(ctx, broker.Config{URL: srv.URL()})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	in, err := inspect.New(b, inspect.Config{})
	if err != nil {
		t.Fatal(err)
	}
	nc, err := nats.Connect(srv.URL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	if err := keepOutcomes(ctx, js, defaultPrefix, 6000); err != nil {
		t.Fatal(err)
	}

	p, err := in.Tasks(ctx, inspect.Filter{Status: strand.StatusFailed})
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Tasks) != 6 {
		t.Fatalf("%d failed tasks, want 6", len(p.Tasks))
	}
	f := p.Tasks[len(p.Tasks)-1] // the oldest: k00000999
	if f.ID != "k00000999" || f.Queue != "default" || f.Func != "send_email" || f.Attempt != 1 || f.Worker != "w1" ||
		f.Kind != string(strand.ErrFailed) || f.Error != "send_email: connection refused" || f.Finished.IsZero() {
		t.Errorf("failed task: %+v", f)
	}
	p, err = in.Tasks(ctx, inspect.Filter{Meta: map[string]string{"tenant": "acme"}})
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Tasks) != 1 || p.Tasks[0].ID != "k00005000" || p.Tasks[0].Status != strand.StatusCompleted {
		t.Errorf("tenant acme: %+v", p.Tasks)
	}
	st, err := in.Stats(ctx, "", 5, 0)
	if err != nil {
		t.Fatal(err)
	}
	var processed, failed int
	for _, m := range st.Queues["default"] {
		processed += m.Processed
		failed += m.Failed
	}
	if processed != 6000 || failed != 6 {
		t.Errorf("stats: %d processed, %d failed; want 6000, 6", processed, failed)
	}
}
