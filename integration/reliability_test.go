package integration

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nats.go/micro"

	"github.com/arrakis/gaib/auth/authtest"
	"github.com/arrakis/gaib/sandbox"
	"github.com/arrakis/gaib/services"
)

// countingPlane counts teardowns per sandbox id (alongside the real planes): a destroy that
// runs twice shows up as a count of 2.
type countingPlane struct {
	mu        sync.Mutex
	teardowns map[string]int
}

func (p *countingPlane) Name() string                                    { return "counter" }
func (p *countingPlane) Version() string                                 { return "" }
func (p *countingPlane) Provision(context.Context, sandbox.Record) error { return nil }
func (p *countingPlane) Check(context.Context, sandbox.Record) error     { return nil }
func (p *countingPlane) Env(sandbox.Record) []sandbox.EnvVar             { return nil }
func (p *countingPlane) Teardown(_ context.Context, r sandbox.Record) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.teardowns[r.ID]++
	// Slow enough that concurrent destroys overlap.
	time.Sleep(20 * time.Millisecond)
	return nil
}

// TestDestroysAreExclusiveAcrossInstances destroys each of 20 sandboxes from two meshes (two
// instances on one NATS) at once, three times each, while both sweep: every sandbox is torn
// down exactly once, every destroy answers success, and no sweep reports a failure.
func TestDestroysAreExclusiveAcrossInstances(t *testing.T) {
	counter := &countingPlane{teardowns: map[string]int{}}
	var clock atomicClock
	clock.set(time.Now())
	cfg := services.MeshConfig{Workers: 4, Sandbox: services.SandboxConfig{MaxPerOwner: 100, Planes: []services.Plane{counter}, Now: clock.now}}
	a := startMesh(t, cfg)
	b := startMeshWith(t, a.Deployment, cfg)
	const n = 20
	var ids []string
	for i := range n {
		ids = append(ids, a.gaib(t, "--json", "sandbox", "create", fmt.Sprintf("x-%d", i), "--ttl", "1m").must(t).record(t).ID)
	}
	// Half of them also expire, so the sweeps race the destroys for them.
	clock.set(clock.now().Add(2 * time.Minute))
	var wg sync.WaitGroup
	var failures atomic.Int64
	for i, id := range ids {
		for j := range 3 {
			m := []*testMesh{a, b}[(i+j)%2]
			wg.Go(func() {
				if _, err := m.client(tester).Destroy(context.Background(), id); err != nil {
					failures.Add(1)
					t.Errorf("destroy %s: %v", id, err)
				}
			})
		}
	}
	for _, m := range []*testMesh{a, b} {
		wg.Go(func() {
			rep, err := m.Mesh.Sandboxes.Sweep(context.Background(), time.Hour)
			if err != nil || len(rep.Failed) > 0 {
				t.Errorf("sweep: %+v %v", rep, err)
			}
		})
	}
	wg.Wait()
	for _, id := range ids {
		if c := counter.teardowns[id]; c != 1 {
			t.Errorf("sandbox %s torn down %d times", id, c)
		}
		if st, err := a.Store.Record(context.Background(), id); err != nil || st.Status != sandbox.StatusDestroyed || st.Lease != nil {
			t.Errorf("sandbox %s after the destroys: %+v %v", id, st, err)
		}
	}
	// The audit trail says who started each destroy and who finished it: one pair each.
	js, _ := jetstream.New(a.NC)
	finished := map[string]int{}
	for _, msg := range readStream(t, js, sandbox.StreamAudit) {
		var e struct {
			Action    string `json:"action"`
			SandboxID string `json:"sandbox_id"`
		}
		_ = json.Unmarshal(msg.Data, &e)
		if e.Action == "destroy" || e.Action == "cleanup-destroy" {
			finished[e.SandboxID]++
		}
	}
	for _, id := range ids {
		if finished[id] != 1 {
			t.Errorf("sandbox %s: %d destroy entries in the audit trail", id, finished[id])
		}
	}
}

