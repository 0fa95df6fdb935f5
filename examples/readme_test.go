// Package examples_test keeps the Go example of the top-level README.md
// compiling and correct; the runnable programs are in the subdirectories.
package examples_test

import (
	"context"
	"fmt"
	"os"

	"github.com/strand-run/strand/broker"
	"github.com/strand-run/strand/reader"
	"github.com/strand-run/strand/registry"
	"github.com/strand-run/strand/server"
	"github.com/strand-run/strand/writer"
)

// Example_readme is the README's example, with an embedded server in place
// of `strand dev` and the worker stopped at the end.
func Example_readme() {
	dir, _ := os.MkdirTemp("", "strand-example-")
	defer os.RemoveAll(dir)
	srv, err := server.Start(server.Config{Addr: "127.0.0.1:0", DataDir: dir})
	if err != nil {
		panic(err)
	}
	defer srv.Stop()
	ctx, stop := context.WithCancel(context.Background())

	// --- from the README ---
	// Worker side: register functions by name, then run until ctx ends.
	reg := registry.New()
	reg.MustRegister("add", func(a, b int) int { return a + b })
	b, err := broker.Connect(ctx, broker.Config{URL: srv.URL()}) // README: broker.Config{} = nats://127.0.0.1:4222
	if err != nil {
		panic(err)
	}
	defer b.Close()
	r, _ := reader.New(b, reg, reader.Config{Concurrency: 8})
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()

	// Writer side (usually another process): submit by name, wait for the result.
	w, _ := writer.New(b, writer.Config{})
	defer w.Close()
	h, err := w.Submit(ctx, "add", []any{2, 3})
	if err != nil {
		panic(err)
	}
	var sum int
	if err := h.Result(ctx, &sum); err != nil { // pushed by the server, no polling
		panic(err)
	}
	fmt.Println(sum)
	// --- end ---

	stop()
	fmt.Println(<-done)
	// Output:
	// 5
	// <nil>
}
