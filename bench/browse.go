package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"slices"
	"time"

	strand "github.com/strand-run/strand"
	"github.com/strand-run/strand/broker"
	"github.com/strand-run/strand/codec"
	"github.com/strand-run/strand/server"
)

// The browse run (-browse N): N kept outcomes written straight into the
// bucket (1 in 1000 failed, 1 in 10 000 of tenant acme, one error text in
// 100 000), then the pages and searches of broker.Browse and the charts of
// broker.Stats timed over them, each the median of three.

// BrowseCase is one timed read of the browse run.
type BrowseCase struct {
	What    string        `json:"what"`
	Took    time.Duration `json:"took"`
	Tasks   int           `json:"tasks"`
	Scanned int           `json:"scanned"`
	Partial bool          `json:"partial"`
}

func runBrowse(ctx context.Context, n int, out io.Writer) error {
	dir, err := os.MkdirTemp("", "strand-bench-browse-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	srv, err := server.Start(server.Config{Addr: "127.0.0.1:0", DataDir: dir})
	if err != nil {
		return err
	}
	defer srv.Stop()
	b, err := broker.Connect(ctx, broker.Config{URL: srv.URL()})
	if err != nil {
		return err
	}
	defer b.Close()
	t0 := time.Now()
	if err := keepOutcomes(ctx, b, n); err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "browse: %d outcomes written in %v\n", n, time.Since(t0).Round(time.Millisecond))
	page := func(f broker.TaskFilter, deep int) func() (*broker.Page, error) {
		return func() (*broker.Page, error) {
			cursor := ""
			var p *broker.Page
			var err error
			for range deep + 1 {
				if p, err = b.Browse(ctx, f, 50, cursor, 0); err != nil {
					return nil, err
				}
				cursor = p.Next
			}
			return p, nil
		}
	}
	cases := []struct {
		what string
		read func() (*broker.Page, error)
	}{
		{"newest 50, every status", page(broker.TaskFilter{}, 0)},
		{"newest 50 completed", page(broker.TaskFilter{Status: strand.StatusCompleted}, 0)},
		{"completed, the 20th page (cursor)", page(broker.TaskFilter{Status: strand.StatusCompleted}, 19)},
		{"50 failed (1 in 1000)", page(broker.TaskFilter{Status: strand.StatusFailed}, 0)},
		{"meta tenant=acme (1 in 10 000)", page(broker.TaskFilter{Meta: map[string]string{"tenant": "acme"}}, 0)},
		{"error text \"quota\" (1 in 100 000)", page(broker.TaskFilter{Error: "quota"}, 0)},
		{"id prefix (one task)", page(broker.TaskFilter{IDPrefix: fmt.Sprintf("k%08d", n-77)}, 0)},
	}
	var res []BrowseCase
	for _, c := range cases {
		var took []time.Duration
		var last *broker.Page
		for range 3 {
			t := time.Now()
			p, err := c.read()
			if err != nil {
				return fmt.Errorf("%s: %w", c.what, err)
			}
			took = append(took, time.Since(t))
			last = p
		}
		slices.Sort(took)
		res = append(res, BrowseCase{What: c.what, Took: took[1], Tasks: len(last.Tasks), Scanned: last.Scanned, Partial: last.Partial})
	}
	var took []time.Duration
	var rep *broker.StatsReport
	for range 3 {
		t := time.Now()
		if rep, err = b.Stats(ctx, "", 60, 0); err != nil {
			return err
		}
		took = append(took, time.Since(t))
	}
	slices.Sort(took)
	res = append(res, BrowseCase{What: "charts: 60 minutes of every queue", Took: took[1], Scanned: rep.Scanned, Partial: rep.Partial})

	fmt.Fprintf(out, "\n### Browse: %d kept outcomes, pages of 50\n\n| read | took | tasks | records read | partial |\n|---|---:|---:|---:|---|\n", n)
	for _, r := range res {
		fmt.Fprintf(out, "| %s | %.1f ms | %d | %d | %v |\n", r.What, float64(r.Took.Microseconds())/1000, r.Tasks, r.Scanned, r.Partial)
	}
	return nil
}

// keepOutcomes writes n outcome records to queue default, pipelined.
func keepOutcomes(ctx context.Context, b *broker.Broker, n int) error {
	now := time.Now().UnixMilli()
	var pending []broker.Write
	flush := func() error {
		for _, w := range pending {
			select {
			case <-w.Ok():
			case err := <-w.Err():
				return err
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		pending = pending[:0]
		return nil
	}
	for i := range n {
		o := &codec.Outcome{Status: strand.StatusCompleted, Func: "add", Queue: "default", Created: now - 3, Started: now - 2, Finished: now, Attempt: 1, Worker: "w1"}
		if i%1000 == 999 {
			o.Status, o.Func = strand.StatusFailed, "send_email"
			o.Error = &codec.ErrorInfo{Kind: string(strand.ErrFailed), Message: "send_email: connection refused"}
			if i%100_000 == 99_999 {
				o.Error.Message = "send_email: mailbox over quota"
			}
		}
		if i%10_000 == 5_000 {
			o.Meta = map[string]string{"tenant": "acme"}
		}
		data, err := codec.Msgpack.Marshal(o)
		if err != nil {
			return err
		}
		w, err := b.WriteOutcome("default", fmt.Sprintf("k%08d", i), data, codec.Msgpack, 24*time.Hour)
		if err != nil {
			return err
		}
		pending = append(pending, w)
		if len(pending) == 4096 {
			if err := flush(); err != nil {
				return err
			}
		}
	}
	return flush()
}
