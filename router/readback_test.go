package router_test

import (
	"sync"
	"testing"
	"time"

	"github.com/arrakis/gaib/embedded/embeddedtest"
)

// Regression: reading the outputs back after an unclean takeover waited for a full fetch
// (1s) on every output stream written since the recorded position, so with a few active
// sandboxes it took longer than the lease. With two live standbys, the one that took over
// lost the lease to the other before it finished reading back, which then lost it in
// turn: routing stalled while they took it from each other (seen on a cluster with a node
// down). Here the active router dies with four output streams recently written and two
// standbys alive on a 1s lease: the first standby to take over reads back within its
// lease and keeps it, and every event is stored once, in order.
func TestTakeoverWithTwoLiveStandbysKeepsTheLeaseWhileReadingBack(t *testing.T) {
	url := embeddedtest.NATS(t).ClientURL()
	e := newEnv(t, url, 1, time.Second)
	l := newLayout(e)
	const n = 3000
	e.publish(0, n/2, l.guildOf)
	a, cutA := e.startRouter("a", url, failoverCfg)
	eventually(t, "a to route a third", func() bool { return a.Counters().EventsIn >= n/3 })
	b, _ := e.startRouter("b", url, failoverCfg)
	c, _ := e.startRouter("c", url, failoverCfg)
	var wg sync.WaitGroup
	wg.Go(func() { e.publish(n/2, n/2, l.guildOf) })
	cutA.cut()
	wg.Wait()
	eventually(t, "all events stored", func() bool { return l.count() >= n })
	l.check(t, 0, n)
	if took := b.Counters().Takeovers + c.Counters().Takeovers; took != 1 {
		t.Fatalf("the standbys took the lease %d times (b %d, c %d), want once", took, b.Counters().Takeovers, c.Counters().Takeovers)
	}
}
