package router_test

import (
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/arrakis/gaib/embedded/embeddedtest"
	"github.com/arrakis/gaib/router"
	"github.com/arrakis/gaib/sandbox"
)

// failoverCfg takes over fast: a standby routes within about a second of the last renewal.
var failoverCfg = router.Config{LeaseTTL: time.Second, Window: 256}

// watchActive samples both routers until stop is closed and counts the samples where
// both claimed to be routing.
func watchActive(a, b *router.Router, stop <-chan struct{}) *atomic.Int64 {
	var both atomic.Int64
	go func() {
		for {
			select {
			case <-stop:
				return
			case <-time.After(2 * time.Millisecond):
			}
			if a.Active() && b.Active() {
				both.Add(1)
			}
		}
	}()
	return &both
}

// failover runs two routers, kills the active one mid-stream (its connection cut) while
// events keep arriving, and checks the standby takes over with every event stored once,
// in per-guild order. urlA and urlB are the servers each router connects to.
func failover(t *testing.T, e *env, urlA, urlB string) {
	l := newLayout(e)
	const n = 3000
	e.publish(0, n/2, l.guildOf)
	a, cutA := e.startRouter("a", urlA, failoverCfg)
	eventually(t, "a to route", func() bool { return a.Active() })
	consumerCreated := func() time.Time {
		c, err := e.js.Consumer(testCtx(t), sandbox.StreamGateway, "router")
		if err != nil {
			t.Fatal(err)
		}
		return c.CachedInfo().Created
	}
	created := consumerCreated()
	b, cutB := e.startRouter("b", urlB, failoverCfg)
	stop := make(chan struct{})
	both := watchActive(a, b, stop)
	var wg sync.WaitGroup
	wg.Go(func() { e.publish(n/2, n/2, l.guildOf) })
	eventually(t, "a to route a third", func() bool { return a.Counters().EventsIn >= n/3 })
	if b.Active() || !consumerCreated().Equal(created) {
		t.Fatal("the standby routes, or replaced the consumer, while the active router is alive")
	}
	cutA.cut()
	killed := time.Now()
	eventually(t, "b to take over", func() bool { return b.Active() })
	took := time.Since(killed)
	wg.Wait()
	eventually(t, "all events stored", func() bool { return l.count() >= n })
	s := settled(t, b)
	close(stop)
	l.check(t, 0, n)
	if both.Load() != 0 {
		t.Fatalf("both routers active in %d samples", both.Load())
	}
	// b may take the lease more than once: a transient error on the cluster (a stream leader
	// moving after the cut) restarts its routing, and it takes its own lease again.
	if s.Takeovers < 1 || a.Active() {
		t.Fatalf("after fail-over: a active %v, b %+v", a.Active(), s)
	}
	_ = cutB
	t.Logf("standby routing %s after the active router was killed; %d events once each, %d skipped as already stored",
		took.Round(10*time.Millisecond), n, s.Skipped)
}

func TestFailoverToStandbyKeepsEveryEventOnceInOrder(t *testing.T) {
	url := embeddedtest.NATS(t).ClientURL()
	e := newEnv(t, url, 1, time.Second)
	failover(t, e, url, url)
}

// Fail-over on a 3-node cluster with R3 streams and bucket: the routers are connected to
// different nodes.
func TestClusterFailoverKeepsEveryEventOnceInOrder(t *testing.T) {
	c := embeddedtest.Cluster(t, 3, embeddedtest.ClusterOptions{})
	e := newEnv(t, c.URL(2), 3, time.Second)
	failover(t, e, c.URL(0), c.URL(1))
}

// A node of a 3-node cluster is lost and returns while the router routes (the node the
// router is connected to, so it reconnects and publishes fail in flight): every event is
// still stored exactly once, although the outputs' duplicate window is 1s.
func TestClusterNodeLossDuringRoutingStoresEachEventOnce(t *testing.T) {
	c := embeddedtest.Cluster(t, 3, embeddedtest.ClusterOptions{})
	e := newEnv(t, c.URLs(), 3, time.Second)
	l := newLayout(e)
	const n = 3000
	e.publish(0, n, l.guildOf)
	nc := routerConn(t, "a", c.URLs(), nats.ReconnectWait(100*time.Millisecond))
	r := e.startRouterOn(nc, "a", router.Config{LeaseTTL: 2 * time.Second, Window: 256})
	eventually(t, "a quarter routed", func() bool { return r.Counters().EventsIn >= n/4 })
	lost := -1
	for i := range c.N() {
		if s := c.Server(i); s != nil && s.Name() == nc.ConnectedServerName() {
			lost = i
		}
	}
	if lost < 0 {
		t.Fatalf("router connected to %q, not a cluster node", nc.ConnectedServerName())
	}
	c.Stop(lost)
	time.Sleep(2 * time.Second) // past the duplicate window, with the node down
	c.Restart(lost)
	eventually(t, "all events stored", func() bool { return l.count() >= n })
	s := settled(t, r)
	l.check(t, 0, n)
	t.Logf("node %d lost and back: %d events once each; recoveries %d, skipped %d, publish errors %d",
		lost, n, s.Recoveries, s.Skipped, s.PublishErrors)
}
