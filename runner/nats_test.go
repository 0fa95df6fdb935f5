package runner_test

import (
	"context"
	"testing"

	strand "github.com/strand-run/strand"
	"github.com/strand-run/strand/broker"
	"github.com/strand-run/strand/internal/broker/brokertest"
	"github.com/strand-run/strand/reader"
	"github.com/strand-run/strand/writer"
)

// The NATS writer is one more runner in the tests that run on every runner.
func init() { runners = append(runners, runnerCase{"nats", natsRunner}) }

// natsRunner starts a server, a worker for functions() and a writer, and
// returns the writer as a runner.
func natsRunner(t *testing.T) strand.Runner {
	t.Helper()
	srv, b := brokertest.New(t)
	w, err := writer.New(b, writer.Config{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = w.Close() })
	rb := brokertest.Connect(t, srv, broker.Config{})
	r, err := reader.New(rb, functions(), reader.Config{Concurrency: 4})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("reader: %v", err)
		}
	})
	return w
}
