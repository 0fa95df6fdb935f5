package flow_test

import (
	"context"
	"fmt"
	"os"

	"github.com/strand-run/strand/broker"
	"github.com/strand-run/strand/flow"
	"github.com/strand-run/strand/reader"
	"github.com/strand-run/strand/registry"
	"github.com/strand-run/strand/server"
	"github.com/strand-run/strand/writer"
)

// A chain, a chord and a diamond on an embedded server with a worker in the
// same process; the workers carry each workflow on.
func ExampleSubmit() {
	dir, _ := os.MkdirTemp("", "strand-example-")
	defer os.RemoveAll(dir)
	srv, err := server.Start(server.Config{Addr: "127.0.0.1:0", DataDir: dir})
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
	reg.MustRegister("sum", func(xs []int) (n int) {
		for _, x := range xs {
			n += x
		}
		return n
	})
	r, _ := reader.New(b, reg, reader.Config{})
	wctx, stop := context.WithCancel(ctx)
	done := make(chan error)
	go func() { done <- r.Run(wctx) }()
	defer func() { stop(); <-done }()

	w, _ := writer.New(b, writer.Config{})
	defer w.Close()
	for _, d := range []*flow.Definition{
		flow.Chain(flow.Call("a", "add", 1, 2), flow.Call("b", "add", 10)), // add(add(1, 2), 10)
		flow.New(flow.Call("x", "add", 1, 1), flow.Call("y", "add", 2, 2)).
			Then(flow.Call("total", "sum")), // sum([2, 4])
		flow.New(
			flow.Call("a", "add", 1, 1),
			flow.Call("b", "add", 10).After("a"),
			flow.Call("c", "add", 20).After("a"),
			flow.Call("d", "add").After("b", "c"), // add(12, 22)
		),
	} {
		h, err := flow.Submit(ctx, w, d)
		if err != nil {
			fmt.Println(err)
			return
		}
		var n int
		err = h.Result(ctx, &n)
		fmt.Println(n, err)
	}
	// Output:
	// 13 <nil>
	// 6 <nil>
	// 34 <nil>
}
