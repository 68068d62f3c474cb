package integration

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/arrakis/gaib/client"
	"github.com/arrakis/gaib/embedded/embeddedtest"
	gjs "github.com/arrakis/gaib/jetstream"
	"github.com/arrakis/gaib/router"
	"github.com/arrakis/gaib/sandbox"
	"github.com/arrakis/gaib/services"
)

// clusterGuild is the id of test guild g.
func clusterGuild(g int) string { return fmt.Sprintf("3000000000000000%02d", g) }

// clusterRouter takes over quickly: a standby routes about two seconds after the active
// router's last renewal.
var clusterRouter = router.Config{LeaseTTL: 2 * time.Second, Window: 256}

// startClusterMeshes starts a 3-node cluster, R3 streams and buckets, and two instances
// on it (each with every part and its own connections to all three nodes).
func startClusterMeshes(t *testing.T, limits gjs.Config, cfg func(i int) services.MeshConfig) (*embeddedtest.NATSCluster, [2]*instance) {
	t.Helper()
	c := embeddedtest.Cluster(t, 3, embeddedtest.ClusterOptions{})
	var in [2]*instance
	for i := range in {
		in[i] = startInstance(t, c.URLs(), limits, cfg(i))
	}
	return c, in
}

// feedEightGuilds creates, through cl, a sandbox for each of four guilds out of eight, and
// starts feeding the gateway events for the eight. It returns guild → sandbox id.
func feedEightGuilds(t *testing.T, c *embeddedtest.NATSCluster, cl *client.Client) (map[string]string, *feed) {
	t.Helper()
	var guilds []string
	routed := map[string]string{}
	for g := range 8 {
		guilds = append(guilds, clusterGuild(g))
		if g >= 4 {
			continue
		}
		rec, err := cl.Create(context.Background(), sandbox.CreateRequest{Name: fmt.Sprintf("routed-%d", g), Guilds: []string{clusterGuild(g)}})
		if err != nil {
			t.Fatal(err)
		}
		routed[clusterGuild(g)] = rec.ID
	}
	return routed, startFeed(t, reconnectingConn(t, c.URLs(), "gateway"), guilds)
}

