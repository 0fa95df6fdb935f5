// Command supervise runs a helper process for as long as it needs it (the
// original's run_process): here a NATS server, started as a child process
// of this same program, waited for until it accepts connections, used, and
// stopped cleanly. A server already listening on the address is reused.
//
//	go run ./examples/supervise
package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/strand-run/strand/broker"
	"github.com/strand-run/strand/reader"
	"github.com/strand-run/strand/registry"
	"github.com/strand-run/strand/server"
	"github.com/strand-run/strand/supervise"
	"github.com/strand-run/strand/writer"
)

// childEnv makes this program the child: a NATS server on its value's address.
const childEnv = "SUPERVISE_EXAMPLE_SERVER"

func main() {
	if addr := os.Getenv(childEnv); addr != "" {
		os.Exit(serve(addr))
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := run(ctx, os.Stdout, "127.0.0.1:0"); err != nil {
		fmt.Fprintln(os.Stderr, "error:", err)
		os.Exit(1)
	}
}

// serve is the child: an embedded NATS server until SIGTERM.
func serve(addr string) int {
	dir, err := os.MkdirTemp("", "supervise-example-")
	if err != nil {
		return 1
	}
	defer os.RemoveAll(dir)
	s, err := server.Start(server.Config{Addr: addr, DataDir: dir})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	<-sig
	s.Stop()
	return 0
}

func run(ctx context.Context, out io.Writer, addr string) error {
	if addr == "127.0.0.1:0" {
		l, err := net.Listen("tcp", addr)
		if err != nil {
			return err
		}
		addr = l.Addr().String()
		l.Close()
	}
	exe, err := os.Executable()
	if err != nil {
		return err
	}
	p, err := supervise.Start(ctx, supervise.Spec{
		Path:      exe,
		Env:       []string{childEnv + "=" + addr},
		ReadyAddr: addr,
		Reuse:     true,
	})
	if err != nil {
		return err
	}
	defer p.Stop()
	fmt.Fprintf(out, "server ready (reused: %v)\n", p.PID() == 0) // a reused server has no pid of ours

	// Use it: a worker and a writer on the supervised server.
	b, err := broker.Connect(ctx, broker.Config{URL: "nats://" + addr})
	if err != nil {
		return err
	}
	reg := registry.New()
	reg.MustRegister("double", func(n int) int { return 2 * n })
	r, err := reader.New(b, reg, reader.Config{})
	if err != nil {
		return err
	}
	wctx, stopWorker := context.WithCancel(ctx)
	defer stopWorker()
	done := make(chan error, 1)
	go func() { done <- r.Run(wctx) }()
	w, err := writer.New(b, writer.Config{})
	if err != nil {
		return err
	}
	h, err := w.Submit(ctx, "double", []any{21})
	if err != nil {
		return err
	}
	var got int
	if err := h.Result(ctx, &got); err != nil {
		return err
	}
	fmt.Fprintln(out, "double(21) =", got)
	stopWorker()
	if err := <-done; err != nil {
		return err
	}
	_ = w.Close()
	if err := b.Close(); err != nil {
		return err
	}
	if err := p.Stop(); err != nil {
		return err
	}
	fmt.Fprintln(out, "server stopped")
	return nil
}
