package embeddedtest

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/arrakis/gaib/embedded"
	"github.com/arrakis/gaib/sandbox"
)

// Postgres and Redis are started once per test binary (package) and shared by its tests;
// tests isolate themselves with a database each (Database) and with the random sandbox ids.
// Call StopAll from TestMain.
var shared struct {
	mu       sync.Mutex
	pg       *embedded.Postgres
	pgErr    error
	redis    *embedded.Redis
	redisErr error
	dirs     []string
}

// unavailable fails the test under CI=true (a skipped test proves nothing) and skips it
// elsewhere, saying what to install.
func unavailable(t testing.TB, what string, err error) {
	t.Helper()
	if os.Getenv("CI") == "true" || !errors.Is(err, embedded.ErrNotInstalled) {
		t.Fatalf("%s is not available: %v", what, err)
	}
	t.Skipf("%s is not available (%v); CI=true makes this a failure", what, err)
}

// sharedServer starts a server once per test binary and returns it (or fails/skips the
// test when it cannot start).
func sharedServer[S any](t testing.TB, what string, srv *S, errp *error, start func(dir string) (S, error)) S {
	t.Helper()
	shared.mu.Lock()
	defer shared.mu.Unlock()
	var zero S
	if any(*srv) == any(zero) && *errp == nil {
		dir, err := os.MkdirTemp("", "gaib-"+what+"-")
		if err == nil {
			shared.dirs = append(shared.dirs, dir)
			*srv, err = start(dir)
		}
		*errp = err
	}
	if *errp != nil {
		unavailable(t, what, *errp)
	}
	return *srv
}

// Postgres returns the package's shared throwaway Postgres cluster (started on first use
// from the installed binaries, random port, temp dir, fsync off).
func Postgres(t testing.TB) *embedded.Postgres {
	t.Helper()
	return sharedServer(t, "postgres", &shared.pg, &shared.pgErr, func(dir string) (*embedded.Postgres, error) {
		return embedded.StartPostgres(embedded.PostgresOptions{Dir: dir, Fast: true})
	})
}

// Redis returns the package's shared throwaway redis-server.
func Redis(t testing.TB) *embedded.Redis {
	t.Helper()
	return sharedServer(t, "redis-server", &shared.redis, &shared.redisErr, func(dir string) (*embedded.Redis, error) {
		return embedded.StartRedis(embedded.RedisOptions{Dir: dir, Ephemeral: true})
	})
}

// StopAll stops the shared servers and removes their directories.
func StopAll() {
	shared.mu.Lock()
	defer shared.mu.Unlock()
	if shared.pg != nil {
		shared.pg.Stop()
	}
	if shared.redis != nil {
		shared.redis.Stop()
	}
	for _, d := range shared.dirs {
		_ = os.RemoveAll(d)
	}
}

// Database creates a fresh database on the shared cluster for this test, owned by the
// cluster's admin role (embedded.AdminRole, not a superuser: what the Postgres plane logs
// in as), and returns the admin's URL of it. The database is dropped when the test ends.
func Database(t testing.TB) string {
	t.Helper()
	admin, _ := DatabaseURLs(t)
	return admin
}

// DatabaseURLs is Database, returning the superuser's URL of the same database too, for
// tests that inspect what the admin may not see.
func DatabaseURLs(t testing.TB) (admin, superuser string) {
	t.Helper()
	pg := Postgres(t)
	name := "test_" + sandbox.NewID()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, pg.SuperuserURL())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()+" OWNER "+pgx.Identifier{embedded.AdminRole}.Sanitize()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		c, err := pgx.Connect(ctx, pg.SuperuserURL())
		if err != nil {
			return
		}
		defer c.Close(ctx)
		_, _ = c.Exec(ctx, fmt.Sprintf("DROP DATABASE IF EXISTS %s WITH (FORCE)", pgx.Identifier{name}.Sanitize()))
	})
	return WithDatabase(t, pg.AdminURL(), name), WithDatabase(t, pg.SuperuserURL(), name)
}

// WithDatabase returns the Postgres URL u pointing at database db.
func WithDatabase(t testing.TB, u, db string) string {
	t.Helper()
	parsed, err := url.Parse(u)
	if err != nil {
		t.Fatal(err)
	}
	parsed.Path = "/" + db
	return parsed.String()
}

// TempDir returns a directory for a managed server's files, removed when the test ends.
// Unlike t.TempDir, every directory above it can be passed through by the unprivileged
// users servers run as when tests run as root.
func TempDir(t testing.TB) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "gaib-server-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	return dir
}

// NewPostgres starts a Postgres cluster for this test alone (for tests that look at the
// whole cluster, such as orphan detection); it stops when the test ends.
func NewPostgres(t testing.TB) *embedded.Postgres {
	t.Helper()
	pg, err := embedded.StartPostgres(embedded.PostgresOptions{Dir: TempDir(t), Fast: true})
	if err != nil {
		unavailable(t, "postgres", err)
	}
	t.Cleanup(pg.Stop)
	return pg
}

// NewRedis starts a redis-server for this test alone; it stops when the test ends.
func NewRedis(t testing.TB) *embedded.Redis {
	t.Helper()
	r, err := embedded.StartRedis(embedded.RedisOptions{Dir: TempDir(t), Ephemeral: true})
	if err != nil {
		unavailable(t, "redis-server", err)
	}
	t.Cleanup(r.Stop)
	return r
}
