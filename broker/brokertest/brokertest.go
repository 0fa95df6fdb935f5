// Package brokertest starts a real NATS server with JetStream for one test:
// in-process, on a free loopback port, with its data in t.TempDir, and gone
// when the test ends. No test shares a server with another.
package brokertest

import (
	"context"
	"testing"

	"github.com/strand-run/strand/broker"
	"github.com/strand-run/strand/server"
)

// Start starts an embedded server for t and stops it at cleanup.
func Start(t testing.TB) *server.Server {
	t.Helper()
	return StartWith(t, server.Config{})
}

// StartWith starts an embedded server for t with cfg; Addr and DataDir
// default to a free loopback port and t.TempDir().
func StartWith(t testing.TB, cfg server.Config) *server.Server {
	t.Helper()
	if cfg.Addr == "" {
		cfg.Addr = "127.0.0.1:0"
	}
	if cfg.DataDir == "" {
		cfg.DataDir = t.TempDir()
	}
	s, err := server.Start(cfg)
	if err != nil {
		t.Fatalf("brokertest: %v", err)
	}
	t.Cleanup(s.Stop)
	return s
}

// Connect connects a broker to s with cfg (URL filled in) and closes it at cleanup.
func Connect(t testing.TB, s *server.Server, cfg broker.Config) *broker.Broker {
	t.Helper()
	cfg.URL = s.URL()
	b, err := broker.Connect(context.Background(), cfg)
	if err != nil {
		t.Fatalf("brokertest: %v", err)
	}
	t.Cleanup(func() { _ = b.Close() })
	return b
}

// New starts a server and connects a broker to it.
func New(t testing.TB) (*server.Server, *broker.Broker) {
	t.Helper()
	s := Start(t)
	return s, Connect(t, s, broker.Config{})
}
