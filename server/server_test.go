package server_test

import (
	"context"
	"errors"
	"net"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/strand-run/strand/internal/broker/brokertest"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/strand-run/strand/server"
)

// start starts a server for t with cfg (Addr defaults to a free loopback
// port, DataDir to t.TempDir()) and stops it at cleanup.
func start(t *testing.T, cfg server.Config) *server.Server {
	t.Helper()
	if cfg.Addr == "" {
		cfg.Addr = "127.0.0.1:0"
	}
	if cfg.DataDir == "" {
		cfg.DataDir = t.TempDir()
	}
	s, err := server.Start(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Stop)
	return s
}

// TestStartServesJetStream: a started server takes a client at URL and
// stores a stream in DataDir; Stop closes it and keeps a given directory.
func TestStartServesJetStream(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	s := start(t, server.Config{DataDir: dir, Name: "solo"})
	if s.DataDir() != dir {
		t.Errorf("DataDir %q, want %q", s.DataDir(), dir)
	}
	if !strings.HasPrefix(s.URL(), "nats://127.0.0.1:") {
		t.Errorf("URL %q, want nats://127.0.0.1:port", s.URL())
	}
	if got := s.NATS().Name(); got != "solo" {
		t.Errorf("NATS().Name() %q, want solo", got)
	}
	nc, err := nats.Connect(s.URL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "S", Subjects: []string{"s.>"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := js.Publish(ctx, "s.1", []byte("hi")); err != nil {
		t.Fatal(err)
	}

	s.Stop()
	s.Stop() // a second Stop is harmless
	if s.NATS().Running() {
		t.Error("running after Stop")
	}
	if _, err := os.Stat(dir); err != nil {
		t.Errorf("given data directory after Stop: %v, want it kept", err)
	}
	if entries, _ := os.ReadDir(dir); len(entries) < 2 {
		t.Errorf("data directory holds %d entries, want JetStream's files beside strand.lock", len(entries))
	}
}

// TestStartTemporaryDataDir: with no DataDir the server makes a temporary
// one, and Stop removes it.
func TestStartTemporaryDataDir(t *testing.T) {
	t.Parallel()
	s, err := server.Start(server.Config{Addr: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	dir := s.DataDir()
	if _, err := os.Stat(dir); err != nil {
		t.Fatalf("temporary data directory: %v", err)
	}
	s.Stop()
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("temporary data directory %s after Stop: %v, want it removed", dir, err)
	}
}

// TestStartPortTaken: a taken port fails at once with the listen error,
// not after the server's 10s wait.
func TestStartPortTaken(t *testing.T) {
	t.Parallel()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	begin := time.Now()
	_, err = server.Start(server.Config{Addr: l.Addr().String(), DataDir: t.TempDir()})
	if !errors.Is(err, syscall.EADDRINUSE) {
		t.Fatalf("server on the taken %s: %v, want EADDRINUSE", l.Addr(), err)
	}
	if d := time.Since(begin); d > 5*time.Second {
		t.Errorf("refused after %v, want at once", d)
	}
}

// TestStartBadAddr: an address that is not host:port is refused.
func TestStartBadAddr(t *testing.T) {
	t.Parallel()
	for _, addr := range []string{"localhost", "127.0.0.1:port"} {
		if s, err := server.Start(server.Config{Addr: addr, DataDir: t.TempDir()}); err == nil {
			s.Stop()
			t.Errorf("%q: started", addr)
		} else if !strings.Contains(err.Error(), addr) {
			t.Errorf("%q: %v, want the address named", addr, err)
		}
	}
}

func TestStartRefusesHalfACluster(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		cfg  server.Config
		want string
	}{
		{"no cluster addr", server.Config{Name: "a", ClusterName: "c"}, "needs ClusterName and ClusterAddr"},
		{"no name", server.Config{ClusterName: "c", ClusterAddr: "127.0.0.1:0"}, "needs a Name"},
		{"bad route", server.Config{Name: "a", ClusterName: "c", ClusterAddr: "127.0.0.1:0", Routes: []string{"::"}}, "want nats-route://"},
	} {
		cfg := tc.cfg
		cfg.Addr, cfg.DataDir = "127.0.0.1:0", t.TempDir()
		s, err := server.Start(cfg)
		if err == nil {
			s.Stop()
			t.Errorf("%s: started", tc.name)
			continue
		}
		if !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want %q", tc.name, err, tc.want)
		}
	}
}

// TestStartCluster: three nodes routed to each other elect a JetStream
// meta leader, and a replicated stream is created through any of them.
func TestStartCluster(t *testing.T) {
	t.Parallel()
	const n = 3
	servers := brokertest.StartCluster(t, n) // server.Start with cluster options, on fresh route ports
	nc, err := nats.Connect(servers[0].URL() + "," + servers[1].URL() + "," + servers[2].URL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(60 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		_, err := js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{Name: "R", Subjects: []string{"r.>"}, Replicas: n})
		cancel()
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("replicated stream on a cluster of %d: %v", n, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	leaders := 0
	for _, s := range servers {
		if s.NATS().NumRoutes() == 0 {
			t.Errorf("%s has no routes", s.NATS().Name())
		}
		if s.NATS().JetStreamIsLeader() {
			leaders++
		}
	}
	if leaders != 1 {
		t.Errorf("%d meta leaders, want 1", leaders)
	}
}
