package reader_test

import (
	"context"
	"fmt"
	"sync"

	"github.com/strand-run/strand/broker"
	"github.com/strand-run/strand/reader"
	"github.com/strand-run/strand/registry"
	"github.com/strand-run/strand/scratch"
)

// A worker runs the functions of its registry for its queues until its ctx
// ends, then stops gracefully: no new tasks, running ones finish (up to
// ShutdownTimeout). Its middleware wraps every task it runs.
func ExampleReader_Run() {
	ctx := context.Background()
	env, err := scratch.Start(ctx, scratch.Options{NoWorker: true}) // a server and a writer
	if err != nil {
		fmt.Println(err)
		return
	}
	defer env.Close()

	reg := registry.New()
	reg.MustRegister("add", func(a, b int) int { return a + b })
	var mu sync.Mutex
	var ran []string
	record := func(next reader.Handler) reader.Handler {
		return func(ctx context.Context, c *reader.Call) (any, error) {
			v, err := next(ctx, c)
			mu.Lock()
			ran = append(ran, fmt.Sprintf("%s attempt %d on %s: %v %v", c.Task.Func, c.Task.Attempt, c.Task.Queue, v, err))
			mu.Unlock()
			return v, err
		}
	}
	b, err := broker.Connect(ctx, broker.Config{URL: env.Server.URL()})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer b.Close()
	r, err := reader.New(b, reg, reader.Config{
		Queues: []string{"default"}, Concurrency: 4, Middleware: []reader.Middleware{record},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	wctx, stop := context.WithCancel(ctx)
	defer stop()
	done := make(chan error, 1)
	go func() { done <- r.Run(wctx) }()

	h, err := env.Writer.Submit(ctx, "add", []any{2, 3})
	if err != nil {
		fmt.Println(err)
		return
	}
	var sum int
	fmt.Println(h.Result(ctx, &sum), sum)
	stop()                          // graceful: Run returns once running tasks are done
	fmt.Println("stopped:", <-done) // nil
	fmt.Println(ran)
	// Output:
	// <nil> 5
	// stopped: <nil>
	// [add attempt 1 on default: 5 <nil>]
}