// TestClusterNodeLossDuringCreatesAndRoutingLosesNothing stops the node the active router
// is connected to, and later restarts it, while events flow through the gateway for eight
// guilds (four routed to sandboxes) and three clients create sandboxes one after another
// through both instances. Creates whose request was lost with the node, or that need a
// new R3 stream placed right after the node returned (refused for a second or two), answer
// unavailable and the client retries them with their idempotency key. Every create
// succeeds once (no failure, no duplicate, no name_taken), events keep being routed while
// the node is down, every event is stored downstream exactly once in per-guild order, and
// the store holds only whole, running sandboxes.
func TestClusterNodeLossDuringCreatesAndRoutingLosesNothing(t *testing.T) {
	c, in := startClusterMeshes(t, clusterLimits(), func(int) services.MeshConfig {
		return services.MeshConfig{Router: clusterRouter, Sandbox: services.SandboxConfig{MaxPerOwner: 1000}}
	})
	cl := cliClient(t, c.URLs())
	routed, f := feedEightGuilds(t, c, cl)
	eventually(t, "events to flow", func() bool { return f.stored.Load() >= 200 })

	// Three clients create sandboxes one after another until told to stop.
	var (
		created   sync.Map // name → id
		completed atomic.Int64
		slowest   atomic.Int64 // ns
		stop      = make(chan struct{})
		wg        sync.WaitGroup
	)
	for w := range 3 {
		wg.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				name := fmt.Sprintf("nodeloss-%d-%d", w, i)
				start := time.Now()
				rec, err := cl.Create(context.Background(), sandbox.CreateRequest{Name: name})
				if err != nil {
					t.Errorf("create %s: %v", name, err)
					return
				}
				if rec.Status != sandbox.StatusRunning || rec.Name != name {
					t.Errorf("create %s answered %+v", name, rec)
				}
				created.Store(name, rec.ID)
				completed.Add(1)
				if d := int64(time.Since(start)); d > slowest.Load() {
					slowest.Store(d)
				}
				time.Sleep(50 * time.Millisecond) // a steady stream of creates, not a benchmark
			}
		})
	}
	eventually(t, "creates to start completing", func() bool { return completed.Load() >= 3 })

	var active *instance
	eventually(t, "a router to be active", func() bool {
		for _, x := range in {
			if x.Mesh.Router.Active() {
				active = x
			}
		}
		return active != nil
	})
	lost := nodeOf(t, c, active.RouterNC)
	c.Stop(lost)
	stoppedAt := time.Now()
	downAt, storedAt := completed.Load(), f.stored.Load()
	routedAt := routerEventsIn(in)
	defer func() {
		if t.Failed() {
			t.Logf("node %d stopped at %s; stored %d (from %d), routed %d (from %d): %+v %+v", lost, stoppedAt.Format(time.StampMilli),
				f.stored.Load(), storedAt, routerEventsIn(in), routedAt,
				in[0].Mesh.Router.Stats(context.Background()), in[1].Mesh.Router.Stats(context.Background()))
		}
	}()
	eventually(t, "events to be routed with a node down", func() bool {
		return f.stored.Load() >= storedAt+300 && routerEventsIn(in) >= routedAt+300
	})
	c.Restart(lost)
	backAt := completed.Load()
	eventually(t, "creates to go on after the node returned", func() bool { return completed.Load() >= backAt+6 })
	close(stop)
	waitGroupDone(t, &wg, 2*time.Minute, "the creates")
	n := f.halt()
	if t.Failed() {
		t.FailNow()
	}

	js, _ := jetstream.New(reconnectingConn(t, c.URLs(), "check"))
	checkRouted(t, js, n, f.guildOf, routed)
	records := checkConsistent(t, in[0].Store)
	count := 0
	created.Range(func(name, id any) bool {
		count++
		if !slices.ContainsFunc(records, func(r sandbox.Record) bool { return r.ID == id && r.Name == name }) {
			t.Errorf("created %s (%s) is not in the store", name, id)
		}
		return true
	})
	if len(records) != count+len(routed) {
		t.Errorf("%d sandboxes in the store, %d created", len(records), count+len(routed))
	}
	for g, id := range routed {
		if got, active, err := in[1].Store.Route(context.Background(), g); got != id || !active || err != nil {
			t.Errorf("route of %s: %s active %v %v, want %s", g, got, active, err, id)
		}
	}
	t.Logf("node %d lost and back: %d creates (%d completed while it was down, slowest %s), %d events once each in order",
		lost, count, backAt-downAt, time.Duration(slowest.Load()).Round(time.Millisecond), n)
}

// flakyPlane does its work on every Provision but answers the first one with unavailable,
// the way the stream plane does when a NATS node is lost after the stream was made and
// before the answer came back.
type flakyPlane struct {
	calls   atomic.Int64
	mu      sync.Mutex
	present map[string]bool // sandbox id → its slice exists
}

func (p *flakyPlane) Name() string                                { return "flaky" }
func (p *flakyPlane) Version() string                             { return "" }
func (p *flakyPlane) Check(context.Context, sandbox.Record) error { return nil }
func (p *flakyPlane) Env(sandbox.Record) []sandbox.EnvVar         { return nil }
func (p *flakyPlane) Teardown(_ context.Context, r sandbox.Record) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	delete(p.present, r.ID)
	return nil
}

func (p *flakyPlane) Provision(_ context.Context, r sandbox.Record) error {
	p.mu.Lock()
	p.present[r.ID] = true
	p.mu.Unlock()
	if p.calls.Add(1) == 1 {
		return sandbox.Errorf(sandbox.CodeUnavailable, "NATS JetStream is not answering: no suitable peers for placement")
	}
	return nil
}