// TestAbandonedCreateIsRecoveredWithinSeconds leaves what a create leaves when its instance
// dies half-way (a leased provisioning record, the name, the slot, a pending route, the
// stream and the schema) and checks that another instance undoes it within seconds: no
// fixed ten minutes, the name and guild free again. Meanwhile the guild's events go to
// production, not to the half-made sandbox.
func TestAbandonedCreateIsRecoveredWithinSeconds(t *testing.T) {
	pm := startPlaneMesh(t, services.MeshConfig{RecoveryInterval: 200 * time.Millisecond}, nil)
	ctx := context.Background()
	rec := sandbox.NewRecord(sandbox.NewID(), "orphaned", tester, time.Hour, []string{guildA}, time.Now())
	rec.Lease = &sandbox.Lease{Holder: sandbox.NewID(), Op: sandbox.LeaseCreate, Actor: tester, Since: time.Now()} // a dead instance
	if _, err := pm.Store.CreateRecord(ctx, rec); err != nil {
		t.Fatal(err)
	}
	for _, step := range []func() error{
		func() error { return pm.Store.ReserveName(ctx, rec.Name, rec.ID) },
		func() error { return pm.Store.AcquireSlot(ctx, rec.Owner, rec.ID, 5) },
		func() error { _, err := pm.Store.ClaimRoute(ctx, guildA, rec.ID, true); return err },
		func() error { return pm.Store.CreateSandboxStream(ctx, rec.ID) },
		func() error { return pm.PG.Provision(ctx, rec) },
	} {
		if err := step(); err != nil {
			t.Fatal(err)
		}
	}
	// While it is pending, the guild's events stay in production.
	js, _ := jetstream.New(pm.NC)
	publishGateway(t, js, "gateway.events.member.join", envelope(guildA, "member.join", 1), nil)
	waitCounts(t, js, map[string]uint64{sandbox.StreamEvents: 1})

	start := time.Now()
	eventually(t, "the abandoned create to be undone", func() bool {
		st, err := pm.Store.Record(ctx, rec.ID)
		return err == nil && st.Status == sandbox.StatusDestroyed
	})
	if took := time.Since(start); took > 10*time.Second {
		t.Fatalf("recovery took %s", took)
	}
	if left := pm.leftovers(t, rec.ID); len(left) != 0 {
		t.Fatalf("left behind: %v", left)
	}
	// The name and the guild are free for a new create at once.
	pm.gaib(t, "sandbox", "create", "orphaned", "--guild", guildA).must(t)
	var audit []string
	for _, msg := range readStream(t, js, sandbox.StreamAudit) {
		var e struct {
			Actor     string `json:"actor"`
			Action    string `json:"action"`
			SandboxID string `json:"sandbox_id"`
		}
		_ = json.Unmarshal(msg.Data, &e)
		if e.SandboxID == rec.ID {
			audit = append(audit, e.Actor+":"+e.Action)
		}
	}
	if strings.Join(audit, " ") != "cleanup:recover-create-started cleanup:recover-create" {
		t.Fatalf("audit of the recovery: %v", audit)
	}
}

