package main

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/strand-run/strand/internal/link"

	"github.com/spf13/cobra"

	"github.com/strand-run/strand/internal/broker"
	"github.com/strand-run/strand/internal/demo"
	"github.com/strand-run/strand/reader"
	"github.com/strand-run/strand/registry"
	"github.com/strand-run/strand/tracing"
)

// workerFlags are the flags that tune a worker; each overrides its STRAND_*
// variable.
type workerFlags struct {
	queues          []string
	concurrency     int
	shutdownTimeout time.Duration
	ackWait         time.Duration
	workerID        string
	maxAttempts     int
	retryBase       time.Duration
	metrics         string
	limits, rates   []string
	strict, fair    bool
}

// register adds the flags; dev takes only --concurrency and --metrics.
func (f *workerFlags) register(cmd *cobra.Command, all bool) {
	fl := cmd.Flags()
	fl.IntVar(&f.concurrency, "concurrency", 16, "how many tasks run at once [$STRAND_CONCURRENCY]")
	fl.StringVar(&f.metrics, "metrics", "", "serve Prometheus metrics at http://HOST:PORT/metrics (default: none)")
	if !all {
		return
	}
	fl.StringSliceVar(&f.queues, "queue", []string{"default"}, "queues to consume: repeat the flag or separate with commas; NAME=WEIGHT weighs them (critical=6,default=3,low=1) [$STRAND_QUEUES]")
	fl.BoolVar(&f.strict, "strict-priority", false, "give each free slot to the heaviest queue with tasks waiting (see --queue NAME=WEIGHT) [$STRAND_STRICT_PRIORITY]")
	fl.DurationVar(&f.shutdownTimeout, "shutdown-timeout", 30*time.Second, "how long running tasks may finish after a signal before they are handed back [$STRAND_SHUTDOWN_TIMEOUT]")
	fl.DurationVar(&f.ackWait, "ack-wait", 30*time.Second, "a task whose worker stops answering this long goes to another worker [$STRAND_ACK_WAIT]")
	fl.StringVar(&f.workerID, "worker-id", "", "this worker's name in task records (default host-pid-random) [$STRAND_WORKER_ID]")
	fl.IntVar(&f.maxAttempts, "max-attempts", 1, "how many times a task runs unless it names its own max attempts; 1 = no retry [$STRAND_MAX_ATTEMPTS]")
	fl.DurationVar(&f.retryBase, "retry-base", time.Second, "delay before the first retry, doubled for each next one (up to 10m, ±20% jitter) [$STRAND_RETRY_BASE]")
	fl.BoolVar(&f.fair, "fair", false, "take the queues' fair lanes (submit --fair) and the normal lane in turn: one key's backlog does not hold back another key's tasks [$STRAND_FAIR]")
	fl.StringArrayVar(&f.limits, "limit", nil, "fleet-wide concurrency limit FUNC[:SOURCE]=N: at most N tasks of FUNC (* = any) per key running at once; SOURCE is key, meta:NAME or kwarg:NAME (default: per function) (repeatable)")
	fl.StringArrayVar(&f.rates, "rate", nil, "fleet-wide rate limit FUNC[:SOURCE]=N/DURATION: at most N starts of FUNC per key per DURATION (repeatable)")
}

// parseLimit reads FUNC[:SOURCE]=N (rate: N/DURATION) into a limit.
func parseLimit(flag, s string, rate bool) (reader.Limit, error) {
	var l reader.Limit
	target, val, ok := strings.Cut(s, "=")
	if !ok || target == "" {
		return l, usageErrorf("--%s %q: want FUNC[:SOURCE]=%s", flag, s, map[bool]string{false: "N", true: "N/DURATION"}[rate])
	}
	l.Func, l.Key, _ = strings.Cut(target, ":")
	if rate {
		n, per, ok := strings.Cut(val, "/")
		d, err := time.ParseDuration(per)
		if !ok || err != nil {
			return l, usageErrorf("--rate %q: want FUNC[:SOURCE]=N/DURATION, such as render:meta:tenant=10/1s", s)
		}
		l.Per = d
		val = n
	}
	n, err := strconv.Atoi(val)
	if err != nil || n <= 0 {
		return l, usageErrorf("--%s %q: want a whole number of at least 1, got %q", flag, s, val)
	}
	if rate {
		l.Rate = n
	} else {
		l.Max = n
	}
	return l, nil
}

