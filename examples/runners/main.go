// Command runners makes the same typed call on each of strand's runners:
// inline (in the caller), a goroutine pool, a child process, and NATS
// workers (an embedded server, started and removed by the program). The
// task code, the call and the handle are the same on each; only where the
// function runs changes.
//
//	go run ./examples/runners
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"iter"
	"os"
	"os/signal"
	"time"

	strand "github.com/strand-run/strand"
	"github.com/strand-run/strand/broker"
	"github.com/strand-run/strand/reader"
	"github.com/strand-run/strand/registry"
	"github.com/strand-run/strand/runner"
	"github.com/strand-run/strand/server"
	"github.com/strand-run/strand/writer"
)

// addArgs are add's arguments: a typed task's struct travels as its kwargs.
type addArgs struct {
	A int `msgpack:"a"`
	B int `msgpack:"b"`
}

// add is a typed task: one value registers the worker side and makes the
// typed call.
var add = strand.NewFunc("add", func(_ context.Context, in addArgs) (int, error) { return in.A + in.B, nil })

// functions registers what every runner here can run: add; count, an
// iterator; and crash, which ends its own process (on the process runner,
// its child).
func functions() *registry.Registry {
	reg := registry.New()
	if err := add.Register(reg); err != nil {
		panic(err)
	}
	reg.MustRegister("count", func(n int) iter.Seq[int] {
		return func(yield func(int) bool) {
			for i := range n {
				if !yield(i) {
					return
				}
			}
		}
	})
	reg.MustRegister("crash", func() int { os.Exit(3); return 0 })
	return reg
}

// run makes the call on each runner and prints what comes back to out.
func run(ctx context.Context, out io.Writer) error {
	reg := functions()

	pool := runner.Pool(reg, 4)
	defer pool.Close()
	proc := runner.Process(0)
	defer proc.Close()
	nats, stop, err := natsRunner(ctx, reg)
	if err != nil {
		return err
	}
	defer stop()

	for _, r := range []struct {
		name string
		r    strand.Runner
	}{
		{"inline", runner.Inline(reg)}, {"pool", pool}, {"process", proc}, {"nats", nats},
	} {
		h, err := add.Call(ctx, r.r, addArgs{A: 2, B: 3}) // the same call on every runner
		if err != nil {
			return err
		}
		sum, err := add.Result(ctx, h)
		if err != nil {
			return fmt.Errorf("%s: %w", r.name, err)
		}
		// Each item as it comes, then the end: the original's on_iter and on_end.
		ch, err := r.r.Submit(ctx, "count", []any{3})
		if err != nil {
			return err
		}
		var items []int
		for n, err := range strand.Items[int](ctx, ch) {
			if err != nil {
				return fmt.Errorf("%s: %w", r.name, err)
			}
			items = append(items, n)
		}
		o, err := ch.Wait(ctx)
		if err != nil {
			return fmt.Errorf("%s: %w", r.name, err)
		}
		fmt.Fprintf(out, "%s: add(2, 3) = %d, count(3) yields %v, %s\n", r.name, sum, items, o.Status)
	}

	// A task that kills its process fails alone on the process runner.
	h, err := proc.Submit(ctx, "crash", nil)
	if err != nil {
		return err
	}
	err = h.Result(ctx, nil)
	st, _ := h.Status(ctx)
	fmt.Fprintf(out, "process: crash is %s (crashed: %t), and this program lives on\n", st, errors.Is(err, strand.ErrCrashed))
	return nil
}

// natsRunner starts an embedded server on a free loopback port, a worker
// for reg and a writer; stop removes them all, data included.
func natsRunner(ctx context.Context, reg *registry.Registry) (strand.Runner, func(), error) {
	dir, err := os.MkdirTemp("", "strand-runners-")
	if err != nil {
		return nil, nil, err
	}
	srv, err := server.Start(server.Config{Addr: "127.0.0.1:0", DataDir: dir})
	if err != nil {
		os.RemoveAll(dir)
		return nil, nil, err
	}
	b, err := broker.Connect(ctx, broker.Config{URL: srv.URL()})
	if err != nil {
		srv.Stop()
		os.RemoveAll(dir)
		return nil, nil, err
	}
	rd, err := reader.New(b, reg, reader.Config{})
	var w *writer.Writer
	if err == nil {
		w, err = writer.New(b, writer.Config{})
	}
	if err != nil {
		_ = b.Close()
		srv.Stop()
		os.RemoveAll(dir)
		return nil, nil, err
	}
	wctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- rd.Run(wctx) }()
	stop := func() {
		cancel()
		<-done
		_ = w.Close()
		_ = b.Close()
		srv.Stop()
		os.RemoveAll(dir)
	}
	return w, stop, nil
}

func main() {
	// The process runner re-executes this binary: in the child, this runs
	// the one task it is given and exits.
	runner.ServeChild(functions())

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	if err := run(ctx, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "error:", err)
		os.Exit(1)
	}
}
