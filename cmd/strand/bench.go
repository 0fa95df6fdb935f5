package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/strand-run/strand/internal/bench"
)

func newBenchCmd(a *app) *cobra.Command {
	var (
		cfg      bench.Config
		embedded bool
	)
	cmd := &cobra.Command{
		Use:   "bench [--tasks N] [--producers N] [--concurrency N] [--samples N] [--payload BYTES] [--window N] [--sync-always] [--embedded=false]",
		Short: "Measure strand's task cycle against raw JetStream and a naive cycle",
		Long: `Measure strand's task cycle against two references on the same server: the
floor (JetStream publish → consume → ack, no state) and a naive cycle (pending
state + publish, CAS running, CAS result, ack). Each is measured as a burst
(throughput) twice, producers submitting one task at a time and then
pipelined, --window tasks in flight per producer, and one task at a time
(p50, p99 latency). The table goes to
stdout, progress to stderr.

By default it starts its own NATS server on a free port in a temporary
directory; --embedded=false uses --server instead.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			for name, n := range map[string]int{
				"tasks": cfg.Tasks, "producers": cfg.Producers, "concurrency": cfg.Concurrency,
				"samples": cfg.Samples, "payload": cfg.Payload, "window": cfg.Window,
			} {
				if n < 1 {
					return usageErrorf("--%s %d: want at least 1", name, n)
				}
			}
			cfg.URL = ""
			if !embedded {
				cfg.URL = a.serverURL()
				if cfg.SyncAlways {
					return usageErrorf("--sync-always applies only to the embedded server; set sync on your server")
				}
			}
			ctx, stop := untilSignal(cmd.Context())
			defer stop()
			r, err := bench.Run(ctx, cfg, a.stderr)
			if err != nil {
				return fmt.Errorf("bench: %w", err)
			}
			fmt.Fprint(a.stdout, r.Table())
			return nil
		},
	}
	fl := cmd.Flags()
	fl.IntVar(&cfg.Tasks, "tasks", 20000, "tasks per burst")
	fl.IntVar(&cfg.Producers, "producers", 4, "concurrent producers in a burst")
	fl.IntVar(&cfg.Concurrency, "concurrency", 4, "worker pool size")
	fl.IntVar(&cfg.Samples, "samples", 2000, "tasks run one at a time for the latency figures")
	fl.IntVar(&cfg.Payload, "payload", 200, "bytes of each task's argument")
	fl.IntVar(&cfg.Prefetch, "prefetch", 0, "tasks the strand worker may hold beyond the ones it runs (reader.Config.Prefetch; 0: the worker default, as many as --concurrency above 1; -1: none)")
	fl.IntVar(&cfg.Window, "window", 256, "tasks each producer sends before waiting for their acks, in the pipelined burst")
	fl.BoolVar(&cfg.SyncAlways, "sync-always", false, "make the embedded server fsync every write before acknowledging it")
	fl.BoolVar(&embedded, "embedded", true, "start an embedded server; false: use --server")
	return cmd
}
