package integration

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/arrakis/gaib/client"
	"github.com/arrakis/gaib/embedded/embeddedtest"
	gjs "github.com/arrakis/gaib/jetstream"
	"github.com/arrakis/gaib/router"
	"github.com/arrakis/gaib/sandbox"
	"github.com/arrakis/gaib/services"
)

// clusterLimits are testLimits with every stream and bucket on the three nodes of a test
// cluster.
func clusterLimits() gjs.Config {
	l := testLimits
	l.Replicas = 3
	l.SandboxStreamMaxBytes = 1 << 20 // every node reserves it for every sandbox
	return l
}

// instance is one gaib instance running every part (sandbox, router, cleanup), as one
// `gaib serve` process would, with connections of its own to servers without
// authentication: reliability is under test here, not identity.
type instance struct {
	// NC is the mesh's connection; the services answer on it.
	NC *nats.Conn
	// RouterNC is the router's dedicated connection.
	RouterNC *nats.Conn
	Store    *gjs.Store
	Mesh     *services.Mesh
}

// reconnectingConn connects to urls (a comma-separated list) the way an instance does on a
// cluster: it never stops reconnecting, and tries again soon.
func reconnectingConn(t testing.TB, urls, name string, opts ...nats.Option) *nats.Conn {
	t.Helper()
	nc, err := nats.Connect(urls, append([]nats.Option{nats.Name(name), nats.MaxReconnects(-1),
		nats.ReconnectWait(100 * time.Millisecond)}, opts...)...)
	if err != nil {
		t.Fatalf("connect %s: %v", urls, err)
	}
	t.Cleanup(nc.Close)
	return nc
}

// startInstance starts an instance against urls with the store limits (Replicas included:
// the router's bucket and stream get as many). The admin "tester" is registered if it is
// not yet.
func startInstance(t testing.TB, urls string, limits gjs.Config, cfg services.MeshConfig) *instance {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	nc := reconnectingConn(t, urls, "mesh")
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	store, err := gjs.Open(ctx, js, limits)
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	if cfg.SweepInterval == 0 {
		cfg.SweepInterval = -1 // tests sweep on demand
	}
	cfg.Sandbox.NATSURL = urls
	cfg.Sandbox.Planes = append([]services.Plane{store.StreamPlane()}, cfg.Sandbox.Planes...)
	cfg.Router.Replicas = limits.Replicas
	// After ConnectOptions: the same settings, reconnecting sooner.
	cfg.RouterConn = reconnectingConn(t, urls, "router", append(router.ConnectOptions("router"), nats.ReconnectWait(100*time.Millisecond))...)
	// The mesh lives until the test ends, not as long as ctx.
	// What the instance logged (info and up) is shown when the test fails.
	var logs syncBuffer
	log := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelInfo}))
	m, err := services.StartMesh(context.Background(), nc, store, cfg, log)
	if err != nil {
		t.Fatalf("start mesh: %v", err)
	}
	t.Cleanup(func() {
		_ = m.Stop()
		if t.Failed() {
			t.Logf("instance %s logged:\n%s", m.Sandboxes.Instance(), logs.String())
		}
	})
	err = store.CreateUser(ctx, sandbox.User{Name: tester, Role: sandbox.RoleAdmin, CreatedAt: time.Now()})
	if err != nil && !errors.Is(err, sandbox.ErrNameTaken) {
		t.Fatal(err)
	}
	return &instance{NC: nc, RouterNC: cfg.RouterConn, Store: store, Mesh: m}
}

// kill makes the instance die the way a killed process does: its connections drop at once,
// so nothing more is written for it (no heartbeat, no hand-over of its leases or of the
// router's lease), and what it was doing stays half-done. Its goroutines linger on closed
// connections until the test ends.
func (in *instance) kill() {
	in.NC.Close()
	in.RouterNC.Close()
}

// cliClient is a client of tester with a connection of its own to urls, as the CLI has.
func cliClient(t testing.TB, urls string) *client.Client {
	t.Helper()
	return client.NewClient(reconnectingConn(t, urls, "gaib-cli"), tester, time.Minute)
}

// nodeOf returns the index of the cluster node nc is connected to.
func nodeOf(t testing.TB, c *embeddedtest.NATSCluster, nc *nats.Conn) int {
	t.Helper()
	for i := range c.N() {
		if s := c.Server(i); s != nil && s.Name() == nc.ConnectedServerName() {
			return i
		}
	}
	t.Fatalf("connected to %q, not a node of the cluster", nc.ConnectedServerName())
	return -1
}

