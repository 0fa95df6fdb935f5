package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/strand-run/strand/internal/link"

	"github.com/rs/zerolog"
	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/strand-run/strand/inspect"
	"github.com/strand-run/strand/internal/broker"
	"github.com/strand-run/strand/writer"
)

// app is what every command shares: where to print, how to reach NATS, and
// the logger.
type app struct {
	stdout, stderr io.Writer

	flagCfg  broker.Config // the connection flags as given
	cfg      broker.Config // STRAND_* variables, overridden by the flags given
	logLevel string
	log      zerolog.Logger

	// started is set once a command's own code runs: errors before it are
	// cobra refusing the command line.
	started bool
}

// connFlags are the global connection flags: each overrides a field of
// broker.Config read from its environment variable.
var connFlags = []struct {
	name, env, usage string
	field            func(*broker.Config) *string
}{
	{"server", "STRAND_SERVER", "NATS server URL(s), comma separated (default nats://127.0.0.1:4222)", func(c *broker.Config) *string { return &c.URL }},
	{"prefix", "STRAND_PREFIX", `prefix of strand's subjects and buckets (default "strand")`, func(c *broker.Config) *string { return &c.Prefix }},
	{"creds", "STRAND_CREDS", "NATS credentials file (JWT and NKey seed)", func(c *broker.Config) *string { return &c.Creds }},
	{"token", "STRAND_TOKEN", "NATS authentication token", func(c *broker.Config) *string { return &c.Token }},
	{"user", "STRAND_USER", "NATS user name", func(c *broker.Config) *string { return &c.User }},
	{"password", "STRAND_PASSWORD", "NATS password", func(c *broker.Config) *string { return &c.Password }},
	{"tls-cert", "STRAND_TLS_CERT", "client TLS certificate file", func(c *broker.Config) *string { return &c.TLSCert }},
	{"tls-key", "STRAND_TLS_KEY", "client TLS key file", func(c *broker.Config) *string { return &c.TLSKey }},
	{"tls-ca", "STRAND_TLS_CA", "CA file to verify the server's certificate", func(c *broker.Config) *string { return &c.TLSCA }},
}

func newRootCmd(a *app) *cobra.Command {
	root := &cobra.Command{
		Use:   "strand",
		Short: "strand: a task queue on NATS JetStream",
		Long: `strand is a task queue on NATS JetStream.

Try it in two terminals:
  strand dev                        # a NATS server and a worker with demo functions
  strand submit --wait add 2 3      # prints 5

Connection flags default to STRAND_* environment variables (shown in brackets).

` + exitCodesHelp,
		Version:       version(),
		SilenceErrors: true,
		SilenceUsage:  true,
		PersistentPreRunE: func(cmd *cobra.Command, _ []string) error {
			a.started = true
			return a.setup(cmd)
		},
	}
	pf := root.PersistentFlags()
	for _, f := range connFlags {
		pf.StringVar(f.field(&a.flagCfg), f.name, "", f.usage+" [$"+f.env+"]")
	}
	root.SetVersionTemplate("strand {{.Version}}\n")
	pf.StringVar(&a.logLevel, "log-level", "info", "log level: debug, info, warn or error")

	root.AddCommand(
		newDevCmd(a),
		newServerCmd(a),
		newGatewayCmd(a),
		newWorkerCmd(a),
		newSubmitCmd(a),
		newStatusCmd(a),
		newResultCmd(a),
		newCancelCmd(a),
		newPurgeCmd(a),
		newScheduleCmd(a),
		newWorkersCmd(a),
		newQueuesCmd(a),
		newQueueCmd(a),
		newDLQCmd(a),
		newTasksCmd(a),
		newBenchCmd(a),
		newFlowCmd(a),
		newVersionCmd(a),
	)
	for _, c := range root.Commands() {
		if c.Long == "" {
			c.Long = c.Short + "."
		}
		c.Long += "\n\n" + exitCodesHelp
	}
	return root
}

// setup reads the environment, applies the flags given, and makes the logger.
func (a *app) setup(cmd *cobra.Command) error {
	cfg, err := broker.FromEnv()
	if err != nil {
		return usageErrorf("environment: %v", err)
	}
	for _, f := range connFlags {
		if cmd.Flags().Changed(f.name) {
			*f.field(&cfg) = *f.field(&a.flagCfg)
		}
	}
	a.cfg = cfg
	level, err := parseLevel(a.logLevel)
	if err != nil {
		return usageErrorf("--log-level: %v", err)
	}
	// SyncWriter: workers, the gateway and the command log from many goroutines.
	w := zerolog.SyncWriter(zerolog.ConsoleWriter{Out: a.stderr, TimeFormat: "15:04:05.000", NoColor: !colorful(a.stderr)})
	a.log = zerolog.New(w).Level(level).With().Timestamp().Logger()
	return nil
}

func parseLevel(s string) (zerolog.Level, error) {
	switch strings.ToLower(s) {
	case "debug":
		return zerolog.DebugLevel, nil
	case "info":
		return zerolog.InfoLevel, nil
	case "warn", "warning":
		return zerolog.WarnLevel, nil
	case "error":
		return zerolog.ErrorLevel, nil
	}
	return zerolog.InfoLevel, fmt.Errorf("%q is not one of debug, info, warn, error", s)
}

// colorful reports whether w is a terminal that wants colours.
func colorful(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok || os.Getenv("NO_COLOR") != "" {
		return false
	}
	return term.IsTerminal(int(f.Fd()))
}

// serverURL is the server the connection flags point at.
func (a *app) serverURL() string {
	if a.cfg.URL == "" {
		return "nats://127.0.0.1:4222"
	}
	return a.cfg.URL
}

// connect dials NATS with the global connection settings.
func (a *app) connect(ctx context.Context) (*broker.Broker, error) {
	cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	b, err := broker.Connect(cctx, a.cfg)
	if err != nil {
		return nil, err
	}
	return b, nil
}

// client is a connection, a writer and an inspector on it, for the client
// commands.
type client struct {
	b  *broker.Broker
	w  *writer.Writer
	in *inspect.Inspector // the admin commands: queues, workers, dlq, purge, tasks, queue pause
}

// newClient connects and makes a writer configured from STRAND_QUEUE,
// STRAND_RESULT_TTL and STRAND_JSON.
func (a *app) newClient(ctx context.Context) (*client, error) {
	wc, err := writer.FromEnv()
	if err != nil {
		return nil, usageErrorf("%v", err)
	}
	wc.Logger = &a.log
	b, err := a.connect(ctx)
	if err != nil {
		return nil, err
	}
	w, err := writer.New(link.Public(b), wc)
	if err != nil {
		_ = b.Close()
		return nil, err
	}
	ic := inspect.Config{Queue: wc.Queue, ResultTTL: wc.ResultTTL, TaskTTL: wc.TaskTTL, Caller: wc.Caller, Logger: &a.log}
	in, err := inspect.New(link.Public(b), ic)
	if err != nil {
		_ = w.Close()
		_ = b.Close()
		return nil, err
	}
	return &client{b: b, w: w, in: in}, nil
}

// Close stops the writer and drains the connection.
func (c *client) Close() {
	_ = c.w.Close()
	_ = c.b.Close()
}