func (p *flakyPlane) slices() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.present)
}

// TestCreateWhosePlaneIsBrieflyUnavailableSucceedsOnRetry: a plane that is unavailable
// for a moment makes the create answer unavailable (not provisioning_failed, which would
// be kept for the idempotency key) and tears down what the plane did although it answered
// with an error; the client's retry with the same key creates the sandbox, and only its
// slice exists.
func TestCreateWhosePlaneIsBrieflyUnavailableSucceedsOnRetry(t *testing.T) {
	flaky := &flakyPlane{present: map[string]bool{}}
	m := startOpenMesh(t, services.MeshConfig{Sandbox: services.SandboxConfig{Planes: []services.Plane{flaky}}})
	if _, err := createWithKey(t, m, "flaky", "k", time.Time{}); err == nil || err.Code != sandbox.CodeUnavailable {
		t.Fatalf("first attempt: %v, want unavailable", err)
	}
	if n := flaky.slices(); n != 0 {
		t.Fatalf("the failed attempt left %d slices", n)
	}
	rec, err := createWithKey(t, m, "flaky", "k", time.Time{})
	if err != nil || rec.Status != sandbox.StatusRunning || flaky.calls.Load() != 2 || flaky.slices() != 1 || !flaky.present[rec.ID] {
		t.Fatalf("retry with the same key: %+v %v after %d provisions, %d slices", rec, err, flaky.calls.Load(), flaky.slices())
	}
}

