// Command embedded-writer submits tasks from a Go program and waits for
// their results: the producer side of strand, embedded in your own code.
//
// It submits add(2, 3) and echo("hi"), which `strand dev` runs, and a resize
// with keyword arguments to the queue "images", which the custom-worker
// example runs. The connection comes from the environment (STRAND_SERVER,
// STRAND_CREDS, …; nats://127.0.0.1:4222 by default).
//
//	go run ./cmd/strand dev                # terminal 1: server + demo worker
//	go run ./examples/custom-worker        # terminal 2: the "images" worker
//	go run ./examples/embedded-writer      # terminal 3
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/signal"
	"time"

	strand "github.com/strand-run/strand"
	"github.com/strand-run/strand/broker"
	"github.com/strand-run/strand/writer"
)

// run submits the three tasks, waits for each result, and prints them to out.
func run(ctx context.Context, cfg broker.Config, out io.Writer) error {
	b, err := broker.Connect(ctx, cfg)
	if err != nil {
		return err
	}
	defer b.Close()
	w, err := writer.New(b, writer.Config{})
	if err != nil {
		return err
	}
	defer w.Close()

	// Submit returns at once, with a handle; the tasks run concurrently.
	add, err := w.Submit(ctx, "add", []any{2, 3})
	if err != nil {
		return err
	}
	echo, err := w.Submit(ctx, "echo", []any{"hi"})
	if err != nil {
		return err
	}
	// Options mix with the args: a queue, keyword arguments, a time limit.
	// The producer needs no Go type of the worker's: a map is enough.
	const src = "https://example.com/img/cat.png"
	resize, err := w.Submit(ctx, "resize", []any{src}, strand.Queue("images"), strand.Kwargs(map[string]any{"width": 320, "height": 240}), strand.Timeout(10*time.Second))
	if err != nil {
		return err
	}

	// Result waits for the outcome (pushed by the server, nothing polls) and
	// decodes it into a typed value, or returns the task's error.
	var sum int
	if err := add.Result(ctx, &sum); err != nil {
		return fmt.Errorf("add: %w", err)
	}
	fmt.Fprintf(out, "add(2, 3) = %d\n", sum)

	var echoed any // whatever echo returns, decoded as plain Go values
	if err := echo.Result(ctx, &echoed); err != nil {
		return fmt.Errorf("echo: %w", err)
	}
	js, _ := json.Marshal(echoed)
	fmt.Fprintf(out, "echo(\"hi\") = %s\n", js)

	var thumb string
	if err := resize.Result(ctx, &thumb); err != nil {
		return fmt.Errorf("resize: %w", err)
	}
	fmt.Fprintf(out, "resize(%q, width=320, height=240) = %q (task %s)\n", src, thumb, resize.ID())
	return nil
}

func main() {
	cfg, err := broker.FromEnv()
	if err != nil {
		fmt.Fprintln(os.Stderr, "config:", err)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	if err := run(ctx, cfg, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "embedded-writer:", err)
		os.Exit(1)
	}
}
