package reader_test

import (
	"context"
	"testing"
	"time"

	"github.com/strand-run/strand/broker"
	"github.com/strand-run/strand/broker/brokertest"
	"github.com/strand-run/strand/reader"
	"github.com/strand-run/strand/registry"
	"github.com/strand-run/strand/server"
	"github.com/strand-run/strand/writer"
)

// env is one test's world: a server, a writer and a way to start workers.
type env struct {
	t   *testing.T
	srv *server.Server
	b   *broker.Broker
	w   *writer.Writer
	reg *registry.Registry
}

func newEnv(t *testing.T) *env {
	t.Helper()
	srv, b := brokertest.New(t)
	w, err := writer.New(b, writer.Config{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = w.Close() })
	return &env{t: t, srv: srv, b: b, w: w, reg: registry.New()}
}

// worker starts a reader on its own connection and stops it at cleanup;
// the returned func stops it earlier and waits for Run to return.
func (e *env) worker(cfg reader.Config) (stop func()) {
	e.t.Helper()
	b := brokertest.Connect(e.t, e.srv, broker.Config{})
	r, err := reader.New(b, e.reg, cfg)
	if err != nil {
		e.t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	stopped := false
	stop = func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		select {
		case err := <-done:
			if err != nil {
				e.t.Errorf("Run: %v", err)
			}
		case <-time.After(time.Minute):
			e.t.Error("Run did not return a minute after its ctx ended")
		}
	}
	e.t.Cleanup(stop)
	return stop
}

func ctxT(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}
