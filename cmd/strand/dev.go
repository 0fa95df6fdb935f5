package main

import (
	"context"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/rs/zerolog"
	"github.com/spf13/cobra"

	"github.com/strand-run/strand/internal/broker"
	"github.com/strand-run/strand/internal/demo"
	"github.com/strand-run/strand/internal/handler"
	"github.com/strand-run/strand/supervise"
	"github.com/strand-run/strand/tracing"
)

// readyLine is printed, alone on its line, once dev accepts tasks.
const readyLine = "ready; Ctrl-C to stop"

func newDevCmd(a *app) *cobra.Command {
	var (
		sf serverFlags
		wf workerFlags
		hf httpFlags
		tf traceFlag
		// processes is how many worker processes of this binary dev runs
		// beside its own worker.
		processes int
	)
	cmd := &cobra.Command{
		Use:   "dev [--addr HOST:PORT] [--data DIR] [--concurrency N] [--sync always|DURATION] [--http HOST:PORT] [--metrics HOST:PORT] [--trace stdout]",
		Short: "Run a NATS server and a worker with the demo functions, in one process",
		Long: `Run an embedded NATS server with JetStream and a worker with the demo
functions (` + strings.Join(demo.Names(), ", ") + `) on queue "default", in one process, until
SIGINT or SIGTERM; a second signal hands running tasks back at once instead of letting them
finish. Data is kept in --data between runs. --workers N also runs
N worker processes of this binary, supervised: dev waits until each serves,
and stops them (SIGTERM, then SIGKILL) before the server.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			scfg, err := sf.config(a.log.GetLevel() <= zerolog.DebugLevel)
			if err != nil {
				return err
			}
			rc, err := wf.config(cmd)
			if err != nil {
				return err
			}
			rc.Queues = []string{"default"}
			traced, stopTrace, err := a.startTracing(tf.of(cmd))
			if err != nil {
				return err
			}
			defer stopTrace()
			if traced {
				rc.Middleware = append(rc.Middleware, tracing.Reader(nil))
			}
			reg, err := demoRegistry()
			if err != nil {
				return err
			}
			ctx, now, stop := untilSignals(cmd.Context())
			defer stop()

			s, err := startServer(scfg)
			if err != nil {
				return err
			}
			defer func() {
				s.Stop()
				a.log.Info().Msg("server stopped")
			}()
			// The worker talks to the server over TCP, as a separate one would.
			b, err := broker.Connect(ctx, broker.Config{URL: s.URL(), Prefix: a.cfg.Prefix, Name: "strand-dev"})
			if err != nil {
				return err
			}
			defer b.Close()

			out := a.stdout
			printServer(out, s, scfg)
			fmt.Fprintf(out, "worker:    queue %s, functions %s\n", "default", strings.Join((*handler.Table)(reg).Names(), ", "))
			for i := range processes {
				p, err := a.startWorkerProcess(ctx, b, s.URL(), fmt.Sprintf("dev-worker-%d", i+1))
				if err != nil {
					return err
				}
				defer func() {
					if err := p.Stop(); err != nil {
						a.log.Warn().Err(err).Int("pid", p.PID()).Msg("worker process")
					}
				}()
				fmt.Fprintf(out, "worker:    process %d (dev-worker-%d)\n", p.PID(), i+1)
			}
			stopMetrics, err := a.serveMetrics(wf.metrics, &rc)
			if err != nil {
				return err
			}
			defer stopMetrics()
			if hf.addr != "" {
				stopHTTP, err := a.serveGateway(b, hf.addr, hf.tokenOf(cmd), &rc)
				if err != nil {
					return err
				}
				defer stopHTTP()
			}
			flags := serverFlag(s.URL())
			if p := a.cfg.Prefix; p != "" && p != broker.DefaultPrefix {
				flags += " --prefix " + p
			}
			fmt.Fprintf(out, "\ntry, in another terminal:\n")
			fmt.Fprintf(out, "  strand submit%s --wait add 2 3\n", flags)
			fmt.Fprintf(out, "or, from a clone of the repository:\n")
			fmt.Fprintf(out, "  go run ./cmd/strand submit%s --wait add 2 3\n", flags)
			fmt.Fprintf(out, "\n%s\n", readyLine)
			return a.runWorker(ctx, now, b, reg, rc)
		},
	}
	sf.register(cmd)
	wf.register(cmd, false)
	hf.register(cmd, "", "also serve the HTTP gateway on host:port (default: none)")
	tf.register(cmd)
	cmd.Flags().IntVar(&processes, "workers", 0, "also run N worker processes of this binary, supervised: started, waited for, stopped with dev")
	return cmd
}

// startWorkerProcess runs `strand worker` (this binary) against url as a
// supervised child and returns once its heartbeat record shows it serving.
func (a *app) startWorkerProcess(ctx context.Context, b *broker.Broker, url, id string) (*supervise.Process, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	args := []string{"worker", "--server", url, "--worker-id", id}
	if p := a.cfg.Prefix; p != "" {
		args = append(args, "--prefix", p)
	}
	return supervise.Start(ctx, supervise.Spec{
		Path: exe, Args: args, Stderr: a.stderr,
		Ready: func(ctx context.Context) error {
			w, err := b.Worker(ctx, id)
			if err == nil && w == nil {
				err = fmt.Errorf("worker %s: no heartbeat yet", id)
			}
			return err
		},
		ReadyTimeout: 30 * time.Second,
	})
}
