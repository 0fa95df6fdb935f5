package broker

import (
	"fmt"
	"net"
	"os"
	"strconv"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// ServerConfig configures an embedded NATS server with JetStream.
type ServerConfig struct {
	// Addr is host:port to listen on (default 127.0.0.1:4222; port 0 picks a free one).
	Addr string
	// DataDir holds JetStream's files (default: a new temporary directory).
	DataDir string
	// SyncAlways makes JetStream fsync every write before acknowledging it;
	// otherwise it syncs every SyncInterval (default 2m, the server's own).
	// See docs/operations.md for what each promises.
	SyncAlways   bool
	SyncInterval time.Duration
	// MaxPayload is the largest message accepted (default 1 MiB).
	MaxPayload int32
	// Name of the server (default "strand").
	Name string
	// Log turns the server's own log on (stderr).
	Log bool
}

// Server is a running embedded NATS server.
type Server struct {
	*server.Server
	dataDir string
}

// URL is the client URL of the server.
func (s *Server) URL() string { return s.ClientURL() }

// DataDir is where JetStream keeps its files.
func (s *Server) DataDir() string { return s.dataDir }

// Stop shuts the server down and waits for it to finish.
func (s *Server) Stop() {
	s.Shutdown()
	s.WaitForShutdown()
}

// StartServer starts an embedded NATS server with JetStream and waits until
// it accepts connections. It binds where cfg.Addr says, 127.0.0.1 by default.
func StartServer(cfg ServerConfig) (*Server, error) {
	addr := cfg.Addr
	if addr == "" {
		addr = "127.0.0.1:4222"
	}
	host, portStr, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("server addr %q: %w", addr, err)
	}
	if host == "" {
		host = "127.0.0.1"
	}
	port, err := strconv.Atoi(portStr)
	if err != nil {
		return nil, fmt.Errorf("server addr %q: bad port", addr)
	}
	if port == 0 {
		port = server.RANDOM_PORT
	} else {
		// The server reports a taken port only through its log; ask first.
		l, err := net.Listen("tcp", net.JoinHostPort(host, portStr))
		if err != nil {
			return nil, fmt.Errorf("start nats server: %w", err)
		}
		_ = l.Close()
	}
	dir := cfg.DataDir
	if dir == "" {
		if dir, err = os.MkdirTemp("", "strand-data-"); err != nil {
			return nil, err
		}
	}
	name := cfg.Name
	if name == "" {
		name = "strand"
	}
	opts := &server.Options{
		ServerName:   name,
		Host:         host,
		Port:         port,
		JetStream:    true,
		StoreDir:     dir,
		MaxPayload:   cfg.MaxPayload,
		SyncAlways:   cfg.SyncAlways,
		SyncInterval: cfg.SyncInterval,
		NoSigs:       true,
		NoLog:        !cfg.Log,
	}
	s, err := server.NewServer(opts)
	if err != nil {
		return nil, fmt.Errorf("start nats server: %w", err)
	}
	if cfg.Log {
		s.ConfigureLogger()
	}
	go s.Start()
	if !s.ReadyForConnections(10 * time.Second) {
		s.Shutdown()
		return nil, fmt.Errorf("start nats server on %s: not ready after 10s", addr)
	}
	return &Server{Server: s, dataDir: dir}, nil
}
