package writer_test

import (
	"context"
	"fmt"
	"os"

	"github.com/strand-run/strand/broker"
	"github.com/strand-run/strand/reader"
	"github.com/strand-run/strand/registry"
	"github.com/strand-run/strand/writer"
)

// Submit a task and wait for its result, on an embedded server with a
// worker in the same process.
func ExampleWriter_Submit() {
	dir, _ := os.MkdirTemp("", "strand-example-")
	defer os.RemoveAll(dir)
	srv, err := broker.StartServer(broker.ServerConfig{Addr: "127.0.0.1:0", DataDir: dir})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer srv.Stop()
	ctx := context.Background()
	b, err := broker.Connect(ctx, broker.Config{URL: srv.URL()})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer b.Close()

	reg := registry.New()
	reg.MustRegister("add", func(a, b int) int { return a + b })
	r, _ := reader.New(b, reg, reader.Config{})
	wctx, stop := context.WithCancel(ctx)
	done := make(chan error)
	go func() { done <- r.Run(wctx) }()
	defer func() { stop(); <-done }()

	w, _ := writer.New(b, writer.Config{})
	defer w.Close()
	h, err := w.Submit(ctx, "add", 2, 3)
	if err != nil {
		fmt.Println(err)
		return
	}
	var sum int
	if err := h.Result(ctx, &sum); err != nil {
		fmt.Println(err)
		return
	}
	status, _ := h.Status(ctx)
	fmt.Println(sum, status)

	_, err = w.Submit(ctx, "add", "x", 3, writer.ID("bad-args"))
	if err == nil {
		h, _ := w.Open("bad-args")
		fmt.Println(h.Result(ctx, nil))
	}
	// Output:
	// 5 completed
	// add: arg 1: want int, got string "x"
}
