package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"slices"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/vmihailenco/msgpack/v5"

	strand "github.com/strand-run/strand"
	"github.com/strand-run/strand/broker"
	"github.com/strand-run/strand/inspect"
	"github.com/strand-run/strand/server"
)

// The browse run (-browse N): N kept outcomes written straight into the
// bucket as docs/protocol.md describes them (1 in 1000 failed, 1 in 10 000
// of tenant acme, one error text in 100 000), then the pages and searches of
// inspect.Inspector.Tasks and the charts of Inspector.Stats timed over them,
// each the median of three.

// BrowseCase is one timed read of the browse run.
type BrowseCase struct {
	What    string        `json:"what"`
	Took    time.Duration `json:"took"`
	Tasks   int           `json:"tasks"`
	Scanned int           `json:"scanned"`
	Partial bool          `json:"partial"`
}

// runBrowse runs the browse run over n kept outcomes and prints its table.
func runBrowse(ctx context.Context, n int, out io.Writer) error {
	res, err := browseRun(ctx, n)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "\n### Browse: %d kept outcomes, pages of 50\n\n| read | took | tasks | records read | partial |\n|---|---:|---:|---:|---|\n", n)
	for _, r := range res {
		fmt.Fprintf(out, "| %s | %.1f ms | %d | %d | %v |\n", r.What, float64(r.Took.Microseconds())/1000, r.Tasks, r.Scanned, r.Partial)
	}
	return nil
}

// browseRun writes n kept outcomes on an embedded server of its own, then
// times the reads over them.
func browseRun(ctx context.Context, n int) (res []BrowseCase, err error) {
	dir, err := os.MkdirTemp("", "strand-bench-browse-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	srv, err := server.Start(server.Config{Addr: "127.0.0.1:0", DataDir: dir})
	if err != nil {
		return nil, err
	}
	defer srv.Stop()
	b, err := broker.Connect(ctx, broker.Config{URL: srv.URL()})
	if err != nil {
		return nil, err
	}
	defer b.Close()
	in, err := inspect.New(b, inspect.Config{})
	if err != nil {
		return nil, err
	}
	nc, err := nats.Connect(srv.URL())
	if err != nil {
		return nil, err
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return nil, err
	}
	t0 := time.Now()
	if err := keepOutcomes(ctx, js, defaultPrefix, n); err != nil {
		return nil, err
	}
	fmt.Fprintf(os.Stderr, "browse: %d outcomes written in %v\n", n, time.Since(t0).Round(time.Millisecond))
	page := func(f inspect.Filter, deep int) func() (*inspect.Page, error) {
		return func() (*inspect.Page, error) {
			cursor := ""
			var p *inspect.Page
			var err error
			for range deep + 1 {
				f.Cursor, f.Limit = cursor, 50
				if p, err = in.Tasks(ctx, f); err != nil {
					return nil, err
				}
				cursor = p.Next
			}
			return p, nil
		}
	}
	cases := []struct {
		what string
		read func() (*inspect.Page, error)
	}{
		{"newest 50, every status", page(inspect.Filter{}, 0)},
		{"newest 50 completed", page(inspect.Filter{Status: strand.StatusCompleted}, 0)},
		{"completed, the 20th page (cursor)", page(inspect.Filter{Status: strand.StatusCompleted}, 19)},
		{"50 failed (1 in 1000)", page(inspect.Filter{Status: strand.StatusFailed}, 0)},
		{"meta tenant=acme (1 in 10 000)", page(inspect.Filter{Meta: map[string]string{"tenant": "acme"}}, 0)},
		{"error text \"quota\" (1 in 100 000)", page(inspect.Filter{Error: "quota"}, 0)},
		{"id prefix (one task)", page(inspect.Filter{IDPrefix: fmt.Sprintf("k%08d", n-77)}, 0)},
	}
	for _, c := range cases {
		var took []time.Duration
		var last *inspect.Page
		for range 3 {
			t := time.Now()
			p, err := c.read()
			if err != nil {
				return nil, fmt.Errorf("%s: %w", c.what, err)
			}
			took = append(took, time.Since(t))
			last = p
		}
		slices.Sort(took)
		res = append(res, BrowseCase{What: c.what, Took: took[1], Tasks: len(last.Tasks), Scanned: last.Scanned, Partial: last.Partial})
	}
	var took []time.Duration
	var rep *inspect.Stats
	for range 3 {
		t := time.Now()
		if rep, err = in.Stats(ctx, "", 60, 0); err != nil {
			return nil, err
		}
		took = append(took, time.Since(t))
	}
	slices.Sort(took)
	res = append(res, BrowseCase{What: "charts: 60 minutes of every queue", Took: took[1], Scanned: rep.Scanned, Partial: rep.Partial})

	return res, nil
}

// outcome is an outcome record as docs/protocol.md ("Records of the
// bucket") lays it out: a msgpack map with these keys.
type outcome struct {
	Status   strand.Status     `msgpack:"status"`
	Func     string            `msgpack:"func,omitempty"`
	Queue    string            `msgpack:"queue,omitempty"`
	Created  int64             `msgpack:"created,omitempty"` // unix ms
	Meta     map[string]string `msgpack:"meta,omitempty"`
	Result   any               `msgpack:"result,omitempty"`
	Error    *errorInfo        `msgpack:"error,omitempty"`
	Attempt  int               `msgpack:"attempt,omitempty"`
	Started  int64             `msgpack:"started,omitempty"`  // unix ms
	Finished int64             `msgpack:"finished,omitempty"` // unix ms
	Worker   string            `msgpack:"worker,omitempty"`
}

// errorInfo is an outcome's error: {kind, message}.
type errorInfo struct {
	Kind    string `msgpack:"kind"`
	Message string `msgpack:"message"`
}

// keepOutcomes writes n outcome records of queue default to the bucket of
// prefix as a client written from docs/protocol.md would: each a KV put of
// key r.default.<id> (a JetStream publish on its subject), create-only
// (Nats-Expected-Last-Subject-Sequence: 0) with a 24 h Nats-TTL, pipelined
// 4096 at a time. No Content-Type header: readers tell the format by its
// first byte.
func keepOutcomes(ctx context.Context, js jetstream.JetStream, prefix string, n int) error {
	now := time.Now().UnixMilli()
	var pending []jetstream.PubAckFuture
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
		o := &outcome{Status: strand.StatusCompleted, Func: "add", Queue: "default", Created: now - 3, Started: now - 2, Finished: now, Attempt: 1, Worker: "w1", Result: 3}
		if i%1000 == 999 {
			o.Status, o.Func, o.Result = strand.StatusFailed, "send_email", nil
			o.Error = &errorInfo{Kind: string(strand.ErrFailed), Message: "send_email: connection refused"}
			if i%100_000 == 99_999 {
				o.Error.Message = "send_email: mailbox over quota"
			}
		}
		if i%10_000 == 5_000 {
			o.Meta = map[string]string{"tenant": "acme"}
		}
		data, err := msgpack.Marshal(o)
		if err != nil {
			return err
		}
		msg := &nats.Msg{Subject: outcomeSubject(prefix, "default", fmt.Sprintf("k%08d", i)), Data: data}
		w, err := js.PublishMsgAsync(msg, jetstream.WithExpectLastSequencePerSubject(0), jetstream.WithMsgTTL(24*time.Hour))
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
