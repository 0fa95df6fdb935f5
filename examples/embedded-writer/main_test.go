package main

import (
	"context"
	"strings"
	"testing"
	"time"

	ib "github.com/strand-run/strand/internal/broker"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/strand-run/strand/broker"
	"github.com/strand-run/strand/internal/broker/brokertest"
	"github.com/strand-run/strand/reader"
	"github.com/strand-run/strand/registry"
	"github.com/strand-run/strand/server"
)

// resizeKwargs mirrors the kwargs the custom-worker example takes.
type resizeKwargs struct {
	Width  int `msgpack:"width"`
	Height int `msgpack:"height"`
}

// TestRun runs the example against a real server with a worker that stands
// in for `strand dev` (add, echo) and the custom worker (resize).
func TestRun(t *testing.T) {
	srv := brokertest.Start(t)
	reg := registry.New()
	reg.MustRegister("add", func(a, b int) int { return a + b })
	reg.MustRegister("echo", func(s string) string { return s })
	reg.MustRegister("resize", func(src string, kw resizeKwargs) string {
		return src + "@" + strings.Repeat("x", kw.Width/80) + "/" + strings.Repeat("y", kw.Height/80)
	})
	stopWorker := startWorker(t, srv, reg, reader.Config{Queues: []string{"default", "images"}})
	// run provisions the bucket again: let the worker create its consumers
	// first (see waitConsumers).
	waitConsumers(t, srv, "strand-default", "strand-images")

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var out strings.Builder
	if err := run(ctx, broker.Config{URL: srv.URL()}, &out); err != nil {
		t.Fatalf("run: %v\noutput:\n%s", err, out.String())
	}
	for _, want := range []string{
		"add(2, 3) = 5\n",
		"echo(\"hi\") = \"hi\"\n",
		`resize("https://example.com/img/cat.png", width=320, height=240) = "https://example.com/img/cat.png@xxxx/yyy" (task `,
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q; got:\n%s", want, out.String())
		}
	}
	stopWorker()
}

// TestRunNoServer: without a server, run fails instead of hanging.
func TestRunNoServer(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	srv := brokertest.Start(t)
	url := srv.URL()
	srv.Stop()
	err := run(ctx, broker.Config{URL: url, ConnectTimeout: time.Second}, &strings.Builder{})
	if err == nil {
		t.Fatal("run against a stopped server returned nil")
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

// startWorker runs a reader on srv until the returned func is called; that
// func waits for Run to return and fails the test if it does not.
func startWorker(t *testing.T, srv *server.Server, reg *registry.Registry, cfg reader.Config) (stop func()) {
	t.Helper()
	b := brokertest.Connect(t, srv, broker.Config{})
	r, err := reader.New(b, reg, cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	var stopped bool
	stop = func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("worker Run: %v", err)
			}
		case <-time.After(time.Minute):
			t.Error("worker Run did not return a minute after its ctx ended")
		}
	}
	t.Cleanup(stop)
	return stop
}
