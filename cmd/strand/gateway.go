package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"syscall"
	"time"

	"github.com/strand-run/strand/internal/link"

	"github.com/spf13/cobra"

	"github.com/strand-run/strand/gateway"
	"github.com/strand-run/strand/inspect"
	"github.com/strand-run/strand/internal/broker"
	"github.com/strand-run/strand/reader"
	"github.com/strand-run/strand/server"
	"github.com/strand-run/strand/tracing"
	"github.com/strand-run/strand/writer"
)

// httpFlags are the flags of the commands that serve the HTTP gateway.
type httpFlags struct {
	addr  string
	token string
}

// register adds --http (default def: "" serves no gateway) and --http-token.
func (f *httpFlags) register(cmd *cobra.Command, def, usage string) {
	fl := cmd.Flags()
	fl.StringVar(&f.addr, "http", def, usage)
	fl.StringVar(&f.token, "http-token", "", "bearer token the HTTP gateway requires on /v1 (default none) [$STRAND_HTTP_TOKEN]")
}

// tokenOf is --http-token, else STRAND_HTTP_TOKEN.
func (f *httpFlags) tokenOf(cmd *cobra.Command) string {
	if cmd.Flags().Changed("http-token") {
		return f.token
	}
	return os.Getenv("STRAND_HTTP_TOKEN")
}

// gatewayShutdown bounds how long requests may finish once a signal came.
const gatewayShutdown = 10 * time.Second

// serveGateway serves the HTTP gateway over b on addr until stop is
// called; stop shuts it down gracefully: long waits and event streams end
// at once, other requests may finish for up to gatewayShutdown. Its
// /metrics counts the gateway's submissions and, when rc is a worker's
// config in the same process, that worker's tasks.
func (a *app) serveGateway(b *broker.Broker, addr, token string, rc *reader.Config) (stop func(), err error) {
	wc, err := writer.FromEnv()
	if err != nil {
		return nil, usageErrorf("%v", err)
	}
	wc.Logger = &a.log
	reg, m, err := newRegistry()
	if err != nil {
		return nil, err
	}
	wc.Middleware = append(wc.Middleware, tracing.Writer(nil), m.submitted)
	if rc != nil {
		rc.Middleware = append(rc.Middleware, m.worker)
	}
	w, err := writer.New(link.Public(b), wc)
	if err != nil {
		return nil, err
	}
	ic := inspect.Config{Queue: wc.Queue, ResultTTL: wc.ResultTTL, TaskTTL: wc.TaskTTL, Caller: wc.Caller, Logger: &a.log}
	l, err := net.Listen("tcp", addr)
	if err != nil {
		_ = w.Close()
		if errors.Is(err, syscall.EADDRINUSE) {
			return nil, fmt.Errorf("--http %s is already in use; pick another port, or 127.0.0.1:0 for a free one", addr)
		}
		return nil, fmt.Errorf("--http %s: %w", addr, err)
	}
	serveCtx, cancel := context.WithCancel(context.Background())
	h := gateway.New(w, link.Public(b), gateway.Config{Token: token, Logger: &a.log, Metrics: reg, Inspect: ic})
	done := make(chan struct{})
	go func() {
		defer close(done)
		// Timeouts and connection caps: gateway.Limits' defaults (README).
		if err := gateway.Serve(serveCtx, l, h, gateway.Limits{ShutdownTimeout: gatewayShutdown}); err != nil {
			a.log.Error().Err(err).Msg("http gateway")
		}
	}()
	url := "http://" + l.Addr().String()
	auth := ""
	if token != "" {
		auth = " (bearer token required)"
	}
	fmt.Fprintf(a.stdout, "HTTP gateway: %s/v1/ (API: %s/v1/openapi.json)%s\n", url, url, auth)
	return func() {
		cancel()
		<-done
		_ = w.Close()
		a.log.Info().Msg("http gateway stopped")
	}, nil
}

func newGatewayCmd(a *app) *cobra.Command {
	var (
		hf httpFlags
		tf traceFlag
	)
	cmd := &cobra.Command{
		Use:   "gateway [--http HOST:PORT] [--http-token T] [--trace stdout]",
		Short: "Serve the HTTP gateway (REST + Server-Sent Events) for a strand on NATS",
		Long: `Serve strand's HTTP API on --http until SIGINT or SIGTERM: submit tasks, read
their status, wait for results, cancel them, list queues, workers and dead
letters. The routes are described at /v1/openapi.json. With --http-token,
every /v1 request needs "Authorization: Bearer <token>".`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			_, stopTrace, err := a.startTracing(tf.of(cmd))
			if err != nil {
				return err
			}
			defer stopTrace()
			ctx, stop := untilSignal(cmd.Context())
			defer stop()
			b, err := a.connect(ctx)
			if err != nil {
				return err
			}
			defer b.Close()
			stopHTTP, err := a.serveGateway(b, hf.addr, hf.tokenOf(cmd), nil)
			if err != nil {
				return err
			}
			fmt.Fprintf(a.stdout, "connected to %s\nready; Ctrl-C to stop\n", a.serverURL())
			<-ctx.Done()
			stopHTTP()
			return nil
		},
	}
	hf.register(cmd, "127.0.0.1:8080", "host:port the HTTP gateway listens on")
	tf.register(cmd)
	return cmd
}

// serveEmbeddedGateway connects to the embedded server s and serves the
// HTTP gateway over that connection; stop ends both.
func (a *app) serveEmbeddedGateway(ctx context.Context, s *server.Server, addr, token string) (stop func(), err error) {
	b, err := broker.Connect(ctx, broker.Config{URL: s.URL(), Prefix: a.cfg.Prefix, Name: "strand-gateway"})
	if err != nil {
		return nil, err
	}
	stopHTTP, err := a.serveGateway(b, addr, token, nil)
	if err != nil {
		_ = b.Close()
		return nil, err
	}
	return func() { stopHTTP(); _ = b.Close() }, nil
}