// request sends one raw create with headers, as a client retrying after a lost reply would.
func createWithKey(t *testing.T, m *testMesh, name, key string, deadline time.Time) (sandbox.Record, *sandbox.Error) {
	t.Helper()
	msg := nats.NewMsg(sandbox.Request(sandbox.ServiceSandbox, sandbox.OpCreate, tester))
	msg.Data, _ = json.Marshal(sandbox.CreateRequest{Name: name})
	msg.Header.Set(sandbox.HeaderIdempotencyKey, key)
	if !deadline.IsZero() {
		msg.Header.Set(sandbox.HeaderDeadline, deadline.UTC().Format(time.RFC3339Nano))
	}
	resp, err := m.NC.RequestMsg(msg, 30*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if resp.Header.Get(micro.ErrorCodeHeader) != "" {
		var eb sandbox.ErrorBody
		_ = json.Unmarshal(resp.Data, &eb)
		return sandbox.Record{}, eb.Error
	}
	var rec sandbox.Record
	if err := json.Unmarshal(resp.Data, &rec); err != nil {
		t.Fatal(err)
	}
	return rec, nil
}

func TestRetriedCreateAfterALostReplyReturnsTheSandbox(t *testing.T) {
	m := startMesh(t, services.MeshConfig{})
	first, err := createWithKey(t, m, "once", "key-1", time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	// The reply was lost: the client asks again with the same key.
	again, err := createWithKey(t, m, "once", "key-1", time.Time{})
	if err != nil || again.ID != first.ID {
		t.Fatalf("retry: %+v %v, want the sandbox %s", again, err, first.ID)
	}
	// Concurrent duplicates of a new key: one sandbox, the same answer for all.
	var wg sync.WaitGroup
	got := make([]string, 8)
	for i := range got {
		wg.Go(func() {
			rec, err := createWithKey(t, m, "dup", "key-2", time.Time{})
			if err != nil {
				t.Errorf("duplicate %d: %v", i, err)
			}
			got[i] = rec.ID
		})
	}
	wg.Wait()
	for _, id := range got {
		if id != got[0] {
			t.Fatalf("duplicates created different sandboxes: %v", got)
		}
	}
	// Another key with the taken name is a new request: name_taken, kept for that key too.
	if _, err := createWithKey(t, m, "once", "key-3", time.Time{}); err == nil || err.Code != sandbox.CodeNameTaken {
		t.Fatalf("a new key with a taken name: %v", err)
	}
	var list []sandbox.Record
	decodeStrict(t, m.gaib(t, "--json", "sandbox", "list").must(t).Stdout, &list)
	if len(list) != 2 {
		t.Fatalf("%d sandboxes, want 2", len(list))
	}
}

// stallPlane blocks Provision until released or the request's deadline.
type stallPlane struct{ release chan struct{} }

func (p *stallPlane) Name() string                                   { return "stall" }
func (p *stallPlane) Version() string                                { return "" }
func (p *stallPlane) Teardown(context.Context, sandbox.Record) error { return nil }
func (p *stallPlane) Check(context.Context, sandbox.Record) error    { return nil }
func (p *stallPlane) Env(sandbox.Record) []sandbox.EnvVar            { return nil }
func (p *stallPlane) Provision(ctx context.Context, _ sandbox.Record) error {
	select {
	case <-p.release:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// TestWorkStopsAtTheCallersDeadline stalls a plane past the caller's deadline: the create
// is undone (the caller was told "no answer", so nothing may appear), and a retry with the
// same key, once the plane answers, creates it.
func TestWorkStopsAtTheCallersDeadline(t *testing.T) {
	stall := &stallPlane{release: make(chan struct{})}
	m := startMesh(t, services.MeshConfig{Sandbox: services.SandboxConfig{Planes: []services.Plane{stall}}})
	if _, err := createWithKey(t, m, "slow", "k", time.Now().Add(time.Second)); err == nil || err.Code != sandbox.CodeUnavailable {
		t.Fatalf("a create past the caller's deadline: %v", err)
	}
	var list []sandbox.Record
	decodeStrict(t, m.gaib(t, "--json", "sandbox", "list", "--all").must(t).Stdout, &list)
	if len(list) != 0 {
		t.Fatalf("a create the caller gave up on left %+v", list)
	}
	close(stall.release)
	if rec, err := createWithKey(t, m, "slow", "k", time.Time{}); err != nil || rec.Status != sandbox.StatusRunning {
		t.Fatalf("retry once the plane answers: %+v %v", rec, err)
	}
}

func TestReconcileRepairsLostACLUsersRolesAndRoutes(t *testing.T) {
	pm := startPlaneMesh(t, services.MeshConfig{}, nil)
	ctx := context.Background()
	rec := pm.gaib(t, "--json", "sandbox", "create", "fragile", "--guild", guildA).must(t).record(t)
	// Redis restarted without its ACL file, the tenant changed its password, a route was
	// left pending by a create that died after the sandbox ran.
	if err := pm.redisAdmin(t).Do(ctx, "ACL", "DELUSER", rec.Resources.RedisUser).Err(); err != nil {
		t.Fatal(err)
	}
	if _, err := pm.admin(t).Exec(ctx, fmt.Sprintf(`ALTER ROLE %q PASSWORD 'tenant-chose-this'`, rec.Resources.Role)); err != nil {
		t.Fatal(err)
	}
	if _, err := pm.Store.ReleaseRoute(ctx, guildA, rec.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := pm.Store.ClaimRoute(ctx, guildA, rec.ID, true); err != nil {
		t.Fatal(err)
	}
	var rep services.ReconcileReport
	decodeStrict(t, pm.gaib(t, "--json", "cleanup", "reconcile").must(t).Stdout, &rep)
	repaired := map[string]bool{}
	for _, r := range rep.Repaired {
		if r.Sandbox == rec.ID {
			repaired[r.Plane] = true
		}
	}
	if !repaired["redis"] || !repaired["postgres"] || !repaired["routes"] || len(rep.Failed) > 0 {
		t.Fatalf("reconcile: %+v", rep)
	}
	var st sandbox.StatusResponse
	decodeStrict(t, pm.gaib(t, "--json", "sandbox", "status", "fragile").must(t).Stdout, &st)
	for _, h := range st.Health {
		if !h.OK {
			t.Errorf("after reconcile %s: %s", h.Plane, h.Message)
		}
	}
	// Nothing left to repair.
	decodeStrict(t, pm.gaib(t, "--json", "cleanup", "reconcile").must(t).Stdout, &rep)
	if len(rep.Repaired) != 0 {
		t.Fatalf("second reconcile repaired %+v", rep.Repaired)
	}
	if _, _, err := pm.Store.Route(ctx, guildB); !errors.Is(err, sandbox.ErrNotFound) {
		t.Fatal("reconcile routed a guild nobody registered")
	}
}

// TestInstancesRefuseADifferentSecret starts serve twice against one NATS with different
// secrets: the second refuses to start instead of handing out passwords the first refuses.
func TestInstancesRefuseADifferentSecret(t *testing.T) {
	d := authtestStart(t)
	mesh, sys, op := externalCredentials(t, d)
	args := []string{"--server", d.URL, "--creds", mesh, "--operator-signing-key", op, "--system-creds", sys,
		"--no-postgres", "--no-redis", "--only", "sandbox"}
	serveInProcess(t, append(args, "--data-dir", t.TempDir())...)
	r := runGaib(t, "", append([]string{"--json", "serve", "--listen", "127.0.0.1:0", "--metrics-listen", "", "--data-dir", t.TempDir()}, args...)...)
	if r.Code == 0 || !strings.Contains(r.Stdout+r.Stderr, "secret differs from the mesh") {
		t.Fatalf("a second instance with another secret: exit %d %s %s", r.Code, r.Stdout, r.Stderr)
	}
}

func authtestStart(t *testing.T) *authtest.Deployment { return authtest.Start(t, nil) }
