package integration

import (
	"context"
	"errors"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/arrakis/gaib/embedded"
	"github.com/arrakis/gaib/embedded/embeddedtest"
	"github.com/arrakis/gaib/keyspace"
	"github.com/arrakis/gaib/sandbox"
	"github.com/arrakis/gaib/schema"
	"github.com/arrakis/gaib/services"
)

// limitedRedisPlane is a real Redis plane whose admin user may not manage ACLs, so its
// step of a create fails on the server, the way a misconfigured ElastiCache user would.
func limitedRedisPlane(t *testing.T, pm *planeMesh, secret sandbox.Secret) *keyspace.Redis {
	t.Helper()
	ctx := context.Background()
	user := "limited_" + sandbox.NewID()
	if err := pm.redisAdmin(t).Do(ctx, "ACL", "SETUSER", user, "on", ">pw", "~*", "+@all", "-acl").Err(); err != nil {
		t.Fatal(err)
	}
	u, err := url.Parse(pm.RedisURL)
	if err != nil {
		t.Fatal(err)
	}
	u.User = url.UserPassword(user, "pw")
	r, err := keyspace.Open(ctx, u.String(), secret, false)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = r.Close() })
	return r
}

func TestCreateFailureAtPostgresLeavesNothing(t *testing.T) {
	dir := t.TempDir()
	for name, sql := range map[string]string{
		"001_ok.sql":     "CREATE TABLE fine (id int PRIMARY KEY);",
		"002_broken.sql": "CREATE TABLE broken (id int REFERENCES nowhere (id));",
	} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(sql), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	mig, err := schema.LoadMigrations(dir)
	if err != nil {
		t.Fatal(err)
	}
	pm := startPlaneMesh(t, services.MeshConfig{}, &mig)
	r := pm.gaib(t, "sandbox", "create", "doomed")
	if !strings.Contains(r.Stderr, "002_broken.sql") {
		t.Errorf("the error does not name the failing migration: %q", r.Stderr)
	}
	assertCreateLeavesNothingExceptQuota(t, pm)
}

// assertCreateLeavesNothingExceptQuota creates more sandboxes than the quota on a mesh
// where every create fails at a plane, and checks that each failure gave back its quota
// slot and left no record, name, schema, role, ACL user or key.
func assertCreateLeavesNothingExceptQuota(t *testing.T, pm *planeMesh) {
	t.Helper()
	for range 6 { // more than the quota: slots are given back each time
		r := pm.gaib(t, "--json", "sandbox", "create", "doomed")
		if r.errorCode(t) != sandbox.CodeProvisioning {
			t.Fatalf("create: exit %d %s", r.Code, r.Stdout)
		}
	}
	list, _ := pm.client(tester).List(context.Background(), sandbox.ListRequest{All: true})
	inv, _ := pm.PG.Inventory(context.Background())
	rinv, _ := pm.Redis.Inventory(context.Background())
	if len(list) != 0 || len(inv) != 0 {
		t.Fatalf("left behind: records %+v, postgres %v", list, inv)
	}
	for id := range rinv {
		if left := pm.leftovers(t, id); len(left) > 0 {
			t.Fatalf("left behind in redis: %v", left)
		}
	}
}

func TestCreateFailureAtRedisLeavesNothing(t *testing.T) {
	// The Redis plane's admin may not run ACL SETUSER: Postgres succeeds first, then is undone.
	base := startPlaneMesh(t, services.MeshConfig{}, nil)
	limited := limitedRedisPlane(t, base, base.Secret)
	pm := startPlaneMeshWith(t, base, []services.Plane{base.PG, limited})
	assertCreateLeavesNothingExceptQuota(t, pm)
}

func TestCreateFailureAfterEveryPlaneLeavesNothing(t *testing.T) {
	// A third plane fails after Postgres and Redis both succeeded.
	base := startPlaneMesh(t, services.MeshConfig{}, nil)
	limited := limitedRedisPlane(t, base, base.Secret)
	pm := startPlaneMeshWith(t, base, []services.Plane{base.PG, base.Redis, limited})
	assertCreateLeavesNothingExceptQuota(t, pm)
}

func TestCreateFailureAtGuildClaimLeavesNothing(t *testing.T) {
	pm := startPlaneMesh(t, services.MeshConfig{}, nil)
	pm.gaib(t, "sandbox", "create", "holder", "--guild", guildA).must(t)
	r := pm.gaib(t, "--json", "sandbox", "create", "doomed", "--guild", guildB, "--guild", guildA)
	if r.errorCode(t) != sandbox.CodeGuildTaken {
		t.Fatalf("create: %s", r.Stdout)
	}
	if _, _, err := pm.Store.Route(context.Background(), guildB); !errors.Is(err, sandbox.ErrNotFound) {
		t.Fatalf("the first guild's route was left behind: %v", err)
	}
	list, _ := pm.client(tester).List(context.Background(), sandbox.ListRequest{All: true})
	inv, _ := pm.PG.Inventory(context.Background())
	if len(list) != 1 || len(inv) != 1 {
		t.Fatalf("left behind: %d records, postgres %v", len(list), inv)
	}
}

// startPlaneMeshWith starts a second mesh on base's database and Redis with other planes.
func startPlaneMeshWith(t *testing.T, base *planeMesh, planes []services.Plane) *planeMesh {
	t.Helper()
	pm := *base
	pm.testMesh = startMesh(t, services.MeshConfig{Sandbox: services.SandboxConfig{Planes: planes}})
	return &pm
}

