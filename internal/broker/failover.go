package broker

import (
	"context"
	"errors"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"
)

// FailoverConfig tunes the watchdog that moves a connection off a server
// that cannot reach JetStream. A node cut off from its cluster (routes down)
// keeps its clients, and nats.go stays on it, while every JetStream request
// through it times out or is refused; the watchdog notices and reconnects to
// another server of the URL list. It never moves a connection that knows
// only one server. The zero value is the default.
type FailoverConfig struct {
	// Interval between two checks while connected (default 1s; negative
	// turns the watchdog off).
	Interval time.Duration `envconfig:"INTERVAL"`
	// Timeout of one check, a JetStream account info request (default 1s).
	Timeout time.Duration `envconfig:"TIMEOUT"`
	// Failures is how many checks in a row must find JetStream unreachable
	// before the connection moves (default 3).
	Failures int `envconfig:"FAILURES"`
	// Logger receives a warning at each move (default: none).
	Logger *zerolog.Logger `ignored:"true"`
}

// maxFailoverHoldoff bounds how long the watchdog waits before moving again
// when the server it moved to cannot reach JetStream either (a cluster
// without quorum): it backs off rather than cycling through the list.
const maxFailoverHoldoff = time.Minute

func (c FailoverConfig) withDefaults() FailoverConfig {
	if c.Interval == 0 {
		c.Interval = time.Second
	}
	if c.Timeout <= 0 {
		c.Timeout = time.Second
	}
	if c.Failures <= 0 {
		c.Failures = 3
	}
	if c.Logger == nil {
		nop := zerolog.Nop()
		c.Logger = &nop
	}
	return c
}

// failover is a running watchdog; stop ends it and waits for it.
type failover struct {
	cancel context.CancelFunc
	done   chan struct{}
}

// startFailover runs the watchdog for b's connection until stopFailover.
func (b *Broker) startFailover() {
	fc := b.cfg.Failover.withDefaults()
	if fc.Interval < 0 {
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	f := &failover{cancel: cancel, done: make(chan struct{})}
	b.failover = f
	go func() {
		defer close(f.done)
		b.watchJetStream(ctx, fc)
	}()
}

// stopFailover ends the watchdog, if any, and waits for it; it is safe to
// call more than once.
func (b *Broker) stopFailover() {
	if f := b.failover; f != nil {
		f.cancel()
		<-f.done
	}
}

// watchJetStream checks every fc.Interval that JetStream answers through
// the connected server, and forces a reconnect to another server after
// fc.Failures unreachable answers in a row. After a move that did not help
// it waits twice as long before the next one, up to maxFailoverHoldoff.
func (b *Broker) watchJetStream(ctx context.Context, fc FailoverConfig) {
	nc := b.conn
	failures, moves := 0, 0
	var holdUntil time.Time
	var since uint64 // reconnect count at the first failure of a run
	wait := time.NewTimer(fc.Interval)
	defer wait.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-wait.C:
		}
		if nc.IsClosed() {
			return // closed by its owner, who may not call Close
		}
		wait.Reset(fc.Interval)
		if !nc.IsConnected() || len(nc.Servers()) < 2 || time.Now().Before(holdUntil) {
			failures = 0
			continue
		}
		cctx, cancel := context.WithTimeout(ctx, fc.Timeout)
		_, err := b.js.AccountInfo(cctx)
		cancel()
		if ctx.Err() != nil {
			return
		}
		reconnects := nc.Stats().Reconnects
		switch {
		case err == nil:
			failures, moves = 0, 0
			continue
		case !jetStreamUnreachable(err) || !nc.IsConnected():
			failures = 0
			continue
		case failures == 0 || reconnects != since:
			failures, since = 1, reconnects // a new run, on this server
		default:
			failures++
		}
		if failures < fc.Failures {
			continue
		}
		fc.Logger.Warn().Err(err).Str("server", nc.ConnectedUrlRedacted()).Int("failures", failures).
			Msg("JetStream unreachable through this server; reconnecting to another")
		if err := nc.ForceReconnect(); err != nil {
			fc.Logger.Warn().Err(err).Msg("force reconnect")
		}
		failures = 0
		if moves > 0 {
			holdUntil = time.Now().Add(min(fc.Interval*time.Duration(fc.Failures)<<(moves-1), maxFailoverHoldoff))
		}
		moves++
	}
}

// jetStreamUnreachable reports whether err says JetStream did not answer
// through this server: a timeout, no responders (which AccountInfo reports
// as ErrJetStreamNotEnabled), or 503 "temporarily unavailable".
func jetStreamUnreachable(err error) bool {
	return Transient(err) || errors.Is(err, jetstream.ErrJetStreamNotEnabled)
}
