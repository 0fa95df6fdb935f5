// Command middleware runs a worker and a writer with strand's ready-made
// middleware: zerolog logs, Prometheus metrics, a per-function rate limit
// and an allowlist of functions per caller.
//
// It starts an embedded NATS server and a worker in the process, submits
// tasks as the caller "svc-a", which may call add but not sub, and prints
// what happened and what the metrics counted.
//
//	go run ./examples/middleware
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
	"golang.org/x/time/rate"

	strand "github.com/strand-run/strand"
	"github.com/strand-run/strand/middleware"
	"github.com/strand-run/strand/reader"
	"github.com/strand-run/strand/registry"
	"github.com/strand-run/strand/scratch"
	"github.com/strand-run/strand/writer"
)

// run prints what happened to out and logs each task to log.
func run(ctx context.Context, out, log io.Writer) error {
	reg := registry.New()
	reg.MustRegister("add", func(a, b int) int { return a + b })
	reg.MustRegister("sub", func(a, b int) int { return a - b })

	// The middleware, shared by the worker and the writer.
	metricsReg := prometheus.NewRegistry()
	metrics, err := middleware.NewMetrics(metricsReg)
	if err != nil {
		return err
	}
	allow := middleware.Allowlist{"svc-a": {"add"}, "admin": {"*"}}
	limit := middleware.RateLimit(middleware.Limits{PerFunc: map[string]rate.Limit{"add": 20}})

	// A worker with the middleware, and a writer that submits as svc-a
	// and checks the allowlist itself.
	env, err := scratch.Start(ctx, scratch.Options{
		Registry: reg,
		Worker: reader.Config{Concurrency: 4, Middleware: []reader.Middleware{
			middleware.Logging(zerolog.New(log)), // outermost: logs what the others decided too
			metrics.Reader(),
			allow.Reader(), // the worker checks, whoever wrote the task
			limit,
		}},
		Writer: writer.Config{Caller: "svc-a", Middleware: []writer.Middleware{metrics.Writer(), allow.Writer()}},
	})
	if err != nil {
		return err
	}
	defer env.Close()
	w := env.Writer

	start := time.Now()
	for i := range 10 {
		h, err := w.Submit(ctx, "add", []any{i, i})
		if err != nil {
			return err
		}
		if err := h.Result(ctx, nil); err != nil {
			return err
		}
	}
	fmt.Fprintf(out, "10 adds at 20/s took at least 450ms: %v\n", time.Since(start) >= 450*time.Millisecond)

	// The writer refuses what svc-a may not call: nothing is written.
	_, err = w.Submit(ctx, "sub", []any{5, 3})
	fmt.Fprintf(out, "writer: %v (forbidden: %v)\n", err, errors.Is(err, strand.ErrForbidden))

	// A writer without the check: the worker refuses, the task fails.
	plain, err := writer.New(env.Broker, writer.Config{Caller: "svc-a"})
	if err != nil {
		return err
	}
	defer plain.Close()
	h, err := plain.Submit(ctx, "sub", []any{5, 3})
	if err != nil {
		return err
	}
	err = h.Result(ctx, nil)
	st, _ := h.Status(ctx)
	fmt.Fprintf(out, "worker: %v (status %s, forbidden: %v)\n", err, st, errors.Is(err, strand.ErrForbidden))

	// admin may call anything.
	h, err = plain.Submit(ctx, "sub", []any{5, 3}, strand.Caller("admin"))
	if err != nil {
		return err
	}
	var diff int
	if err := h.Result(ctx, &diff); err != nil {
		return err
	}
	fmt.Fprintf(out, "admin: sub(5, 3) = %d\n", diff)

	// What Prometheus would scrape (strand worker --metrics serves it).
	counts, err := counters(metricsReg)
	if err != nil {
		return err
	}
	for _, name := range []string{
		"strand_tasks_submitted_total", "strand_tasks_started_total",
		"strand_tasks_completed_total", "strand_tasks_failed_total",
	} {
		fmt.Fprintf(out, "%s %v\n", name, counts[name])
	}
	return nil
}

// counters sums each counter family of reg over its labels.
func counters(reg *prometheus.Registry) (map[string]float64, error) {
	mfs, err := reg.Gather()
	if err != nil {
		return nil, err
	}
	sums := make(map[string]float64)
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			if c := m.GetCounter(); c != nil {
				sums[mf.GetName()] += c.GetValue()
			}
		}
	}
	return sums, nil
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, os.Stdout, os.Stderr); err != nil && !errors.Is(err, context.Canceled) {
		fmt.Fprintln(os.Stderr, "middleware:", err)
		os.Exit(1)
	}
}