// TestClusterInstanceKilledMidCreateAndMidDestroyIsRecoveredInTime kills an instance while
// it is half-way through a create (record, name, slot, pending route and stream made) and
// a destroy (route released, one plane torn down): the other instance undoes the create
// and finishes the destroy within InstanceGrace + RecoveryInterval + the time of the
// destroy itself, without tearing down again the plane the dead instance finished, and
// leaves nothing behind (name, slot, routes, stream free; records destroyed); the names and
// guilds can be used again at once.
func TestClusterInstanceKilledMidCreateAndMidDestroyIsRecoveredInTime(t *testing.T) {
	const (
		grace    = 2 * time.Second
		interval = 250 * time.Millisecond
		// The destroy itself: a route sync with the routers (at most router.SyncTimeout)
		// and about fifteen replicated writes on a loaded machine.
		destroyTime = router.SyncTimeout + 2*time.Second
	)
	limits := clusterLimits()
	limits.InstanceGrace = grace
	counter := &countingPlane{teardowns: map[string]int{}}
	var dead sync.WaitGroup
	t.Cleanup(dead.Wait) // after the gate lets the dead instance's goroutines go
	gate := newGatePlane(t, "doomed-create", "doomed-destroy")
	c, in := startClusterMeshes(t, limits, func(i int) services.MeshConfig {
		g := &gatePlane{}
		if i == 0 {
			g = gate
		}
		return services.MeshConfig{Router: clusterRouter, HeartbeatInterval: grace / 5, RecoveryInterval: interval,
			Sandbox: services.SandboxConfig{Planes: []services.Plane{g, counter}}}
	})
	victim, survivor := in[0], in[1]
	cl := cliClient(t, c.URLs())
	ctx := context.Background()
	doomed, err := cl.Create(ctx, sandbox.CreateRequest{Name: "doomed-destroy", Guilds: []string{clusterGuild(1)}})
	if err != nil {
		t.Fatal(err)
	}
	admin := services.Caller{Name: tester, Role: sandbox.RoleAdmin}
	dead.Go(func() {
		_, _ = victim.Mesh.Sandboxes.Create(ctx, admin, sandbox.CreateRequest{Name: "doomed-create", Guilds: []string{clusterGuild(2)}})
	})
	dead.Go(func() { _, _ = victim.Mesh.Sandboxes.Destroy(ctx, admin, sandbox.RefRequest{Sandbox: doomed.ID}) })
	for range 2 {
		select {
		case <-gate.entered:
		case <-time.After(30 * time.Second):
			t.Fatal("the victim did not reach the middle of its create and destroy")
		}
	}
	halfMade, err := victim.Store.Record(ctx, mustLookup(t, victim.Store, "doomed-create"))
	if err != nil || halfMade.Status != sandbox.StatusProvisioning || len(leftBehind(ctx, victim.Store, halfMade)) != 4 {
		t.Fatalf("before the kill the create holds %v (%+v %v)", leftBehind(ctx, victim.Store, halfMade), halfMade, err)
	}
	if counter.count(doomed.ID) != 1 {
		t.Fatalf("before the kill the destroy tore the counter down %d times", counter.count(doomed.ID))
	}

	victim.kill()
	killed := time.Now()
	eventually(t, "the survivor to recover both", func() bool {
		for _, id := range []string{halfMade.ID, doomed.ID} {
			if rec, err := survivor.Store.Record(ctx, id); err != nil || rec.Status != sandbox.StatusDestroyed || len(leftBehind(ctx, survivor.Store, rec)) > 0 {
				return false
			}
		}
		return true
	})
	took := time.Since(killed)
	if bound := grace + interval + destroyTime; took > bound {
		t.Errorf("recovery took %s, more than the %s bound", took.Round(time.Millisecond), bound)
	}
	checkGone(t, survivor.Store, halfMade)
	checkGone(t, survivor.Store, doomed)
	// The survivor resumed the destroy: the plane the victim had torn down was not again.
	if counter.count(doomed.ID) != 1 || counter.count(halfMade.ID) != 1 {
		t.Errorf("teardowns: destroy %d, create %d; want 1 each", counter.count(doomed.ID), counter.count(halfMade.ID))
	}
	js, _ := jetstream.New(survivor.NC)
	audit := auditActions(t, js)
	if got := fmt.Sprint(audit[halfMade.ID]); got != "[cleanup:recover-create-started cleanup:recover-create]" {
		t.Errorf("audit of the abandoned create: %s", got)
	}
	if got := fmt.Sprint(audit[doomed.ID]); got != "[tester:create tester:destroy-started cleanup:recover-destroy-started cleanup:recover-destroy]" {
		t.Errorf("audit of the abandoned destroy: %s", got)
	}
	// Names and guilds are free at once.
	for name, g := range map[string]string{"doomed-create": clusterGuild(2), "doomed-destroy": clusterGuild(1)} {
		if _, err := cl.Create(ctx, sandbox.CreateRequest{Name: name, Guilds: []string{g}}); err != nil {
			t.Errorf("create %s again: %v", name, err)
		}
	}
	t.Logf("recovered %s after the kill (grace %s, recovery interval %s)", took.Round(time.Millisecond), grace, interval)
}

// routerEventsIn is the number of gateway events the instances' routers processed.
func routerEventsIn(in [2]*instance) uint64 {
	var n uint64
	for _, x := range in {
		n += x.Mesh.Router.Stats(context.Background()).EventsIn
	}
	return n
}

