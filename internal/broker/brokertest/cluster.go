package brokertest

import (
	"context"
	"fmt"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/strand-run/strand/server"
)

// clusterReady bounds how long StartCluster waits for the nodes to meet and
// elect JetStream's meta leader.
const clusterReady = 60 * time.Second

// StartCluster starts n in-process servers forming one JetStream cluster on
// loopback (free client and route ports, data in t.TempDir), routed to each
// other, and returns once the meta leader is elected and JetStream answers
// on every node. The servers are named strand-1 … strand-n and stopped at
// cleanup.
func StartCluster(t testing.TB, n int) []*server.Server {
	t.Helper()
	var servers []*server.Server
	for try := 1; servers == nil; try++ {
		var err error
		if servers, err = startCluster(t, n); err != nil && (try == portTries || !strings.Contains(err.Error(), "address already in use")) {
			t.Fatalf("brokertest: %v", err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), clusterReady)
	defer cancel()
	for _, s := range servers {
		if err := jetStreamReady(ctx, s, n); err != nil {
			t.Fatalf("brokertest: cluster of %d not ready after %v: %v", n, clusterReady, err)
		}
	}
	return servers
}

// portTries bounds the starts of a cluster whose route ports another
// process took between freePorts and the bind.
const portTries = 5

// startCluster starts the n nodes on fresh route ports, or stops those it
// started and returns the error of the one that failed.
func startCluster(t testing.TB, n int) ([]*server.Server, error) {
	t.Helper()
	ports := freePorts(t, n)
	routes := make([]string, n)
	for i, p := range ports {
		routes[i] = "nats-route://127.0.0.1:" + strconv.Itoa(p)
	}
	servers := make([]*server.Server, 0, n)
	for i := range n {
		s, err := server.Start(server.Config{
			Addr:        "127.0.0.1:0",
			DataDir:     t.TempDir(),
			Name:        "strand-" + strconv.Itoa(i+1),
			ClusterName: "strand-test",
			ClusterAddr: "127.0.0.1:" + strconv.Itoa(ports[i]),
			Routes:      routes,
		})
		if err != nil {
			for _, s := range servers {
				s.Stop()
			}
			return nil, err
		}
		t.Cleanup(s.Stop)
		servers = append(servers, s)
	}
	return servers, nil
}

// freePorts finds n free loopback ports. They are released before the
// servers bind them, so another process could take one in between:
// StartCluster then starts the cluster again on fresh ones.
func freePorts(t testing.TB, n int) []int {
	t.Helper()
	ports := make([]int, n)
	ls := make([]net.Listener, n)
	for i := range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatalf("brokertest: free port: %v", err)
		}
		ls[i], ports[i] = l, l.Addr().(*net.TCPAddr).Port
	}
	for _, l := range ls {
		_ = l.Close()
	}
	return ports
}

// jetStreamReady waits until s sees all n peers, is current with the meta
// leader, and answers a JetStream account info request.
func jetStreamReady(ctx context.Context, s *server.Server, n int) error {
	nc, err := nats.Connect(s.URL(), nats.MaxReconnects(-1))
	if err != nil {
		return err
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return err
	}
	var last error
	for {
		if peers := len(s.NATS().JetStreamClusterPeers()); peers != n && s.NATS().JetStreamIsLeader() {
			last = fmt.Errorf("%s: meta leader sees %d of %d peers", s.NATS().Name(), peers, n)
		} else if !s.NATS().JetStreamIsCurrent() {
			last = fmt.Errorf("%s: not current with the meta leader", s.NATS().Name())
		} else {
			actx, cancel := context.WithTimeout(ctx, 2*time.Second)
			_, err := js.AccountInfo(actx)
			cancel()
			if err == nil {
				return nil
			}
			last = fmt.Errorf("%s: account info: %w", s.NATS().Name(), err)
		}
		select {
		case <-ctx.Done():
			return last
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// URLs is the client URL list of servers, comma separated, as
// broker.Config.URL takes it.
func URLs(servers ...*server.Server) string {
	urls := make([]string, len(servers))
	for i, s := range servers {
		urls[i] = s.URL()
	}
	return strings.Join(urls, ",")
}

// MetaLeader returns the server that leads JetStream's meta group, nil
// while there is none.
func MetaLeader(servers []*server.Server) *server.Server {
	for _, s := range servers {
		if s.NATS().Running() && s.NATS().JetStreamIsLeader() {
			return s
		}
	}
	return nil
}

// StreamLeader asks JetStream (StreamInfo's Cluster.Leader) which server
// leads stream and returns it from servers. It retries until ctx ends while
// the stream has no leader.
func StreamLeader(ctx context.Context, js jetstream.JetStream, stream string, servers []*server.Server) (*server.Server, error) {
	var last error
	for {
		sctx, cancel := context.WithTimeout(ctx, time.Second)
		st, err := js.Stream(sctx, stream)
		cancel()
		if err == nil {
			if ci := st.CachedInfo().Cluster; ci != nil && ci.Leader != "" {
				for _, s := range servers {
					if s.NATS().Name() == ci.Leader && s.NATS().Running() {
						return s, nil
					}
				}
				err = fmt.Errorf("leader %q is none of the running servers", ci.Leader)
			} else {
				err = fmt.Errorf("stream %s has no leader", stream)
			}
		}
		last = err
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("stream leader of %s: %w", stream, last)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// StopStreamLeader shuts down the server leading stream and returns it.
func StopStreamLeader(t testing.TB, js jetstream.JetStream, stream string, servers []*server.Server) *server.Server {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s, err := StreamLeader(ctx, js, stream, servers)
	if err != nil {
		t.Fatalf("brokertest: %v", err)
	}
	s.Stop()
	return s
}
