package scratch_test

import (
	"context"
	"errors"
	"net"
	"os"
	"testing"
	"time"

	"go.uber.org/goleak"

	strand "github.com/strand-run/strand"
	"github.com/strand-run/strand/reader"
	"github.com/strand-run/strand/scratch"
	"github.com/strand-run/strand/strandtest"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		goleak.IgnoreTopFunction("github.com/nats-io/nats-server/v2/server.(*Server).startGoRoutine.func1"),
		goleak.IgnoreAnyFunction("github.com/nats-io/nats-server/v2/server.(*client).readLoop"),
		goleak.IgnoreAnyFunction("github.com/nats-io/nats-server/v2/server.timerWheel"),
		goleak.IgnoreTopFunction("time.Sleep"),
	)
}

// Start, use and Close leave nothing behind: no data, no listener.
func TestStartClose(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	env, err := scratch.Start(ctx, scratch.Options{Funcs: map[string]any{
		"add": func(a, b int) int { return a + b },
	}})
	if err != nil {
		t.Fatal(err)
	}
	dir, addr := env.Server.DataDir(), env.Server.NATS().Addr().String()
	h, err := env.Writer.Submit(ctx, "add", 2, 3)
	if err != nil {
		t.Fatal(err)
	}
	var sum int
	if err := h.Result(ctx, &sum); err != nil || sum != 5 {
		t.Fatalf("add: %d %v", sum, err)
	}
	if err := env.Close(); err != nil {
		t.Fatal(err)
	}
	if err := env.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("data dir %s still there: %v", dir, err)
	}
	if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
		c.Close()
		t.Fatalf("server still listening on %s", addr)
	}
}

func TestStrandtestNoWorker(t *testing.T) {
	env := strandtest.New(t, scratch.Options{
		NoWorker: true,
		Funcs:    map[string]any{"hello": func(name string) string { return "hello " + name }},
	})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	h, err := env.Writer.Submit(ctx, "hello", "ann")
	if err != nil {
		t.Fatal(err)
	}
	if st, _ := h.Status(ctx); st != strand.StatusPending {
		t.Fatalf("status %s with no worker", st)
	}
	if err := env.StartWorker(ctx, reader.Config{Concurrency: 2}); err != nil {
		t.Fatal(err)
	}
	var got string
	if err := h.Result(ctx, &got); err != nil || got != "hello ann" {
		t.Fatalf("%q %v", got, err)
	}
}

func TestBadFunc(t *testing.T) {
	_, err := scratch.Start(context.Background(), scratch.Options{Funcs: map[string]any{"x": 42}})
	if err == nil {
		t.Fatal("a non-function registered")
	}
}
