package integration

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/redis/go-redis/v9"

	"github.com/arrakis/gaib/auth/authtest"
	"github.com/arrakis/gaib/embedded/embeddedtest"
	"github.com/arrakis/gaib/keyspace"
	"github.com/arrakis/gaib/sandbox"
	"github.com/arrakis/gaib/schema"
	"github.com/arrakis/gaib/services"
)

// planeMesh is a mesh whose sandboxes get real Postgres and Redis slices.
type planeMesh struct {
	*testMesh
	DBURL, RedisURL string
	PG              *schema.Postgres
	Redis           *keyspace.Redis
	Secret          sandbox.Secret
}

// startPlaneMesh starts a mesh with the Postgres plane (in a database of its own, with
// migrations mig, or the default ones) and the Redis plane, plus any extra planes after them.
func startPlaneMesh(t testing.TB, cfg services.MeshConfig, mig *schema.Migrations, extra ...services.Plane) *planeMesh {
	t.Helper()
	return startPlaneMeshOn(t, embeddedtest.Database(t), embeddedtest.Redis(t).URL(), cfg, mig, extra...)
}

// startPrivatePlaneMesh is startPlaneMesh on a Postgres cluster and a Redis server of its
// own, for tests that inspect whole servers (roles and ACL users are server-wide).
func startPrivatePlaneMesh(t testing.TB, cfg services.MeshConfig) *planeMesh {
	t.Helper()
	pg := embeddedtest.NewPostgres(t)
	return startPlaneMeshOn(t, pg.AdminURL(), embeddedtest.NewRedis(t).URL(), cfg, nil)
}

func startPlaneMeshOn(t testing.TB, dbURL, redisURL string, cfg services.MeshConfig, mig *schema.Migrations, extra ...services.Plane) *planeMesh {
	t.Helper()
	ctx := context.Background()
	pm := &planeMesh{DBURL: dbURL, RedisURL: redisURL, Secret: sandbox.Secret(sandbox.NewID() + sandbox.NewID() + sandbox.NewID() + sandbox.NewID())}
	m := schema.DefaultMigrations()
	if mig != nil {
		m = *mig
	}
	var err error
	if pm.PG, err = schema.Open(ctx, pm.DBURL, m, pm.Secret); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pm.PG.Close)
	if pm.Redis, err = keyspace.Open(ctx, pm.RedisURL, pm.Secret, false); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = pm.Redis.Close() })
	cfg.Sandbox.Planes = append([]services.Plane{pm.PG, pm.Redis}, extra...)
	pm.testMesh = startMeshWith(t, authtest.Start(t, pm.Secret), cfg)
	return pm
}

// admin returns a superuser connection to the mesh's database.
func (pm *planeMesh) admin(t testing.TB) *pgx.Conn {
	t.Helper()
	c, err := pgx.Connect(context.Background(), pm.DBURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close(context.Background()) })
	return c
}

// redisAdmin returns an admin client of the shared Redis.
func (pm *planeMesh) redisAdmin(t testing.TB) *redis.Client {
	t.Helper()
	return redisClient(t, pm.RedisURL)
}

func redisClient(t testing.TB, url string) *redis.Client {
	t.Helper()
	opt, err := redis.ParseURL(url)
	if err != nil {
		t.Fatal(err)
	}
	c := redis.NewClient(opt)
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// leftovers lists what exists of sandbox id in Postgres and Redis.
func (pm *planeMesh) leftovers(t testing.TB, id string) []string {
	t.Helper()
	ctx := context.Background()
	res := sandbox.ResourcesFor(id)
	var out []string
	admin := pm.admin(t)
	var n int
	if err := admin.QueryRow(ctx, `SELECT count(*) FROM pg_namespace WHERE nspname = $1`, res.Schema).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n > 0 {
		out = append(out, "schema "+res.Schema)
	}
	if err := admin.QueryRow(ctx, `SELECT count(*) FROM pg_roles WHERE rolname = $1`, res.Role).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n > 0 {
		out = append(out, "role "+res.Role)
	}
	rc := pm.redisAdmin(t)
	users, err := rc.Do(ctx, "ACL", "USERS").StringSlice()
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range users {
		if u == res.RedisUser {
			out = append(out, "redis user "+u)
		}
	}
	keys, err := rc.Keys(ctx, res.RedisPrefix+"*").Result()
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range keys {
		out = append(out, "redis key "+k)
	}
	return out
}

// connectEnv returns the connect environment of a sandbox through the CLI.
func (m *testMesh) connectEnv(t testing.TB, name string) map[string]string {
	t.Helper()
	var resp struct {
		Env map[string]string `json:"env"`
	}
	decodeStrict(t, m.gaib(t, "--json", "sandbox", "connect", name).must(t).Stdout, &resp)
	return resp.Env
}
