package brokertest

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"strconv"
	"sync"
	"testing"

	"github.com/strand-run/strand/server"
)

// Partition cuts nodes of a cluster started by StartPartitionedCluster off
// from their peers, for real: every route between two nodes runs through a
// TCP proxy in front of the accepting node, and Isolate closes the routes
// of a node and refuses new ones, while its client port stays up.
type Partition struct {
	mu      sync.Mutex
	ids     []string // server IDs, by node
	cut     []bool
	conns   []*proxiedRoute
	proxies []net.Listener
}

// proxiedRoute is one route connection through a proxy, from the node that
// dialed to the node behind the proxy. The dialer is known by the first line
// it sent, once the IDs are (routes form while the servers start).
type proxiedRoute struct {
	first   []byte
	to      int
	in, out net.Conn
}

// from is the node that dialed c, -1 while not known. p.mu is held.
func (p *Partition) from(c *proxiedRoute) int {
	for i, id := range p.ids {
		if bytes.Contains(c.first, []byte(id)) {
			return i
		}
	}
	return -1
}

// StartPartitionedCluster is StartCluster with every route through a proxy
// of the returned Partition (each node advertises its proxy, so routes the
// nodes learn from each other go through it too).
func StartPartitionedCluster(t testing.TB, n int) ([]*server.Server, *Partition) {
	t.Helper()
	p := &Partition{cut: make([]bool, n)}
	ports := freePorts(t, n)
	routes := make([]string, n)
	proxyAddrs := make([]string, n)
	for i, port := range ports {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatalf("brokertest: route proxy: %v", err)
		}
		p.proxies = append(p.proxies, l)
		proxyAddrs[i] = l.Addr().String()
		routes[i] = "nats-route://" + proxyAddrs[i]
		go p.serve(l, i, "127.0.0.1:"+strconv.Itoa(port))
	}
	t.Cleanup(p.close) // runs after the servers stop: cleanups run last in, first out
	servers := make([]*server.Server, n)
	for i := range n {
		servers[i] = StartWith(t, server.Config{
			Name:             "strand-" + strconv.Itoa(i+1),
			ClusterName:      "strand-test",
			ClusterAddr:      "127.0.0.1:" + strconv.Itoa(ports[i]),
			ClusterAdvertise: proxyAddrs[i],
			Routes:           routes,
		})
	}
	p.mu.Lock()
	for _, s := range servers {
		p.ids = append(p.ids, s.NATS().ID())
	}
	p.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), clusterReady)
	defer cancel()
	for _, s := range servers {
		if err := jetStreamReady(ctx, s, n); err != nil {
			t.Fatalf("brokertest: cluster of %d not ready after %v: %v", n, clusterReady, err)
		}
	}
	return servers, p
}

// Isolate cuts node i (an index into the servers) off from every other
// node until Heal: its routes are closed, and new ones are refused.
func (p *Partition) Isolate(i int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.cut[i] = true
	live := p.conns[:0]
	for _, c := range p.conns {
		if c.to == i || p.from(c) == i {
			_ = c.in.Close()
			_ = c.out.Close()
			continue
		}
		live = append(live, c)
	}
	p.conns = live
}

// Heal lets node i route to the others again; they reconnect on their own.
func (p *Partition) Heal(i int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.cut[i] = false
}

// serve proxies route connections to node `to` at addr.
func (p *Partition) serve(l net.Listener, to int, addr string) {
	for {
		in, err := l.Accept()
		if err != nil {
			return
		}
		go p.proxy(in, to, addr)
	}
}

// proxy relays one route connection. The dialing node's first line (its
// CONNECT or INFO, which carry its server ID) says which node it is.
func (p *Partition) proxy(in net.Conn, to int, addr string) {
	out, err := net.Dial("tcp", addr)
	if err != nil {
		_ = in.Close()
		return
	}
	c := &proxiedRoute{to: to, in: in, out: out}
	if !p.admit(c) {
		return
	}
	go func() {
		_, _ = io.Copy(in, out) // the accepting node speaks first in NATS
		_ = in.Close()
	}()
	r := bufio.NewReader(in)
	line, err := r.ReadSlice('\n')
	if err != nil && !errors.Is(err, bufio.ErrBufferFull) {
		_ = out.Close()
		return
	}
	p.mu.Lock()
	c.first = bytes.Clone(line)
	p.mu.Unlock()
	if !p.admit(c) {
		return
	}
	if _, err := out.Write(line); err == nil {
		_, _ = io.Copy(out, r)
	}
	_ = out.Close()
}

// admit records c, or closes it when either end is cut.
func (p *Partition) admit(c *proxiedRoute) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if from := p.from(c); p.cut[c.to] || (from >= 0 && p.cut[from]) {
		_ = c.in.Close()
		_ = c.out.Close()
		return false
	}
	if c.first == nil {
		p.conns = append(p.conns, c)
	}
	return true
}

// close stops the proxies and their connections.
func (p *Partition) close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, l := range p.proxies {
		_ = l.Close()
	}
	for _, c := range p.conns {
		_ = c.in.Close()
		_ = c.out.Close()
	}
	p.conns = nil
}
