package main

import (
	"errors"
	"fmt"
	"io"
	"net"
	"path/filepath"
	"syscall"
	"time"

	"github.com/rs/zerolog"
	"github.com/spf13/cobra"

	"github.com/strand-run/strand/broker"
	"github.com/strand-run/strand/server"
)

const defaultAddr = "127.0.0.1:4222"

// serverFlags are the flags of the commands that embed a NATS server.
type serverFlags struct {
	addr string
	data string
	sync string
}

func (f *serverFlags) register(cmd *cobra.Command) {
	fl := cmd.Flags()
	fl.StringVar(&f.addr, "addr", defaultAddr, "host:port to listen on (port 0 picks a free one)")
	fl.StringVar(&f.data, "data", ".strand-data", "directory for JetStream's files")
	fl.StringVar(&f.sync, "sync", "", `when JetStream fsyncs: "always" (before acknowledging each write) or an interval (default 2m)`)
}

// config turns the flags into a server configuration.
func (f *serverFlags) config(log bool) (server.Config, error) {
	cfg := server.Config{Addr: f.addr, Log: log}
	switch f.sync {
	case "":
	case "always":
		cfg.SyncAlways = true
	default:
		d, err := time.ParseDuration(f.sync)
		if err != nil || d <= 0 {
			return cfg, usageErrorf(`--sync %q: want "always" or a positive duration such as 10s`, f.sync)
		}
		cfg.SyncInterval = d
	}
	if f.data == "" {
		return cfg, usageErrorf("--data: empty directory name")
	}
	dir, err := filepath.Abs(f.data)
	if err != nil {
		return cfg, fmt.Errorf("--data %s: %w", f.data, err)
	}
	cfg.DataDir = dir
	return cfg, nil
}

// syncPolicy says in words what cfg promises about fsync.
func syncPolicy(cfg server.Config) string {
	switch {
	case cfg.SyncAlways:
		return "fsync before every acknowledgement"
	case cfg.SyncInterval > 0:
		return "fsync every " + cfg.SyncInterval.String()
	}
	return "fsync every 2m, the NATS default"
}

// startServer starts the embedded server, first checking that its port is
// free: the NATS server itself only reports that after a 10s wait.
func startServer(cfg server.Config) (*server.Server, error) {
	if err := checkAddr(cfg.Addr); err != nil {
		return nil, err
	}
	s, err := server.Start(cfg)
	if err != nil {
		return nil, fmt.Errorf("start server on %s: %w", cfg.Addr, err)
	}
	return s, nil
}

// checkAddr fails with advice when addr cannot be listened on.
func checkAddr(addr string) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return usageErrorf("--addr %q: want host:port, such as 127.0.0.1:4222", addr)
	}
	if port == "0" {
		return nil
	}
	if host == "" {
		addr = net.JoinHostPort("127.0.0.1", port)
	}
	l, err := net.Listen("tcp", addr)
	if err != nil {
		if errors.Is(err, syscall.EADDRINUSE) {
			return fmt.Errorf("%s is already in use (another strand or NATS server?); "+
				"pick another port with --addr, or --addr 127.0.0.1:0 for a free one", addr)
		}
		return fmt.Errorf("cannot listen on %s: %w", addr, err)
	}
	return l.Close()
}

// serverFlag is the --server flag a client needs to reach url, or "" when
// url is the default.
func serverFlag(url string) string {
	if url == "nats://"+defaultAddr {
		return ""
	}
	return " --server " + url
}

// printServer tells where the server listens and where its data is.
func printServer(out io.Writer, s *server.Server, cfg server.Config) {
	fmt.Fprintf(out, "NATS server with JetStream listening on %s\n", s.URL())
	fmt.Fprintf(out, "data:      %s (%s)\n", s.DataDir(), syncPolicy(cfg))
}

func newServerCmd(a *app) *cobra.Command {
	var (
		sf serverFlags
		hf httpFlags
	)
	cmd := &cobra.Command{
		Use:   "server [--addr HOST:PORT] [--data DIR] [--sync always|DURATION] [--http HOST:PORT]",
		Short: "Run an embedded NATS server with JetStream, without a worker",
		Long: `Run an embedded NATS server with JetStream, without a worker, until SIGINT or SIGTERM.
Workers (strand worker) and clients connect to it with --server.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := sf.config(a.log.GetLevel() <= zerolog.DebugLevel)
			if err != nil {
				return err
			}
			ctx, stop := untilSignal(cmd.Context())
			defer stop()
			s, err := startServer(cfg)
			if err != nil {
				return err
			}
			out := a.stdout
			printServer(out, s, cfg)
			// Provision the streams now (with message schedules, for delayed
			// tasks and schedules) rather than at the first client's connect.
			pc := a.cfg
			pc.URL = s.URL()
			if pb, err := broker.Connect(ctx, pc); err != nil {
				a.log.Warn().Err(err).Msg("provisioning the streams; the first client will")
			} else {
				if err := pb.SchedulesReady(); err != nil {
					a.log.Warn().Err(err).Msg("delayed tasks and schedules")
				}
				_ = pb.Close()
			}
			stopHTTP := func() {}
			if hf.addr != "" {
				if stopHTTP, err = a.serveEmbeddedGateway(ctx, s, hf.addr, hf.tokenOf(cmd)); err != nil {
					s.Stop()
					return err
				}
			}
			flag := serverFlag(s.URL())
			fmt.Fprintf(out, "\nthen, in other terminals:\n")
			fmt.Fprintf(out, "  strand worker%s\n", flag)
			fmt.Fprintf(out, "  strand submit%s --wait add 2 3\n", flag)
			fmt.Fprintf(out, "\nready; Ctrl-C to stop\n")
			<-ctx.Done()
			stopHTTP()
			a.log.Info().Msg("stopping the server")
			s.Stop()
			a.log.Info().Msg("stopped")
			return nil
		},
	}
	sf.register(cmd)
	hf.register(cmd, "", "also serve the HTTP gateway on host:port (default: none)")
	return cmd
}
