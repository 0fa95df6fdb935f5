package writer_test

import (
	"context"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/strand-run/strand"
	"github.com/strand-run/strand/broker"
	"github.com/strand-run/strand/reader"
	"github.com/strand-run/strand/registry"
	"github.com/strand-run/strand/server"
	"github.com/strand-run/strand/writer"
)

// Submit a task and wait for its result, on an embedded server with a
// worker in the same process.
func ExampleWriter_Submit() {
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
	r, _ := reader.New(b, reg, reader.Config{})
	wctx, stop := context.WithCancel(ctx)
	done := make(chan error)
	go func() { done <- r.Run(wctx) }()
	defer func() { stop(); <-done }()

	w, _ := writer.New(b, writer.Config{})
	defer w.Close()
	h, err := w.Submit(ctx, "add", []any{2, 3})
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

	_, err = w.Submit(ctx, "add", []any{"x", 3}, strand.ID("bad-args"))
	if err == nil {
		h, _ := w.Open("bad-args")
		fmt.Println(h.Result(ctx, nil))
	}
	// Output:
	// 5 completed
	// add: arg 1: want int, got string "x"
}

// Delay a task, and keep a schedule that the server fires every second;
// each firing is one task, name-<unix second>.
func ExampleWriter_PutSchedule() {
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
	r, _ := reader.New(b, reg, reader.Config{})
	wctx, stop := context.WithCancel(ctx)
	done := make(chan error)
	go func() { done <- r.Run(wctx) }()
	defer func() { stop(); <-done }()
	w, _ := writer.New(b, writer.Config{})
	defer w.Close()

	h, _ := w.Submit(ctx, "add", []any{2, 3}, strand.After(time.Second))
	status, _ := h.Status(ctx)
	var sum int
	err = h.Result(ctx, &sum)
	fmt.Println(status, "then", sum, err)

	if err := w.PutSchedule(ctx, "tick", "@every 1s", "add", []any{1, 1}); err != nil {
		fmt.Println(err)
		return
	}
	for {
		if ss, _ := w.Schedules(ctx, "tick"); len(ss) == 1 && ss[0].LastTask != "" {
			s := ss[0]
			h, _ := w.Open(s.LastTask)
			err := h.Result(ctx, &sum)
			fmt.Println(s.Spec, strings.HasPrefix(s.LastTask, "tick-"), sum, err)
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	_ = w.DeleteSchedule(ctx, "tick")
	// Output:
	// scheduled then 5 <nil>
	// @every 1s true 2 <nil>
}