// feed publishes numbered events (envelope seq = the number) to the gateway, event i for
// guild guilds[i % len(guilds)], until halted. It publishes one at a time, so the gateway
// holds each guild's events in order, and with a message id, so that a publish repeated
// after a lost acknowledgement (a node lost, a leader moving) is stored once.
type feed struct {
	guilds []string
	stored atomic.Int64
	stop   chan struct{}
	done   chan struct{}
}

func startFeed(t testing.TB, nc *nats.Conn, guilds []string) *feed {
	t.Helper()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	f := &feed{guilds: guilds, stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(f.done)
		for i := 0; ; i++ {
			select {
			case <-f.stop:
				return
			case <-time.After(time.Millisecond): // a steady trickle, not a benchmark
			}
			msg := &nats.Msg{Subject: "gateway.events.member.join", Data: envelope(f.guildOf(i), "member.join", i)}
			giveUp := time.Now().Add(time.Minute)
			for {
				ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
				_, err := js.PublishMsg(ctx, msg, jetstream.WithMsgID(fmt.Sprintf("feed-%d", i)))
				cancel()
				if err == nil {
					break
				}
				if time.Now().After(giveUp) {
					t.Errorf("the gateway did not store event %d for a minute: %v", i, err)
					return
				}
				time.Sleep(50 * time.Millisecond)
			}
			f.stored.Add(1)
		}
	}()
	t.Cleanup(func() { f.halt() })
	return f
}

func (f *feed) guildOf(i int) string { return f.guilds[i%len(f.guilds)] }

// halt stops the feed and returns how many events the gateway stored (events 0..n-1).
func (f *feed) halt() int {
	select {
	case <-f.stop:
	default:
		close(f.stop)
	}
	<-f.done
	return int(f.stored.Load())
}

// checkRouted waits until gateway events 0..n-1 (envelope seq i for guild guildOf(i)) are
// all stored downstream, then checks that each was stored exactly once, where its guild's
// route sends it (routed: guild → sandbox id; other guilds go to production), and in
// per-guild order.
func checkRouted(t testing.TB, js jetstream.JetStream, n int, guildOf func(int) string, routed map[string]string) {
	t.Helper()
	want := map[string]uint64{sandbox.StreamEvents: 0}
	for _, id := range routed {
		want[sandbox.SandboxStream(id)] = 0
	}
	for i := range n {
		if id, ok := routed[guildOf(i)]; ok {
			want[sandbox.SandboxStream(id)]++
		} else {
			want[sandbox.StreamEvents]++
		}
	}
	waitCounts(t, js, want)
	seen := make([]bool, n)
	last := map[string]int{}
	for stream := range want {
		for _, msg := range readStream(t, js, stream) {
			var ev struct {
				GuildID string         `json:"guild_id"`
				Data    map[string]int `json:"data"`
			}
			if err := json.Unmarshal(msg.Data, &ev); err != nil {
				t.Fatal(err)
			}
			i := ev.Data["seq"]
			switch {
			case i < 0 || i >= n:
				t.Fatalf("%s holds event %d, which was never published", stream, i)
			case seen[i]:
				t.Fatalf("event %d stored twice", i)
			}
			seen[i] = true
			if prev, ok := last[ev.GuildID]; ok && prev > i {
				t.Fatalf("guild %s: event %d stored after %d", ev.GuildID, i, prev)
			}
			last[ev.GuildID] = i
			to := "events.member.join"
			if id, ok := routed[ev.GuildID]; ok {
				to = sandbox.SandboxSubject(id, to)
			}
			if msg.Subject != to {
				t.Fatalf("event %d of guild %s went to %s, want %s", i, ev.GuildID, msg.Subject, to)
			}
		}
	}
	if i := slices.Index(seen, false); i >= 0 {
		t.Fatalf("event %d was lost", i)
	}
}

