package server

import (
	"fmt"
	"net"
	"net/url"
	"os"
	"strconv"
	"time"

	natsserver "github.com/nats-io/nats-server/v2/server"
)

// Config configures an embedded NATS server with JetStream. The zero value
// is a single server on 127.0.0.1:4222 with its data in a new temporary
// directory.
type Config struct {
	// Addr is host:port to listen on (default 127.0.0.1:4222; port 0 picks a free one).
	Addr string
	// DataDir holds JetStream's files (default: a new temporary directory).
	// A server holds an exclusive lock on it (file strand.lock) while it
	// runs; a second server on the same directory fails with ErrDataDirInUse.
	// A temporary directory is removed by Stop; a given one is kept.
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

	// ClusterName, ClusterAddr and Routes make the server one node of a
	// JetStream cluster; all three empty (the default) is a single server.
	// Every node of a cluster has the same ClusterName and a distinct Name.
	ClusterName string
	// ClusterAddr is host:port for routes from the other nodes (host
	// defaults to 127.0.0.1; port 0 picks a free one).
	ClusterAddr string
	// Routes are the other nodes' cluster addresses, nats-route://host:port;
	// listing every node, this one included, is fine.
	Routes []string
	// ClusterAdvertise is the host:port the other nodes are told to route
	// to, when it is not ClusterAddr (a NAT, a proxy); default ClusterAddr.
	ClusterAdvertise string
}

// Server is a running embedded NATS server.
type Server struct {
	ns      *natsserver.Server
	dataDir string
	tmpDir  bool     // dataDir was made by Start: Stop removes it
	lock    *dirLock // on dataDir, from start to Stop
}

// URL is the client URL of the server, nats://host:port.
func (s *Server) URL() string { return s.ns.ClientURL() }

// DataDir is where JetStream keeps its files.
func (s *Server) DataDir() string { return s.dataDir }

// NATS is the nats-server underneath, for what this package does not wrap:
// monitoring (Varz, Jsz), cluster state (JetStreamIsLeader), names and
// routes. Stop it with Stop, which also releases the data directory.
func (s *Server) NATS() *natsserver.Server { return s.ns }

// Stop shuts the server down and waits for it to finish; it is safe to call
// more than once.
func (s *Server) Stop() {
	s.ns.Shutdown()
	s.ns.WaitForShutdown()
	s.lock.release()
	if s.tmpDir {
		_ = os.RemoveAll(s.dataDir)
	}
}

// Start starts an embedded NATS server with JetStream and waits until it
// accepts connections. It binds where cfg.Addr says, 127.0.0.1 by default.
// It fails at once with ErrDataDirInUse when another server runs on
// cfg.DataDir, and with the listen error (syscall.EADDRINUSE) when the port
// is taken.
func Start(cfg Config) (*Server, error) {
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
	if port, err = listenPort(host, port); err != nil {
		return nil, err
	}
	dir, tmp := cfg.DataDir, false
	if dir == "" {
		if dir, err = os.MkdirTemp("", "strand-data-"); err != nil {
			return nil, err
		}
		tmp = true
	}
	lock, err := lockDataDir(dir)
	if err != nil {
		if tmp {
			_ = os.RemoveAll(dir)
		}
		return nil, err
	}
	fail := func(err error) (*Server, error) {
		lock.release()
		if tmp {
			_ = os.RemoveAll(dir)
		}
		return nil, err
	}
	name := cfg.Name
	if name == "" {
		name = "strand"
	}
	opts := &natsserver.Options{
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
	if err := cluster(cfg, opts); err != nil {
		return fail(err)
	}
	s, err := natsserver.NewServer(opts)
	if err != nil {
		return fail(fmt.Errorf("start nats server: %w", err))
	}
	if cfg.Log {
		s.ConfigureLogger()
	}
	go s.Start()
	// In a cluster this also waits for the route listener; JetStream's meta
	// leader is elected later, once enough nodes have met.
	if !s.ReadyForConnections(10 * time.Second) {
		s.Shutdown()
		return fail(fmt.Errorf("start nats server on %s: not ready after 10s", addr))
	}
	return &Server{ns: s, dataDir: dir, tmpDir: tmp, lock: lock}, nil
}

// listenPort checks that host:port is free (the server reports a taken port
// only through its log) and maps port 0 to the server's "pick one".
func listenPort(host string, port int) (int, error) {
	if port == 0 {
		return natsserver.RANDOM_PORT, nil
	}
	l, err := net.Listen("tcp", net.JoinHostPort(host, strconv.Itoa(port)))
	if err != nil {
		return 0, fmt.Errorf("start nats server: %w", err)
	}
	_ = l.Close()
	return port, nil
}

// cluster sets the route listener and routes of a clustered node in opts.
func cluster(cfg Config, opts *natsserver.Options) error {
	if cfg.ClusterName == "" && cfg.ClusterAddr == "" && len(cfg.Routes) == 0 {
		return nil
	}
	if cfg.ClusterName == "" || cfg.ClusterAddr == "" {
		return fmt.Errorf("start nats server: a cluster node needs ClusterName and ClusterAddr")
	}
	if cfg.Name == "" {
		return fmt.Errorf("start nats server: a cluster node needs a Name of its own")
	}
	host, portStr, err := net.SplitHostPort(cfg.ClusterAddr)
	if err != nil {
		return fmt.Errorf("cluster addr %q: %w", cfg.ClusterAddr, err)
	}
	if host == "" {
		host = "127.0.0.1"
	}
	port, err := strconv.Atoi(portStr)
	if err != nil {
		return fmt.Errorf("cluster addr %q: bad port", cfg.ClusterAddr)
	}
	if port, err = listenPort(host, port); err != nil {
		return err
	}
	opts.Cluster = natsserver.ClusterOpts{Name: cfg.ClusterName, Host: host, Port: port, Advertise: cfg.ClusterAdvertise}
	for _, r := range cfg.Routes {
		u, err := url.Parse(r)
		if err != nil || u.Host == "" {
			return fmt.Errorf("cluster route %q: want nats-route://host:port", r)
		}
		opts.Routes = append(opts.Routes, u)
	}
	return nil
}
