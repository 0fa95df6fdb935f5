package broker_test

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/strand-run/strand/internal/link"

	strand "github.com/strand-run/strand"
	"github.com/strand-run/strand/internal/broker"
	"github.com/strand-run/strand/internal/broker/brokertest"
	"github.com/strand-run/strand/internal/demo"
	"github.com/strand-run/strand/reader"
	"github.com/strand-run/strand/registry"
	"github.com/strand-run/strand/writer"
)

// browseWorld is a server with tasks of every outcome: 12 completed (3 of
// tenant acme), 4 failed, 1 cancelled while queued, 2 running, 3 pending
// in a queue without a worker.
func browseWorld(t *testing.T) (*broker.Broker, map[strand.Status][]string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	_, b := brokertest.New(t)
	reg := registry.New()
	if err := demo.Register(reg); err != nil {
		t.Fatal(err)
	}
	r, err := reader.New(b, reg, reader.Config{Concurrency: 4, RunningAfter: -1, ShutdownTimeout: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	rctx, stop := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = r.Run(rctx) }()
	t.Cleanup(func() { stop(); <-done })
	w, err := writer.New(b, writer.Config{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = w.Close() })
	ids := map[strand.Status][]string{}
	submit := func(st strand.Status, fn string, args []any, opts ...strand.Option) strand.Handle {
		h, err := w.Submit(ctx, fn, args, opts...)
		if err != nil {
			t.Fatal(err)
		}
		ids[st] = append(ids[st], h.ID())
		return h
	}
	var hs []strand.Handle
	for i := range 12 {
		var opts []strand.Option
		if i%4 == 0 {
			opts = append(opts, strand.Meta(map[string]string{"tenant": "acme"}))
		}
		hs = append(hs, submit(strand.StatusCompleted, "add", []any{i, 1}, opts...))
		if i%3 == 0 {
			hs = append(hs, submit(strand.StatusFailed, "fail", []any{fmt.Sprintf("disk %d full", i)}))
		}
	}
	for _, h := range hs {
		_, _ = h.Wait(ctx)
	}
	for range 3 {
		submit(strand.StatusPending, "add", []any{1, 2}, strand.Queue("idle"))
	}
	c := submit(strand.StatusCancelled, "add", []any{1, 2}, strand.Queue("idle"))
	if err := c.Cancel(ctx); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		h := submit(strand.StatusRunning, "sleep", []any{60000})
		for {
			if st, _ := h.Status(ctx); st == strand.StatusRunning {
				break
			}
			if ctx.Err() != nil {
				t.Fatal("never running")
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	return link.Core(b), ids
}

func browseIDs(t *testing.T, b *broker.Broker, f broker.TaskFilter, limit, scan int) (ids []string, pages int, partial bool) {
	t.Helper()
	cursor := ""
	for {
		p, err := b.Browse(context.Background(), f, limit, cursor, scan)
		if err != nil {
			t.Fatal(err)
		}
		pages++
		partial = partial || p.Partial
		for i, task := range p.Tasks {
			if i > 0 && task.At.After(p.Tasks[i-1].At) {
				t.Fatalf("page not newest first: %v after %v", task.At, p.Tasks[i-1].At)
			}
			if f.Status != "" && task.Status != f.Status {
				t.Fatalf("%s listed for status %s: %+v", task.Status, f.Status, task)
			}
			ids = append(ids, task.ID)
		}
		if p.Next == "" || pages > 100 {
			return ids, pages, partial
		}
		cursor = p.Next
	}
}

func sameIDs(t *testing.T, what string, got, want []string) {
	t.Helper()
	g, w := slices.Clone(got), slices.Clone(want)
	slices.Sort(g)
	slices.Sort(w)
	if !slices.Equal(g, w) {
		t.Fatalf("%s: got %d %v\nwant %d %v", what, len(got), got, len(want), want)
	}
}

func TestBrowse(t *testing.T) {
	t.Parallel()
	b, ids := browseWorld(t)
	var all []string
	for _, st := range broker.Statuses {
		got, _, _ := browseIDs(t, b, broker.TaskFilter{Status: st}, 0, 0)
		sameIDs(t, string(st), got, ids[st])
		all = append(all, ids[st]...)
	}
	// Every task once, newest first, in pages of 5, across both sources.
	got, pages, partial := browseIDs(t, b, broker.TaskFilter{}, 5, 0)
	sameIDs(t, "all", got, all)
	if pages < len(all)/5 || partial {
		t.Fatalf("%d pages, partial %v", pages, partial)
	}
	// Paging one status.
	got, _, _ = browseIDs(t, b, broker.TaskFilter{Status: strand.StatusCompleted}, 3, 0)
	sameIDs(t, "completed in pages of 3", got, ids[strand.StatusCompleted])
	// By queue.
	got, _, _ = browseIDs(t, b, broker.TaskFilter{Queue: "idle"}, 0, 0)
	sameIDs(t, "queue idle", got, append(slices.Clone(ids[strand.StatusPending]), ids[strand.StatusCancelled]...))
}

func TestSearch(t *testing.T) {
	t.Parallel()
	b, ids := browseWorld(t)
	done := ids[strand.StatusCompleted]
	got, _, _ := browseIDs(t, b, broker.TaskFilter{Meta: map[string]string{"tenant": "acme"}}, 0, 0)
	sameIDs(t, "tenant=acme", got, []string{done[0], done[4], done[8]})
	got, _, _ = browseIDs(t, b, broker.TaskFilter{Func: "fail"}, 0, 0)
	sameIDs(t, "func fail", got, ids[strand.StatusFailed])
	got, _, _ = browseIDs(t, b, broker.TaskFilter{Error: "DISK 9"}, 0, 0)
	sameIDs(t, "error text", got, ids[strand.StatusFailed][3:4])
	got, _, _ = browseIDs(t, b, broker.TaskFilter{IDPrefix: done[5]}, 0, 0)
	sameIDs(t, "id prefix", got, done[5:6])
	got, _, _ = browseIDs(t, b, broker.TaskFilter{Func: "sleep", Status: strand.StatusRunning}, 0, 0)
	sameIDs(t, "running sleeps", got, ids[strand.StatusRunning])
	// A bound below what the filter needs: partial pages that go on.
	got, pages, partial := browseIDs(t, b, broker.TaskFilter{Status: strand.StatusFailed}, 50, 4)
	if !partial || pages < 2 {
		t.Fatalf("scan bound 4: %d pages, partial %v", pages, partial)
	}
	sameIDs(t, "failed, 4 records a page", got, ids[strand.StatusFailed])
	if _, err := b.Browse(context.Background(), broker.TaskFilter{Status: "lost"}, 0, "", 0); err == nil {
		t.Fatal("status lost accepted")
	}
	if _, err := b.Browse(context.Background(), broker.TaskFilter{}, 0, "x", 0); err == nil {
		t.Fatal("cursor x accepted")
	}
}

func TestStats(t *testing.T) {
	t.Parallel()
	b, _ := browseWorld(t)
	rep, err := b.Stats(context.Background(), "", 60, 0)
	if err != nil {
		t.Fatal(err)
	}
	var processed, failed int
	for _, q := range rep.Queues {
		if len(q.Minutes) != 60 {
			t.Fatalf("%s: %d minutes", q.Queue, len(q.Minutes))
		}
		for i, m := range q.Minutes {
			if i > 0 && m.Start.Sub(q.Minutes[i-1].Start) != time.Minute {
				t.Fatalf("minutes not in order: %v", q.Minutes)
			}
			if q.Queue == "default" {
				processed += m.Processed
				failed += m.Failed
				if m.Processed > 0 && (m.RunP99 < m.RunP50 || m.WaitP99 < m.WaitP50) {
					t.Fatalf("percentiles %+v", m)
				}
			}
		}
	}
	if processed != 16 || failed != 4 || rep.Partial || rep.Scanned < 16 {
		t.Fatalf("processed %d, failed %d: %+v", processed, failed, rep)
	}
	// The cancelled task of queue idle is not work done.
	for _, q := range rep.Queues {
		if q.Queue == "idle" {
			t.Fatalf("idle has stats: %+v", q)
		}
	}
	if rep, err := b.Stats(context.Background(), "default", 5, 3); err != nil || !rep.Partial {
		t.Fatalf("scan 3: %+v %v", rep, err)
	}
}