// checkConsistent checks that what store holds is whole: every record is running with no
// lease (nothing half-made, nothing being created or destroyed), under the name, quota slot
// and stream it owns, and nothing else holds a name, slot or stream. It returns the records.
func checkConsistent(t testing.TB, store *gjs.Store) []sandbox.Record {
	t.Helper()
	ctx := context.Background()
	records, corrupt, err := store.Records(ctx)
	if err != nil || len(corrupt) > 0 {
		t.Fatalf("records: %v, corrupt %v", err, corrupt)
	}
	names, err := store.Names(ctx)
	if err != nil {
		t.Fatal(err)
	}
	slots, err := store.Slots(ctx)
	if err != nil {
		t.Fatal(err)
	}
	streams, err := store.SandboxStreamIDs(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var held []string
	for _, ids := range slots {
		held = append(held, ids...)
	}
	for _, r := range records {
		if r.Status != sandbox.StatusRunning || r.Lease != nil {
			t.Errorf("sandbox %s (%s) is %s with lease %+v", r.Name, r.ID, r.Status, r.Lease)
		}
		if names[r.Name] != r.ID || !slices.Contains(slots[r.Owner], r.ID) || !streams[r.ID] {
			t.Errorf("sandbox %s (%s): name → %q, in its owner's slots %v, stream %v",
				r.Name, r.ID, names[r.Name], slices.Contains(slots[r.Owner], r.ID), streams[r.ID])
		}
	}
	if len(names) != len(records) || len(held) != len(records) || len(streams) != len(records) {
		t.Errorf("%d records, but %d names, %d quota slots and %d sandbox streams", len(records), len(names), len(held), len(streams))
	}
	return records
}

// checkGone checks that sandbox rec left nothing behind: its record is destroyed and free
// of leases, and its name, quota slot, guild routes and stream are free.
func checkGone(t testing.TB, store *gjs.Store, rec sandbox.Record) {
	t.Helper()
	ctx := context.Background()
	st, err := store.Record(ctx, rec.ID)
	if err != nil || st.Status != sandbox.StatusDestroyed || st.Lease != nil {
		t.Errorf("sandbox %s: %+v %v", rec.Name, st, err)
	}
	for _, left := range leftBehind(ctx, store, rec) {
		t.Errorf("sandbox %s left behind: %s", rec.Name, left)
	}
}

// leftBehind lists what sandbox rec still holds besides its record: name, quota slot,
// guild routes, stream.
func leftBehind(ctx context.Context, store *gjs.Store, rec sandbox.Record) []string {
	var out []string
	if id, err := store.LookupName(ctx, rec.Name); !errors.Is(err, sandbox.ErrNotFound) {
		out = append(out, fmt.Sprintf("name %s → %s (%v)", rec.Name, id, err))
	}
	if slots, err := store.Slots(ctx); err != nil || slices.Contains(slots[rec.Owner], rec.ID) {
		out = append(out, fmt.Sprintf("quota slot (%v)", err))
	}
	for _, g := range rec.Guilds {
		if id, _, err := store.Route(ctx, g); !errors.Is(err, sandbox.ErrNotFound) {
			out = append(out, fmt.Sprintf("route %s → %s (%v)", g, id, err))
		}
	}
	if streams, err := store.SandboxStreamIDs(ctx); err != nil || streams[rec.ID] {
		out = append(out, fmt.Sprintf("stream (%v)", err))
	}
	return out
}

// gatePlane stops one instance in the middle of a create or a destroy, as a kill would:
// Provision of the sandbox named create and Teardown of the one named destroy tell entered
// and then wait until the test ends. Other sandboxes pass; a zero gatePlane never stops.
type gatePlane struct {
	create, destroy string
	entered         chan string
	release         chan struct{}
}

func newGatePlane(t testing.TB, create, destroy string) *gatePlane {
	g := &gatePlane{create: create, destroy: destroy, entered: make(chan string, 2), release: make(chan struct{})}
	t.Cleanup(func() { close(g.release) })
	return g
}

func (g *gatePlane) Name() string                                { return "gate" }
func (g *gatePlane) Version() string                             { return "" }
func (g *gatePlane) Check(context.Context, sandbox.Record) error { return nil }
func (g *gatePlane) Env(sandbox.Record) []sandbox.EnvVar         { return nil }

func (g *gatePlane) Provision(_ context.Context, r sandbox.Record) error {
	return g.stop(g.create, r.Name)
}

func (g *gatePlane) Teardown(_ context.Context, r sandbox.Record) error {
	return g.stop(g.destroy, r.Name)
}

func (g *gatePlane) stop(at, name string) error {
	if at == "" || at != name {
		return nil
	}
	g.entered <- name
	<-g.release
	return errors.New("the instance was killed")
}

// count returns how many times sandbox id was torn down.
func (p *countingPlane) count(id string) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.teardowns[id]
}

// auditActions returns, per sandbox id, the audit trail's "actor:action" entries in order.
func auditActions(t testing.TB, js jetstream.JetStream) map[string][]string {
	t.Helper()
	out := map[string][]string{}
	for _, msg := range readStream(t, js, sandbox.StreamAudit) {
		var e struct {
			Actor     string `json:"actor"`
			Action    string `json:"action"`
			SandboxID string `json:"sandbox_id"`
		}
		if err := json.Unmarshal(msg.Data, &e); err != nil {
			t.Fatal(err)
		}
		out[e.SandboxID] = append(out[e.SandboxID], e.Actor+":"+e.Action)
	}
	return out
}

// waitGroupDone waits for wg, failing the test when it takes longer than d.
func waitGroupDone(t testing.TB, wg *sync.WaitGroup, d time.Duration, what string) {
	t.Helper()
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(d):
		t.Fatalf("timed out waiting for %s", what)
	}
}