// config reads the worker's STRAND_* variables and applies the flags given.
func (f *workerFlags) config(cmd *cobra.Command) (reader.Config, error) {
	rc, err := reader.FromEnv()
	if err != nil {
		return rc, usageErrorf("%v", err)
	}
	fl := cmd.Flags()
	changed := func(name string) bool { return fl.Lookup(name) != nil && fl.Changed(name) }
	if changed("queue") {
		rc.Queues = nil
		for _, q := range f.queues {
			q, weight, weighted := strings.Cut(strings.TrimSpace(q), "=")
			if q == "" {
				continue
			}
			rc.Queues = append(rc.Queues, q)
			if weighted {
				w, err := strconv.Atoi(weight)
				if err != nil || w < 1 {
					return rc, usageErrorf("--queue %s=%s: want a weight of at least 1", q, weight)
				}
				if rc.QueueWeights == nil {
					rc.QueueWeights = map[string]int{}
				}
				rc.QueueWeights[q] = w
			}
		}
	}
	if changed("concurrency") {
		if f.concurrency <= 0 {
			return rc, usageErrorf("--concurrency %d: want at least 1", f.concurrency)
		}
		rc.Concurrency = f.concurrency
	}
	if changed("shutdown-timeout") {
		rc.ShutdownTimeout = f.shutdownTimeout
	}
	if changed("ack-wait") {
		rc.AckWait = f.ackWait
	}
	if changed("worker-id") {
		rc.WorkerID = f.workerID
	}
	if changed("max-attempts") {
		if f.maxAttempts < 1 {
			return rc, usageErrorf("--max-attempts %d: want at least 1", f.maxAttempts)
		}
		rc.MaxAttempts = f.maxAttempts
	}
	if changed("retry-base") {
		if f.retryBase <= 0 {
			return rc, usageErrorf("--retry-base %v: want a positive duration", f.retryBase)
		}
		rc.RetryBase = f.retryBase
	}
	if changed("strict-priority") {
		rc.StrictPriority = f.strict
	}
	if changed("fair") {
		rc.Fair = f.fair
	}
	for _, s := range f.limits {
		l, err := parseLimit("limit", s, false)
		if err != nil {
			return rc, err
		}
		rc.Limits = append(rc.Limits, l)
	}
	for _, s := range f.rates {
		l, err := parseLimit("rate", s, true)
		if err != nil {
			return rc, err
		}
		rc.Limits = append(rc.Limits, l)
	}
	return rc, nil
}

// demoRegistry is a registry holding the demo functions.
func demoRegistry() (*registry.Registry, error) {
	reg := registry.New()
	if err := demo.Register(reg); err != nil {
		return nil, err
	}
	return reg, nil
}

// runWorker runs a reader with the functions of reg on b until ctx ends;
// once it has, a close of now hands the running tasks back at once instead
// of letting them finish (see untilSignals).
func (a *app) runWorker(ctx context.Context, now <-chan struct{}, b *broker.Broker, reg *registry.Registry, rc reader.Config) error {
	rc.Logger = &a.log
	r, err := reader.New(link.Public(b), reg, rc)
	if err != nil {
		return usageErrorf("worker: %v", err)
	}
	ran := make(chan struct{})
	defer close(ran)
	go func() {
		select {
		case <-ctx.Done():
		case <-ran:
			return
		}
		wait := rc.ShutdownTimeout
		if wait <= 0 {
			wait = 30 * time.Second // reader.Config's default
		}
		a.log.Info().Msgf("stopping: running tasks may finish for up to %s (--shutdown-timeout); signal again to hand them back now", wait)
		select {
		case <-now:
			a.log.Warn().Msg("stopping now: handing running tasks back")
			r.StopNow()
		case <-ran:
		}
	}()
	if err := r.Run(ctx); err != nil {
		if ctx.Err() != nil && errors.Is(err, context.Canceled) {
			return nil // stopped while it was starting
		}
		return fmt.Errorf("worker: %w", err)
	}
	return nil
}

func newWorkerCmd(a *app) *cobra.Command {
	var (
		wf workerFlags
		tf traceFlag
	)
	cmd := &cobra.Command{
		Use:   "worker [--queue Q]... [--concurrency N] [--max-attempts N] [--retry-base D] [--shutdown-timeout D] [--ack-wait D] [--worker-id ID] [--metrics HOST:PORT] [--trace stdout]",
		Short: "Run a worker with the demo functions (" + strings.Join(demo.Names(), ", ") + ")",
		Long: `Run a worker with the demo functions ` + strings.Join(demo.Names(), ", ") + `
until SIGINT or SIGTERM. On a signal it stops taking tasks, lets running ones finish for up to
--shutdown-timeout, then hands the rest back to the queue; a second signal hands them back at once.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			rc, err := wf.config(cmd)
			if err != nil {
				return err
			}
			reg, err := demoRegistry()
			if err != nil {
				return err
			}
			traced, stopTrace, err := a.startTracing(tf.of(cmd))
			if err != nil {
				return err
			}
			defer stopTrace()
			if traced {
				rc.Middleware = append(rc.Middleware, tracing.Reader(nil))
			}
			ctx, now, stop := untilSignals(cmd.Context())
			defer stop()
			b, err := a.connect(ctx)
			if err != nil {
				return err
			}
			defer b.Close()
			stopMetrics, err := a.serveMetrics(wf.metrics, &rc)
			if err != nil {
				return err
			}
			defer stopMetrics()
			return a.runWorker(ctx, now, b, reg, rc)
		},
	}
	wf.register(cmd, true)
	tf.register(cmd)
	return cmd
}
