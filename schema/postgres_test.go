package schema_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/arrakis/gaib/embedded/embeddedtest"
	"github.com/arrakis/gaib/sandbox"
	"github.com/arrakis/gaib/schema"
)

func TestMain(m *testing.M) {
	code := m.Run()
	embeddedtest.StopAll()
	os.Exit(code)
}

// plane is a Postgres plane on a database of its own, opened as the cluster's admin role
// (not a superuser), and the superuser's URL of the same database for inspection.
type plane struct {
	*schema.Postgres
	adminURL, superURL string
	secret             sandbox.Secret
}

func openPlane(t *testing.T, mig *schema.Migrations, opts ...schema.Option) *plane {
	t.Helper()
	admin, super := embeddedtest.DatabaseURLs(t)
	m := schema.DefaultMigrations()
	if mig != nil {
		m = *mig
	}
	secret := sandbox.NewSecret()
	p, err := schema.Open(context.Background(), admin, m, secret, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	return &plane{Postgres: p, adminURL: admin, superURL: super, secret: secret}
}

// create provisions a new sandbox and returns its record.
func (p *plane) create(t *testing.T) sandbox.Record {
	t.Helper()
	rec := sandbox.NewRecord(sandbox.NewID(), "t", "tester", time.Hour, nil, time.Now())
	rec.MigrationVersion = p.Version()
	if err := p.Provision(context.Background(), rec); err != nil {
		t.Fatal(err)
	}
	return rec
}

// connect opens a session with url, closed when the test ends.
func connect(t *testing.T, url string) *pgx.Conn {
	t.Helper()
	c, err := pgx.Connect(context.Background(), url)
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	t.Cleanup(func() { c.Close(context.Background()) })
	return c
}

// tenant is what the sandbox's worker holds: a session with the URL connect hands out.
func (p *plane) tenant(t *testing.T, rec sandbox.Record) *pgx.Conn {
	t.Helper()
	return connect(t, p.URL(rec))
}

// super is a superuser session on the plane's database, to look at what the admin cannot.
func (p *plane) super(t *testing.T) *pgx.Conn {
	t.Helper()
	return connect(t, p.superURL)
}

// leftovers lists what exists of sandbox id: schema, role, version row.
func (p *plane) leftovers(t *testing.T, id string) []string {
	t.Helper()
	res := sandbox.ResourcesFor(id)
	var out []string
	c := p.super(t)
	for _, q := range []struct{ what, sql, arg string }{
		{"schema", `SELECT count(*) FROM pg_namespace WHERE nspname = $1`, res.Schema},
		{"role", `SELECT count(*) FROM pg_roles WHERE rolname = $1`, res.Role},
		{"version", `SELECT count(*) FROM gaib.sandbox_versions WHERE id = $1`, id},
	} {
		var n int
		if err := c.QueryRow(context.Background(), q.sql, q.arg).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n > 0 {
			out = append(out, q.what)
		}
	}
	return out
}

// mustFail runs each statement in c and fails the test when one succeeds.
func mustFail(t *testing.T, c *pgx.Conn, stmts ...string) {
	t.Helper()
	for _, q := range stmts {
		if _, err := c.Exec(context.Background(), q); err == nil {
			t.Errorf("succeeded: %s", q)
		}
	}
}

func TestProvisionCheckTeardown(t *testing.T) {
	ctx := context.Background()
	p := openPlane(t, nil)
	rec := p.create(t)
	if err := p.Check(ctx, rec); err != nil {
		t.Fatalf("check: %v", err)
	}
	c := p.tenant(t, rec)
	if _, err := c.Exec(ctx, `INSERT INTO communities (guild_id, name) VALUES ('123456789012345678', 'x')`); err != nil {
		t.Fatal(err)
	}
	var owner string
	var limit int
	if err := p.super(t).QueryRow(ctx, `SELECT tableowner, (SELECT rolconnlimit FROM pg_roles WHERE rolname = tableowner)
		FROM pg_tables WHERE schemaname = $1 AND tablename = 'communities'`, rec.Resources.Schema).Scan(&owner, &limit); err != nil {
		t.Fatal(err)
	}
	if owner != rec.Resources.Role || limit != schema.DefaultConnectionLimit {
		t.Fatalf("tables owned by %s, connection limit %d", owner, limit)
	}
	if got := p.leftovers(t, rec.ID); len(got) != 3 {
		t.Fatalf("after provision: %v", got)
	}
	for range 2 { // idempotent
		if err := p.Teardown(ctx, rec); err != nil {
			t.Fatal(err)
		}
	}
	if got := p.leftovers(t, rec.ID); len(got) != 0 {
		t.Fatalf("left behind: %v", got)
	}
	if err := c.Ping(ctx); err == nil {
		t.Error("the tenant's session survived teardown")
	}
	if err := p.Check(ctx, rec); err == nil || !strings.Contains(err.Error(), "does not exist") {
		t.Fatalf("check after teardown: %v", err)
	}
}

func TestCheckSaysWhatIsWrong(t *testing.T) {
	ctx := context.Background()
	p := openPlane(t, nil)
	rec := p.create(t)
	stale := rec
	stale.MigrationVersion = "000_other@abc"
	if err := p.Check(ctx, stale); err == nil || !strings.Contains(err.Error(), "the record says 000_other@abc") {
		t.Fatalf("check with another version: %v", err)
	}
	if _, err := p.super(t).Exec(ctx, "DROP SCHEMA "+pgx.Identifier{rec.Resources.Schema}.Sanitize()+" CASCADE"); err != nil {
		t.Fatal(err)
	}
	if err := p.Check(ctx, rec); err == nil || err.Error() != "schema "+rec.Resources.Schema+" does not exist" {
		t.Fatalf("check without the schema: %v", err)
	}
	if err := p.Repair(ctx, rec); err == nil || !strings.Contains(err.Error(), "does not exist") {
		t.Fatalf("repair without the schema: %v", err)
	}
}

// A migration that fails leaves nothing of the sandbox, and says which file failed.
func TestProvisionIsAllOrNothing(t *testing.T) {
	mig := migrations(t, "CREATE TABLE fine (id int PRIMARY KEY);", "CREATE TABLE broken (id int REFERENCES nowhere (id));")
	p := openPlane(t, &mig)
	rec := sandbox.NewRecord(sandbox.NewID(), "t", "tester", time.Hour, nil, time.Now())
	err := p.Provision(context.Background(), rec)
	if err == nil || !strings.Contains(err.Error(), "002.sql") {
		t.Fatalf("provision: %v", err)
	}
	if got := p.leftovers(t, rec.ID); len(got) != 0 {
		t.Fatalf("left behind: %v", got)
	}
}

// migrations writes each SQL text to 001.sql, 002.sql, … and loads them.
func migrations(t *testing.T, sql ...string) schema.Migrations {
	t.Helper()
	dir := t.TempDir()
	for i, s := range sql {
		if err := os.WriteFile(filepath.Join(dir, "00"+string(rune('1'+i))+".sql"), []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	m, err := schema.LoadMigrations(dir)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestMaxSandboxesKeepsTheLimitsUnderMaxConnections(t *testing.T) {
	ctx := context.Background()
	p := openPlane(t, nil, schema.WithConnectionLimit(7), schema.WithReservedConnections(30))
	var maxConns, reserved int
	if err := p.super(t).QueryRow(ctx, `SELECT current_setting('max_connections')::int, current_setting('superuser_reserved_connections')::int`).
		Scan(&maxConns, &reserved); err != nil {
		t.Fatal(err)
	}
	n, err := p.MaxSandboxes(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if n != (maxConns-reserved-30)/7 || n*7 > maxConns-reserved-30 || n <= 0 {
		t.Fatalf("MaxSandboxes = %d with max_connections %d, reserved %d", n, maxConns, reserved)
	}
	rec := p.create(t)
	var limit int
	if err := p.super(t).QueryRow(ctx, `SELECT rolconnlimit FROM pg_roles WHERE rolname = $1`, rec.Resources.Role).Scan(&limit); err != nil || limit != 7 {
		t.Fatalf("connection limit %d %v", limit, err)
	}
	if _, err := schema.Open(ctx, p.adminURL, schema.DefaultMigrations(), sandbox.NewSecret(), schema.WithConnectionLimit(0)); err == nil {
		t.Fatal("a connection limit of 0 was accepted")
	}
}

// The plane refuses an admin that cannot create roles, and hardens the database it opens.
func TestOpenChecksTheAdminAndHardensTheDatabase(t *testing.T) {
	ctx := context.Background()
	p := openPlane(t, nil)
	su := p.super(t)
	var connect, create bool
	if err := su.QueryRow(ctx, `SELECT has_database_privilege('public', current_database(), 'CONNECT'),
		has_schema_privilege('public', 'public', 'CREATE')`).Scan(&connect, &create); err != nil {
		t.Fatal(err)
	}
	if connect || create {
		t.Fatalf("PUBLIC may still connect (%v) or create in schema public (%v)", connect, create)
	}
	weak := "weak_" + sandbox.NewID()
	if _, err := su.Exec(ctx, "CREATE ROLE "+weak+" LOGIN PASSWORD 'pw'; GRANT CONNECT ON DATABASE "+
		pgx.Identifier{su.Config().Database}.Sanitize()+" TO "+weak); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _, _ = p.super(t).Exec(ctx, "DROP OWNED BY "+weak+"; DROP ROLE "+weak) })
	cfg, _ := pgx.ParseConfig(p.adminURL)
	u := strings.Replace(p.adminURL, cfg.User+":"+cfg.Password, weak+":pw", 1)
	if _, err := schema.Open(ctx, u, schema.DefaultMigrations(), sandbox.NewSecret()); err == nil || !strings.Contains(err.Error(), "CREATEROLE") {
		t.Fatalf("open as a role without CREATEROLE: %v", err)
	}
}

func TestInvalidIDsAreRefused(t *testing.T) {
	ctx := context.Background()
	p := openPlane(t, nil)
	for _, id := range []string{"", "sandbox", "Abcdefghij", "abcdefghi", "abcdefghij; x", `a"bcdefghi`} {
		rec := sandbox.Record{ID: id, Resources: sandbox.ResourcesFor("abcdefghij")}
		for name, op := range map[string]func(context.Context, sandbox.Record) error{
			"provision": p.Provision, "teardown": p.Teardown, "check": p.Check, "repair": p.Repair,
		} {
			if err := op(ctx, rec); !errors.Is(err, &sandbox.Error{Code: sandbox.CodeInvalidID}) {
				t.Errorf("%s(%q) = %v", name, id, err)
			}
		}
		if p.URL(rec) != "" || p.Env(rec) != nil {
			t.Errorf("connect settings for id %q: %v", id, p.Env(rec))
		}
	}
}
