package writer_test

import (
	"context"
	"errors"
	"testing"
	"time"

	strand "github.com/strand-run/strand"
	"github.com/strand-run/strand/internal/broker/brokertest"
	"github.com/strand-run/strand/registry"
	"github.com/strand-run/strand/writer"
)

// The info of a task that waits to retry says when it runs again.
func TestInfoNextAttempt(t *testing.T) {
	t.Parallel()
	srv, b := brokertest.New(t)
	reg := registry.New()
	reg.MustRegister("later", func() error { return strand.Retry(errors.New("not yet"), time.Minute) })
	runWorker(t, srv, reg)
	w, err := writer.New(b, writer.Config{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = w.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	before := time.Now()
	h, err := w.Submit(ctx, "later", nil, strand.MaxAttempts(2))
	if err != nil {
		t.Fatal(err)
	}
	for {
		in, err := h.Info(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if in.Status == strand.StatusRetrying {
			if in.NextAttempt.Before(before.Add(40*time.Second)) || in.NextAttempt.After(time.Now().Add(2*time.Minute)) {
				t.Fatalf("retrying, next attempt %v: want about a minute from %v", in.NextAttempt, before)
			}
			return
		}
		if in.Status.Terminal() {
			t.Fatalf("status %s, want retrying", in.Status)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
