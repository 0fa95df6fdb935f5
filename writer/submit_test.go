package writer_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	strand "github.com/strand-run/strand"
	"github.com/strand-run/strand/internal/broker/brokertest"
	"github.com/strand-run/strand/writer"
)

// Close ends every pending wait of the writer's handles at once with
// ErrClosed: Result, Wait, Items and WatchProgress, of handles from Submit
// and from Open alike; later submits and waits get it too.
func TestCloseEndsWaits(t *testing.T) {
	t.Parallel()
	_, b := brokertest.New(t)
	w, err := writer.New(b, writer.Config{})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	h, err := w.Submit(ctx, "nobody_runs_this", []any{1}) // no worker: it never ends
	if err != nil {
		t.Fatal(err)
	}
	opened, err := w.Open(h.ID(), strand.Queue("default"))
	if err != nil {
		t.Fatal(err)
	}
	unknown, err := w.Open("never-submitted") // nothing of it exists: Wait polls for it
	if err != nil {
		t.Fatal(err)
	}
	waits := map[string]func() error{
		"Result":        func() error { return h.Result(ctx, nil) },
		"Wait":          func() error { _, err := h.Wait(ctx); return err },
		"Open.Wait":     func() error { _, err := opened.Wait(ctx); return err },
		"unknown.Wait":  func() error { _, err := unknown.Wait(ctx); return err },
		"WatchProgress": func() error { _, err := h.WatchProgress(ctx, func(strand.Report) {}); return err },
		"Items": func() error {
			for _, err := range h.Items(ctx) {
				if err != nil {
					return err
				}
			}
			return nil
		},
	}
	type ended struct {
		name string
		err  error
	}
	done := make(chan ended, len(waits))
	for name, wait := range waits {
		go func() { done <- ended{name, wait()} }()
	}
	time.Sleep(300 * time.Millisecond) // every wait is under way
	select {
	case e := <-done:
		t.Fatalf("%s ended before Close: %v", e.name, e.err)
	default:
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	deadline := time.After(5 * time.Second) // "at once", with room for a loaded machine
	for range waits {
		select {
		case e := <-done:
			if !errors.Is(e.err, strand.ErrClosed) {
				t.Errorf("%s after Close: %v, want ErrClosed", e.name, e.err)
			}
		case <-deadline:
			t.Fatal("a wait did not end after Close")
		}
	}
	if _, err := w.Submit(ctx, "add", []any{1, 2}); !errors.Is(err, strand.ErrClosed) {
		t.Errorf("Submit after Close: %v, want ErrClosed", err)
	}
	if err := h.Result(ctx, nil); !errors.Is(err, strand.ErrClosed) {
		t.Errorf("Result after Close: %v, want ErrClosed", err)
	}
}

// Options are typed: one found among the args, a bad one, or one the
// writer's limits refuse is ErrBadOption, and nothing is submitted.
func TestBadOptions(t *testing.T) {
	t.Parallel()
	_, b := brokertest.New(t)
	w, err := writer.New(b, writer.Config{ResultTTL: time.Hour, TaskTTL: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = w.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for name, c := range map[string]struct {
		args []any
		opts []strand.Option
		want string
	}{
		"option among args":   {[]any{1, strand.Queue("q")}, nil, "an option among the args"},
		"bad queue":           {nil, []strand.Option{strand.Queue("a b")}, "queue"},
		"bad id":              {nil, []strand.Option{strand.ID("a/b")}, "id"},
		"negative timeout":    {nil, []strand.Option{strand.Timeout(-time.Second)}, "timeout"},
		"unknown codec":       {nil, []strand.Option{strand.Encoding("cbor")}, "cbor"},
		"unique past TTL":     {nil, []strand.Option{strand.Unique("k", 2*time.Hour)}, "result TTL"},
		"unique and debounce": {nil, []strand.Option{strand.Unique("k", time.Minute), strand.Debounce("k", time.Minute)}, "exclude"},
		"fair without key":    {nil, []strand.Option{strand.Fair()}, "key"},
		"delay past task TTL": {nil, []strand.Option{strand.After(2 * time.Hour)}, "task TTL"},
		"nil option":          {nil, []strand.Option{nil}, "nil"},
	} {
		_, err := w.Submit(ctx, "f", c.args, c.opts...)
		if !errors.Is(err, strand.ErrBadOption) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want ErrBadOption saying %q", name, err, c.want)
		}
		hs, errs := w.SubmitBatch(ctx, []writer.Call{{Func: "f", Args: c.args, Opts: c.opts}})
		if !errors.Is(errs[0], strand.ErrBadOption) || hs[0] != nil {
			t.Errorf("%s in a batch: %v, %v", name, hs[0], errs[0])
		}
	}
	if _, err := w.Open("x", strand.Timeout(time.Second)); !errors.Is(err, strand.ErrBadOption) {
		t.Errorf("Open with a timeout: %v", err)
	}
	if err := w.PutSchedule(ctx, "s", "@every 1s", "f", []any{strand.ID("x")}); !errors.Is(err, strand.ErrBadOption) {
		t.Errorf("PutSchedule with an option among the args: %v", err)
	}
	if err := w.PutSchedule(ctx, "s", "@every 1s", "f", nil, strand.ID("x")); !errors.Is(err, strand.ErrBadOption) {
		t.Errorf("PutSchedule with an id: %v", err)
	}
}

// Middleware sees the task's args and kwargs, and what it leaves in Meta
// and Trace is what the server stores.
func TestMiddlewareEnvelope(t *testing.T) {
	t.Parallel()
	_, b := brokertest.New(t)
	type kw struct {
		Mode string `msgpack:"mode" json:"mode"`
	}
	var seen []string
	mw := func(next writer.SubmitFunc) writer.SubmitFunc {
		return func(ctx context.Context, e *writer.Envelope) error {
			var a int
			var s string
			var k kw
			if len(e.Args) != 2 || e.Args[0].Decode(&a) != nil || e.Args[1].Decode(&s) != nil || e.Kwargs.Decode(&k) != nil {
				return errors.New("unreadable envelope")
			}
			var n int
			if err := e.Args[1].Decode(&n); err == nil || !strings.Contains(err.Error(), "arg 2 of task") {
				return fmt.Errorf("a string arg decoded into an int: %v", err)
			}
			seen = append(seen, strings.Join([]string{e.Func, e.Queue, e.Encoding, s, k.Mode}, " "))
			e.Meta = map[string]string{"stamp": "yes"}
			e.Trace = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
			return next(ctx, e)
		}
	}
	w, err := writer.New(b, writer.Config{Middleware: []writer.Middleware{mw}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = w.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	h, err := w.Submit(ctx, "f", []any{1, "x"}, strand.Queue("q1"), strand.Kwargs(kw{Mode: "fit"}), strand.Encoding("json"))
	if err != nil {
		t.Fatal(err)
	}
	if len(seen) != 1 || seen[0] != "f q1 json x fit" {
		t.Fatalf("middleware saw %q", seen)
	}
	info, err := h.Info(ctx)
	if err != nil || info.Meta["stamp"] != "yes" {
		t.Fatalf("stored meta %v, %v", info.Meta, err)
	}
}