// TestCleanupFinishesACreateInterruptedByACrash leaves a create half-done, the way a crash
// of the serving process would (record provisioning, name, slot, route and schema taken,
// Redis not reached), and checks that the sweep undoes it once it is stale.
func TestCleanupFinishesACreateInterruptedByACrash(t *testing.T) {
	var clock atomicClock
	clock.set(time.Now())
	pm := startPlaneMesh(t, services.MeshConfig{Sandbox: services.SandboxConfig{Now: clock.now}}, nil)
	ctx := context.Background()
	rec := sandbox.NewRecord(sandbox.NewID(), "crashed", "tester", time.Hour, []string{guildA}, clock.now())
	if _, err := pm.Store.CreateRecord(ctx, rec); err != nil {
		t.Fatal(err)
	}
	if err := pm.Store.ReserveName(ctx, rec.Name, rec.ID); err != nil {
		t.Fatal(err)
	}
	if err := pm.Store.AcquireSlot(ctx, rec.Owner, rec.ID, 5); err != nil {
		t.Fatal(err)
	}
	if _, err := pm.Store.ClaimRoute(ctx, guildA, rec.ID, true); err != nil {
		t.Fatal(err)
	}
	if err := pm.PG.Provision(ctx, rec); err != nil {
		t.Fatal(err)
	}
	// A young provisioning sandbox is a create in progress: neither destroy nor sweep touch it.
	if r := pm.gaib(t, "--json", "sandbox", "destroy", "crashed", "--yes"); r.errorCode(t) != sandbox.CodeWrongState {
		t.Fatalf("destroy of a create in progress: %s", r.Stdout)
	}
	if rep, err := pm.Mesh.Sandboxes.Sweep(ctx, time.Hour); err != nil || len(rep.Destroyed) != 0 {
		t.Fatalf("sweep of a young create: %+v %v", rep, err)
	}
	clock.set(clock.now().Add(11 * time.Minute))
	rep, err := pm.Mesh.Sandboxes.Sweep(ctx, time.Hour)
	if err != nil || len(rep.Destroyed) != 1 || rep.Destroyed[0] != rec.ID {
		t.Fatalf("sweep of a stale create: %+v %v", rep, err)
	}
	if left := pm.leftovers(t, rec.ID); len(left) != 0 {
		t.Fatalf("left behind: %v", left)
	}
	pm.gaib(t, "sandbox", "create", "crashed", "--guild", guildA).must(t)
}

// TestDestroyStoppedHalfWayResumes stops Redis under a destroy: the destroy fails, says so
// on the record, keeps the sandbox destroying; once Redis is back, destroy finishes.
func TestDestroyStoppedHalfWayResumes(t *testing.T) {
	dir := embeddedtest.TempDir(t)
	rs, err := embedded.StartRedis(embedded.RedisOptions{Dir: dir, Ephemeral: true})
	if err != nil {
		t.Fatal(err)
	}
	u, _ := url.Parse(rs.URL())
	port, _ := strconv.Atoi(u.Port())
	pm := startPlaneMeshOn(t, embeddedtest.Database(t), rs.URL(), services.MeshConfig{}, nil)
	rec := pm.gaib(t, "--json", "sandbox", "create", "halfway", "--guild", guildA).must(t).record(t)

	rs.Stop()
	r := pm.gaib(t, "--json", "sandbox", "destroy", "halfway", "--yes")
	if r.Code == 0 || !strings.Contains(r.Stdout, "run destroy again") {
		t.Fatalf("destroy with Redis down: exit %d %s", r.Code, r.Stdout)
	}
	st := pm.gaib(t, "--json", "sandbox", "status", rec.ID).must(t).record(t)
	if st.Status != sandbox.StatusDestroying || st.Error == nil {
		t.Fatalf("after a failed destroy: %+v", st)
	}
	// Routes went first: the guild already routes to production.
	if _, _, err := pm.Store.Route(context.Background(), guildA); !errors.Is(err, sandbox.ErrNotFound) {
		t.Fatalf("route kept: %v", err)
	}
	// The outage of one plane did not stop the others: Postgres and NATS are torn down and
	// the record says so; only Redis is left.
	if !slices.Contains(st.TornDown, "postgres") || !slices.Contains(st.TornDown, "nats") || slices.Contains(st.TornDown, "redis") {
		t.Fatalf("planes torn down during the Redis outage: %v", st.TornDown)
	}
	var n int
	if err := pm.admin(t).QueryRow(context.Background(), `SELECT count(*) FROM pg_roles WHERE rolname = $1`, rec.Resources.Role).Scan(&n); err != nil || n != 0 {
		t.Fatalf("the Postgres role survived the Redis outage: %d %v", n, err)
	}

	rs, err = embedded.StartRedis(embedded.RedisOptions{Dir: dir, Port: port, Ephemeral: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(rs.Stop)
	done := pm.gaib(t, "--json", "sandbox", "destroy", rec.ID, "--yes").must(t).record(t)
	if done.Status != sandbox.StatusDestroyed || done.Error != nil {
		t.Fatalf("resumed destroy: %+v", done)
	}
	if left := pm.leftovers(t, rec.ID); len(left) != 0 {
		t.Fatalf("left behind: %v", left)
	}
}