// mustLookup returns the id bound to name.
func mustLookup(t testing.TB, store *gjs.Store, name string) string {
	t.Helper()
	id, err := store.LookupName(context.Background(), name)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// TestClusterExpiryWithBothInstancesSweepingDestroysEachOnce expires 40 sandboxes at once
// and has both instances sweep concurrently (two sweeps each): each sandbox is torn down
// exactly once, no sweep reports a failure, and the audit trail has exactly one expire,
// one cleanup-destroy-started and one cleanup-destroy per sandbox.
func TestClusterExpiryWithBothInstancesSweepingDestroysEachOnce(t *testing.T) {
	const n = 40
	counter := &countingPlane{teardowns: map[string]int{}}
	var clock atomicClock
	clock.set(time.Now())
	c, in := startClusterMeshes(t, clusterLimits(), func(int) services.MeshConfig {
		return services.MeshConfig{Router: clusterRouter,
			Sandbox: services.SandboxConfig{MaxPerOwner: n, Planes: []services.Plane{counter}, Now: clock.now}}
	})
	cl := cliClient(t, c.URLs())
	ids := make([]string, n)
	var wg sync.WaitGroup
	for i := range ids {
		wg.Go(func() {
			rec, err := cl.Create(context.Background(), sandbox.CreateRequest{Name: fmt.Sprintf("expiring-%d", i), TTL: "1m"})
			if err != nil {
				t.Errorf("create %d: %v", i, err)
			}
			ids[i] = rec.ID
		})
	}
	waitGroupDone(t, &wg, 2*time.Minute, "the creates")
	if t.Failed() {
		t.FailNow()
	}
	clock.set(clock.now().Add(2 * time.Minute))
	var expired, destroyed atomic.Int64
	for _, x := range []*instance{in[0], in[1], in[0], in[1]} {
		wg.Go(func() {
			rep, err := x.Mesh.Sandboxes.Sweep(context.Background(), time.Hour)
			if err != nil || len(rep.Failed) > 0 {
				t.Errorf("sweep: %+v %v", rep, err)
			}
			expired.Add(int64(len(rep.Expired)))
			destroyed.Add(int64(len(rep.Destroyed)))
		})
	}
	waitGroupDone(t, &wg, 2*time.Minute, "the sweeps")
	if expired.Load() != n {
		t.Errorf("the sweeps expired %d sandboxes (and destroyed %d more), want %d", expired.Load(), destroyed.Load(), n)
	}
	js, _ := jetstream.New(in[0].NC)
	audit := auditActions(t, js)
	for i, id := range ids {
		if got := counter.count(id); got != 1 {
			t.Errorf("sandbox %d torn down %d times", i, got)
		}
		rec, err := in[1].Store.Record(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		checkGone(t, in[1].Store, rec)
		want := "[tester:create cleanup:expire cleanup:cleanup-destroy-started cleanup:cleanup-destroy]"
		if got := fmt.Sprint(audit[id]); got != want {
			t.Errorf("audit of sandbox %d: %s, want %s", i, got, want)
		}
	}
}

// TestClusterRouterFailoverBetweenInstancesKeepsEachEventOnceInOrder kills the instance
// whose router is active while events flow for eight guilds (four routed to sandboxes):
// the other instance's router takes over, and every event is stored exactly once, in
// per-guild order, where its guild's route sends it.
func TestClusterRouterFailoverBetweenInstancesKeepsEachEventOnceInOrder(t *testing.T) {
	c, in := startClusterMeshes(t, clusterLimits(), func(int) services.MeshConfig {
		return services.MeshConfig{Router: clusterRouter}
	})
	cl := cliClient(t, c.URLs())
	routed, f := feedEightGuilds(t, c, cl)
	var active, standby *instance
	eventually(t, "a router to route", func() bool {
		for i, x := range in {
			if x.Mesh.Router.Active() && x.Mesh.Router.Stats(context.Background()).EventsIn >= 200 {
				active, standby = x, in[1-i]
			}
		}
		return active != nil
	})
	active.kill()
	killed, storedAt := time.Now(), f.stored.Load()
	eventually(t, "the standby to take over", func() bool { return standby.Mesh.Router.Active() })
	took := time.Since(killed)
	eventually(t, "events to flow after the take-over", func() bool { return f.stored.Load() >= storedAt+500 })
	n := f.halt()
	js, _ := jetstream.New(standby.NC)
	checkRouted(t, js, n, f.guildOf, routed)
	s := standby.Mesh.Router.Stats(context.Background())
	if s.EventsIn == 0 || s.Takeovers < 1 {
		t.Fatalf("the standby did not route: %+v", s)
	}
	t.Logf("standby routing %s after the kill; %d events once each in order, %d skipped as already stored",
		took.Round(10*time.Millisecond), n, s.Skipped)
}
