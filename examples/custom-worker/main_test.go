package main

import (
	"context"
	"errors"
	"maps"
	"strings"
	"testing"
	"time"

	ib "github.com/strand-run/strand/internal/broker"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	strand "github.com/strand-run/strand"
	"github.com/strand-run/strand/broker"
	"github.com/strand-run/strand/internal/broker/brokertest"
	"github.com/strand-run/strand/internal/codec"
	"github.com/strand-run/strand/reader"
	"github.com/strand-run/strand/server"
	"github.com/strand-run/strand/writer"
)

func TestWordCount(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		text string
		want map[string]int
	}{
		{"", map[string]int{}},
		{"To be, or not to be!", map[string]int{"to": 2, "be": 2, "or": 1, "not": 1}},
		{"  -- 42 42\n", map[string]int{"42": 2}},
	} {
		if got := wordCount(tc.text); !maps.Equal(got, tc.want) {
			t.Errorf("wordCount(%q) = %v, want %v", tc.text, got, tc.want)
		}
	}
}

func TestResize(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		src     string
		opts    ResizeOpts
		want    string
		wantErr string
	}{
		{"https://example.com/a/cat.png", ResizeOpts{Width: 320, Height: 240}, "thumbs/cat-320x240.jpeg", ""},
		{"https://example.com/dog", ResizeOpts{Width: 1, Height: 2, Format: "webp"}, "thumbs/dog-1x2.webp", ""},
		{"cat.png", ResizeOpts{Width: 1, Height: 1}, "", "not an absolute URL"},
		{"https://example.com/cat.png", ResizeOpts{Width: 0, Height: 1}, "", "must be positive"},
	} {
		got, err := resize(context.Background(), tc.src, tc.opts)
		if tc.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("resize(%q, %+v) error = %v, want %q", tc.src, tc.opts, err, tc.wantErr)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("resize(%q, %+v) = %q, %v; want %q", tc.src, tc.opts, got, err, tc.want)
		}
	}
}

// TestRun runs the worker against a real server, submits its functions
// through a writer in both wire formats, and stops it.
func TestRun(t *testing.T) {
	srv := brokertest.Start(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, broker.Config{URL: srv.URL()}, reader.Config{Queues: []string{Queue}, Concurrency: 4})
	}()
	// The writer's broker provisions the bucket again: let the worker create
	// its consumer first (see waitConsumers).
	waitConsumers(t, srv, "strand-"+Queue)
	w, err := writer.New(brokertest.Connect(t, srv, broker.Config{}), writer.Config{Queue: Queue})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	wait, stopWait := context.WithTimeout(context.Background(), 30*time.Second)
	defer stopWait()

	for _, f := range []codec.Format{codec.Msgpack, codec.JSON} {
		t.Run(f.String(), func(t *testing.T) {
			h, err := w.Submit(wait, "resize", []any{"https://example.com/img/cat.png"}, strand.Encoding(f.Name()), strand.Kwargs(map[string]any{"width": 320, "height": 240, "format": "webp"}))
			if err != nil {
				t.Fatal(err)
			}
			var thumb string
			if err := h.Result(wait, &thumb); err != nil || thumb != "thumbs/cat-320x240.webp" {
				t.Errorf("resize = %q, %v", thumb, err)
			}

			h, err = w.Submit(wait, "word_count", []any{"the cat and the hat"}, strand.Encoding(f.Name()))
			if err != nil {
				t.Fatal(err)
			}
			var counts map[string]int
			want := map[string]int{"the": 2, "cat": 1, "and": 1, "hat": 1}
			if err := h.Result(wait, &counts); err != nil || !maps.Equal(counts, want) {
				t.Errorf("word_count = %v, %v; want %v", counts, err, want)
			}

			// A misspelt kwarg fails the task instead of being ignored.
			h, err = w.Submit(wait, "resize", []any{"https://example.com/cat.png"}, strand.Encoding(f.Name()), strand.Kwargs(map[string]any{"width": 1, "hieght": 1}))
			if err != nil {
				t.Fatal(err)
			}
			if err := h.Result(wait, nil); !errors.Is(err, strand.ErrBadArgs) {
				t.Errorf("resize with an unknown kwarg: err = %v, want ErrBadArgs", err)
			}

			// The handler's own error comes back, naming the function.
			h, err = w.Submit(wait, "resize", []any{"cat.png"}, strand.Encoding(f.Name()), strand.Kwargs(ResizeOpts{Width: 1, Height: 1}))
			if err != nil {
				t.Fatal(err)
			}
			if err := h.Result(wait, nil); err == nil || !strings.HasPrefix(err.Error(), "resize: not an absolute URL") {
				t.Errorf("resize of a relative URL: err = %v", err)
			}
			if st, err := h.Status(wait); err != nil || st != strand.StatusFailed {
				t.Errorf("status = %s, %v; want failed", st, err)
			}
		})
	}

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("run: %v", err)
		}
	case <-time.After(time.Minute):
		t.Fatal("run did not return a minute after its ctx ended")
	}
}

// waitConsumers waits until the named consumers of strand's stream exist. It
// uses a bare connection: a broker would provision the bucket again, and
// nats-server 2.15.2 has a data race between a stream update and the
// creation of a consumer that follows it (filestore.ConsumerStore reads the
// stream config unlocked), which -race reports. So the tests let workers
// create their consumers before any further broker connects.
func waitConsumers(t *testing.T, srv *server.Server, names ...string) {
	t.Helper()
	nc, err := nats.Connect(srv.URL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, name := range names {
		for {
			_, err := js.Consumer(ctx, ib.NewNames("").TasksStream(), name)
			if err == nil {
				break
			}
			if ctx.Err() != nil {
				t.Fatalf("consumer %s: %v", name, err)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
}
