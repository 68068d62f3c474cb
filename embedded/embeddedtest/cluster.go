package embeddedtest

import (
	"fmt"
	"net"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// ClusterOptions customise a test cluster.
type ClusterOptions struct {
	// Configure, when set, edits node i's options before it starts and before every
	// restart (e.g. to add operator-mode authentication). Ports, store and cluster
	// settings are already filled in.
	Configure func(i int, o *server.Options)
}

// NATSCluster is an in-process JetStream cluster on loopback whose nodes can be stopped
// and restarted on the same store (a node loss and its return).
type NATSCluster struct {
	t     testing.TB
	mu    sync.Mutex
	nodes []*clusterNode
}

type clusterNode struct {
	opts *server.Options // as first started; a restart reuses them (same ports, same store)
	srv  *server.Server  // nil while stopped
}

// Cluster starts an n-node JetStream cluster on random loopback ports, each node with its
// store in its own t.TempDir(), and waits until JetStream has a meta leader that every
// node follows. Every node stops when the test ends.
func Cluster(t testing.TB, n int, o ClusterOptions) *NATSCluster {
	t.Helper()
	if n < 1 {
		t.Fatalf("cluster of %d nodes", n)
	}
	ports := freePorts(t, n)
	routes := make([]*url.URL, n)
	for i, p := range ports {
		routes[i] = &url.URL{Scheme: "nats-route", Host: net.JoinHostPort("127.0.0.1", fmt.Sprint(p))}
	}
	c := &NATSCluster{t: t}
	for i := range n {
		opts := &server.Options{
			ServerName:         fmt.Sprintf("n%d", i),
			Host:               "127.0.0.1",
			Port:               server.RANDOM_PORT,
			NoSigs:             true,
			NoLog:              true,
			MaxPayload:         8 * 1024 * 1024,
			JetStream:          true,
			StoreDir:           t.TempDir(),
			JetStreamMaxMemory: 256 << 20,
			JetStreamMaxStore:  2 << 30,
			Cluster:            server.ClusterOpts{Name: "gaib-test", Host: "127.0.0.1", Port: ports[i]},
			Routes:             routes, // a node skips the route to itself
		}
		if o.Configure != nil {
			o.Configure(i, opts)
		}
		c.nodes = append(c.nodes, &clusterNode{opts: opts})
	}
	// Registered after the stores' t.TempDir: cleanups run last first, so every node is
	// down before its store is removed.
	t.Cleanup(c.stopAll)
	for i := range c.nodes {
		c.start(i)
	}
	c.waitCurrent(func(int) bool { return true })
	return c
}

// freePorts reserves n loopback ports for the cluster routes (which every node must know
// before it starts).
func freePorts(t testing.TB, n int) []int {
	t.Helper()
	var ls []net.Listener
	var ports []int
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		ls = append(ls, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	for _, l := range ls {
		_ = l.Close()
	}
	return ports
}

func (c *NATSCluster) start(i int) {
	c.t.Helper()
	n := c.nodes[i]
	opts := *n.opts
	srv, err := server.NewServer(&opts)
	if err != nil {
		c.t.Fatalf("cluster node %d: %v", i, err)
	}
	srv.Start()
	if !srv.ReadyForConnections(15 * time.Second) {
		srv.Shutdown()
		c.t.Fatalf("cluster node %d not ready after 15s", i)
	}
	// A restart must come back on the same client port: clients reconnect to the URLs they
	// were given.
	n.opts.Port = srv.Addr().(*net.TCPAddr).Port
	c.mu.Lock()
	n.srv = srv
	c.mu.Unlock()
}

// waitCurrent waits until the nodes selected by which are running and current with a
// JetStream meta leader, and the leader has heard from each of them: a leader places a
// stream's replicas only on peers whose stats it has received, so an R3 stream created
// before that fails with "no suitable peers for placement".
func (c *NATSCluster) waitCurrent(which func(int) bool) {
	c.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		ready := true
		var placeable map[string]bool // peers the meta leader can place on; nil: no leader
		for i := range c.nodes {
			srv := c.Server(i)
			if srv == nil {
				continue
			}
			if srv.JetStreamIsLeader() {
				placeable = map[string]bool{}
				for _, name := range srv.JetStreamClusterPeers() {
					placeable[name] = true
				}
			}
			if which(i) && !srv.JetStreamIsCurrent() {
				ready = false
			}
		}
		for i := range c.nodes {
			if srv := c.Server(i); srv != nil && which(i) && !placeable[srv.Name()] {
				ready = false
			}
		}
		if ready && placeable != nil {
			return
		}
		if time.Now().After(deadline) {
			c.t.Fatal("JetStream cluster not current after 30s")
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// N is the number of nodes.
func (c *NATSCluster) N() int { return len(c.nodes) }

// Server is node i's server (nil while it is stopped).
func (c *NATSCluster) Server(i int) *server.Server {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.nodes[i].srv
}

// URL is node i's client URL (the same across restarts).
func (c *NATSCluster) URL(i int) string {
	return fmt.Sprintf("nats://127.0.0.1:%d", c.nodes[i].opts.Port)
}

// URLs lists every node's client URL, comma-separated, as nats.Connect takes them.
func (c *NATSCluster) URLs() string {
	urls := make([]string, len(c.nodes))
	for i := range c.nodes {
		urls[i] = c.URL(i)
	}
	return strings.Join(urls, ",")
}

// Stop shuts node i down (its store stays for Restart).
func (c *NATSCluster) Stop(i int) {
	c.mu.Lock()
	srv := c.nodes[i].srv
	c.nodes[i].srv = nil
	c.mu.Unlock()
	if srv != nil {
		srv.Shutdown()
		srv.WaitForShutdown()
	}
}

// Restart starts node i again on its ports and store, and waits until it is current with
// the cluster's meta leader.
func (c *NATSCluster) Restart(i int) {
	c.t.Helper()
	c.Stop(i)
	c.start(i)
	c.waitCurrent(func(j int) bool { return j == i })
}

func (c *NATSCluster) stopAll() {
	for i := range c.nodes {
		c.Stop(i)
	}
}
