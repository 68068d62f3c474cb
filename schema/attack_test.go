package schema_test

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/arrakis/gaib/embedded"
	"github.com/arrakis/gaib/embedded/embeddedtest"
	"github.com/arrakis/gaib/sandbox"
	"github.com/arrakis/gaib/schema"
)

// Every test here is an attack by a tenant that holds only what `connect` gave it: its
// DATABASE_URL. Each asserts that the attack failed and that the other sandboxes are
// untouched.

// canary is a table every role may write: a trap records there who ran it.
func canary(t *testing.T, p *plane) {
	t.Helper()
	if _, err := p.super(t).Exec(context.Background(), `CREATE TABLE public.canary (who text, sess text, what text);
		GRANT INSERT, SELECT ON public.canary TO PUBLIC`); err != nil {
		t.Fatal(err)
	}
}

// plantTrap creates, in the tenant's schema, trap(what): it records who runs it, then
// tries everything a role that has CREATEROLE or SUPERUSER could give the tenant.
func plantTrap(t *testing.T, c *pgx.Conn, role string) {
	t.Helper()
	fn := `CREATE FUNCTION trap(what text) RETURNS text LANGUAGE plpgsql AS $f$
	BEGIN
		INSERT INTO public.canary VALUES (current_user, session_user, what);
		BEGIN EXECUTE 'ALTER ROLE ` + role + ` SUPERUSER'; EXCEPTION WHEN OTHERS THEN NULL; END;
		BEGIN EXECUTE 'GRANT pg_execute_server_program, pg_read_server_files TO ` + role + `'; EXCEPTION WHEN OTHERS THEN NULL; END;
		BEGIN EXECUTE 'GRANT ` + embedded.AdminRole + ` TO ` + role + `'; EXCEPTION WHEN OTHERS THEN NULL; END;
		RETURN '` + schema.DefaultMigrations().Version + `';
	END $f$`
	if _, err := c.Exec(context.Background(), fn); err != nil {
		t.Fatal(err)
	}
}

// assertNotEscalated checks the canary and the role: the trap ran as the tenant only, and
// the tenant is no superuser and a member of no role.
func assertNotEscalated(t *testing.T, p *plane, role string) {
	t.Helper()
	ctx := context.Background()
	su := p.super(t)
	rows, err := su.Query(ctx, `SELECT who, sess, what FROM public.canary WHERE who <> $1 OR sess <> $1`, role)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var who, sess, what string
		_ = rows.Scan(&who, &sess, &what)
		t.Errorf("the tenant's trap %q ran as %s (session %s)", what, who, sess)
	}
	rows.Close()
	var super bool
	var memberOf int
	err = su.QueryRow(ctx, `SELECT rolsuper, (SELECT count(*) FROM pg_auth_members WHERE member = r.oid)
		FROM pg_roles r WHERE rolname = $1`, role).Scan(&super, &memberOf)
	if err != nil && err != pgx.ErrNoRows {
		t.Fatal(err)
	}
	if super || memberOf != 0 {
		t.Errorf("tenant %s: superuser %v, member of %d roles", role, super, memberOf)
	}
}

// trapsFired counts the canary rows the tenant's own use of its traps wrote (proof that the
// traps are live).
func trapsFired(t *testing.T, p *plane) int {
	t.Helper()
	var n int
	if err := p.super(t).QueryRow(context.Background(), `SELECT count(*) FROM public.canary`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// everyAdminOperation runs what gaib does with a sandbox as the admin.
func everyAdminOperation(t *testing.T, p *plane, rec sandbox.Record) {
	t.Helper()
	ctx := context.Background()
	for range 3 {
		if err := p.Check(ctx, rec); err != nil {
			t.Errorf("check: %v", err)
		}
	}
	if err := p.Repair(ctx, rec); err != nil {
		t.Errorf("repair: %v", err)
	}
	if _, err := p.Inventory(ctx); err != nil {
		t.Error(err)
	}
	if _, err := p.MaxSandboxes(ctx); err != nil {
		t.Error(err)
	}
	other := p.create(t)
	if err := p.Teardown(ctx, other); err != nil {
		t.Error(err)
	}
}

// The exploit of the old design: the tenant replaces what gaib read as a superuser (its
// version table) and anything gaib might read or call by name with its own code.
func TestAttackViewOverVersionTable(t *testing.T) {
	ctx := context.Background()
	p := openPlane(t, nil)
	canary(t, p)
	victim := p.create(t)
	rec := p.create(t)
	c := p.tenant(t, rec)
	role := rec.Resources.Role
	plantTrap(t, c, role)
	for _, q := range []string{
		`CREATE VIEW gaib_schema_version AS SELECT trap('view gaib_schema_version') AS version, now() AS applied_at`,
		`CREATE VIEW sandbox_versions AS SELECT 'x'::text AS id, trap('view sandbox_versions') AS version`,
		// Shadows of what a careless admin session resolves by name.
		`CREATE FUNCTION format(text, text) RETURNS text LANGUAGE sql AS $$ SELECT trap('format') $$`,
		`CREATE FUNCTION format(text, text, text) RETURNS text LANGUAGE sql AS $$ SELECT trap('format3') $$`,
		`CREATE FUNCTION pg_get_userbyid(oid) RETURNS name LANGUAGE sql AS $$ SELECT trap('pg_get_userbyid')::name $$`,
		`CREATE FUNCTION current_schema() RETURNS name LANGUAGE sql AS $$ SELECT trap('current_schema')::name $$`,
		`CREATE FUNCTION pg_terminate_backend(integer) RETURNS boolean LANGUAGE sql AS $$ SELECT trap('terminate') IS NOT NULL $$`,
		`CREATE FUNCTION trap_eq(text, text) RETURNS boolean LANGUAGE sql AS $$ SELECT trap('operator =') IS NOT NULL $$`,
		`CREATE OPERATOR = (leftarg = text, rightarg = text, function = trap_eq)`,
		`CREATE VIEW pg_roles AS SELECT trap('view pg_roles')::name AS rolname, true AS rolcanlogin, false AS rolsuper`,
		`CREATE VIEW pg_namespace AS SELECT trap('view pg_namespace')::name AS nspname, 0::oid AS nspowner`,
		`ALTER ROLE CURRENT_USER SET search_path = ` + rec.Resources.Schema + `, pg_catalog`,
	} {
		if _, err := c.Exec(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	// gaib's own records are out of reach.
	mustFail(t, c, `CREATE SCHEMA gaib2`, `CREATE VIEW gaib.sandbox_versions2 AS SELECT 1`,
		`INSERT INTO gaib.sandbox_versions VALUES ('`+rec.ID+`', 'forged')`, `DROP TABLE gaib.sandbox_versions`,
		`CREATE EVENT TRIGGER t ON ddl_command_start EXECUTE FUNCTION trap('x')`)
	// The traps are live: reading the view runs the tenant's code.
	if _, err := c.Exec(ctx, `SELECT version FROM gaib_schema_version`); err != nil {
		t.Fatal(err)
	}
	fired := trapsFired(t, p)
	if fired == 0 {
		t.Fatal("the trap did not fire for the tenant itself: the test proves nothing")
	}

	everyAdminOperation(t, p, rec)
	// Even an admin URL that puts the tenant's schema first (an operator's mistake) does
	// not put it on the admin's path.
	misled, err := schema.Open(ctx, p.adminURL+"&options=-csearch_path%3D"+rec.Resources.Schema+",pg_catalog",
		schema.DefaultMigrations(), p.secret)
	if err != nil {
		t.Fatal(err)
	}
	defer misled.Close()
	everyAdminOperation(t, &plane{Postgres: misled, adminURL: p.adminURL, superURL: p.superURL, secret: p.secret}, rec)
	assertNotEscalated(t, p, role)
	if err := p.Teardown(ctx, rec); err != nil {
		t.Fatal(err)
	}
	assertNotEscalated(t, p, role)
	if err := p.Check(ctx, victim); err != nil {
		t.Fatalf("the other sandbox: %v", err)
	}
}

// Triggers, rules, policies, domains and functions planted on every path a teardown could
// take: dropping a schema, what a role owns and the role runs none of them.
func TestAttackTriggersPlantedForTeardown(t *testing.T) {
	ctx := context.Background()
	p := openPlane(t, nil)
	canary(t, p)
	victim := p.create(t)
	vc := p.tenant(t, victim)
	if _, err := vc.Exec(ctx, `INSERT INTO communities (guild_id, name) VALUES ('123456789012345678', 'victim')`); err != nil {
		t.Fatal(err)
	}
	rec := p.create(t)
	c := p.tenant(t, rec)
	role := rec.Resources.Role
	plantTrap(t, c, role)
	for _, q := range []string{
		`CREATE FUNCTION trap_trigger() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN PERFORM trap(TG_NAME); RETURN NULL; END $$`,
		`CREATE TABLE bait (x int)`,
		`INSERT INTO bait VALUES (1)`,
		`CREATE TRIGGER b_row BEFORE INSERT OR UPDATE OR DELETE ON bait FOR EACH ROW EXECUTE FUNCTION trap_trigger()`,
		`CREATE TRIGGER a_stmt AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON bait FOR EACH STATEMENT EXECUTE FUNCTION trap_trigger()`,
		`CREATE RULE r_delete AS ON DELETE TO bait DO ALSO SELECT trap('rule')`,
		`ALTER TABLE bait ENABLE ROW LEVEL SECURITY`,
		`CREATE POLICY p ON bait USING (trap('policy') IS NOT NULL)`,
		`CREATE DOMAIN trapped AS text CHECK (trap(VALUE) IS NOT NULL)`,
		`CREATE TABLE domained (v trapped)`,
		`CREATE MATERIALIZED VIEW mv AS SELECT trap('matview') AS v`,
		`CREATE TABLE communities_ref (id uuid REFERENCES communities (id) ON DELETE CASCADE)`,
		`CREATE TRIGGER c_row BEFORE DELETE ON communities FOR EACH ROW EXECUTE FUNCTION trap_trigger()`,
		`SELECT lo_create(0)`,
		`CREATE TEMP TABLE tmp_bait (x int)`,
	} {
		if _, err := c.Exec(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	// Nothing may be planted outside its schema.
	mustFail(t, c, `CREATE TABLE public.bait (x int)`, `CREATE FUNCTION public.f() RETURNS int LANGUAGE sql AS 'SELECT 1'`,
		`CREATE EVENT TRIGGER t ON sql_drop EXECUTE FUNCTION trap_trigger()`,
		`CREATE SUBSCRIPTION s CONNECTION 'host=127.0.0.1' PUBLICATION p`,
		`CREATE TABLE `+victim.Resources.Schema+`.bait (x int)`,
		`CREATE TRIGGER t BEFORE INSERT ON `+victim.Resources.Schema+`.communities FOR EACH ROW EXECUTE FUNCTION trap_trigger()`)
	if _, err := c.Exec(ctx, `DELETE FROM bait`); err != nil {
		t.Fatal(err)
	}
	if trapsFired(t, p) == 0 {
		t.Fatal("the triggers did not fire for the tenant itself: the test proves nothing")
	}

	everyAdminOperation(t, p, rec)
	assertNotEscalated(t, p, role)
	if err := p.Teardown(ctx, rec); err != nil {
		t.Fatal(err)
	}
	assertNotEscalated(t, p, role)
	if got := p.leftovers(t, rec.ID); len(got) != 0 {
		t.Fatalf("left behind: %v", got)
	}
	var n int
	if err := vc.QueryRow(ctx, `SELECT count(*) FROM communities`).Scan(&n); err != nil || n != 1 {
		t.Fatalf("the other sandbox's rows: %d %v", n, err)
	}
}

// A migration tries to leave the role it runs as. It runs in a session logged in as that
// role, so RESET ROLE resets to the tenant and nothing above it is reachable.
func TestAttackMigrationEscapesTheRole(t *testing.T) {
	ctx := context.Background()
	super := pgx.Identifier{embedded.SuperuserRole}.Sanitize()
	admin := pgx.Identifier{embedded.AdminRole}.Sanitize()
	// A migration that resets its role still works, and still as the tenant.
	mig := migrations(t, "RESET ROLE; CREATE TABLE after_reset (x int);")
	p := openPlane(t, &mig)
	rec := p.create(t)
	var owner string
	var super2 bool
	if err := p.super(t).QueryRow(ctx, `SELECT tableowner, (SELECT rolsuper FROM pg_roles WHERE rolname = tableowner)
		FROM pg_tables WHERE tablename = 'after_reset'`).Scan(&owner, &super2); err != nil {
		t.Fatal(err)
	}
	if owner != rec.Resources.Role || super2 {
		t.Fatalf("the migration after RESET ROLE ran as %s (superuser %v)", owner, super2)
	}
	for _, attack := range []string{
		"RESET ROLE; SET SESSION AUTHORIZATION " + super + ";",
		"SET SESSION AUTHORIZATION DEFAULT; SET ROLE " + admin + ";",
		"RESET ROLE; SET ROLE " + super + ";",
		"RESET ROLE; ALTER ROLE CURRENT_USER SUPERUSER;",
		"RESET ROLE; GRANT " + admin + " TO CURRENT_USER;",
		"RESET ROLE; CREATE SCHEMA escaped;",
		"RESET ROLE; CREATE TABLE public.escaped (x int);",
		"RESET ROLE; INSERT INTO gaib.sandbox_versions VALUES ('forged', 'x');",
		"RESET ROLE; COPY (SELECT 1) TO PROGRAM 'true';",
	} {
		mig := migrations(t, "CREATE TABLE first (x int);", attack)
		p := openPlane(t, &mig)
		rec := sandbox.NewRecord(sandbox.NewID(), "t", "tester", time.Hour, nil, time.Now())
		if err := p.Provision(ctx, rec); err == nil || !strings.Contains(err.Error(), "002.sql") {
			t.Errorf("%s: provision = %v", attack, err)
		}
		if got := p.leftovers(t, rec.ID); len(got) != 0 {
			t.Errorf("%s: left behind %v", attack, got)
		}
		var escaped int
		if err := p.super(t).QueryRow(ctx, `SELECT (SELECT count(*) FROM pg_namespace WHERE nspname = 'escaped')
			+ (SELECT count(*) FROM pg_tables WHERE tablename = 'escaped')
			+ (SELECT count(*) FROM gaib.sandbox_versions WHERE id = 'forged')`).Scan(&escaped); err != nil || escaped != 0 {
			t.Errorf("%s: escaped %d %v", attack, escaped, err)
		}
	}
}

// An edited record names another sandbox's schema, role and prefix: every operation still
// acts on the names of the record's own id.
func TestAttackTamperedRecord(t *testing.T) {
	ctx := context.Background()
	p := openPlane(t, nil)
	alice, bob := p.create(t), p.create(t)
	bc := p.tenant(t, bob)
	if _, err := bc.Exec(ctx, `INSERT INTO communities (guild_id, name) VALUES ('123456789012345678', 'bob')`); err != nil {
		t.Fatal(err)
	}
	tampered := alice
	tampered.Resources = bob.Resources
	tampered.Resources.RedisPrefix = "sandbox:"
	if env := p.Env(tampered); env[0].Value != alice.Resources.Schema || !strings.Contains(env[1].Value, alice.Resources.Role) {
		t.Fatalf("connect settings follow the record: %v", env)
	}
	if err := p.Check(ctx, tampered); err != nil {
		t.Fatalf("check: %v", err)
	}
	if err := p.Teardown(ctx, tampered); err != nil {
		t.Fatal(err)
	}
	if got := p.leftovers(t, alice.ID); len(got) != 0 {
		t.Fatalf("alice's left behind: %v", got)
	}
	if got := p.leftovers(t, bob.ID); len(got) != 3 {
		t.Fatalf("bob's after alice's tampered teardown: %v", got)
	}
	var n int
	if err := bc.QueryRow(ctx, `SELECT count(*) FROM communities`).Scan(&n); err != nil || n != 1 {
		t.Fatalf("bob's rows: %d %v", n, err)
	}
	if err := p.Check(ctx, bob); err != nil {
		t.Fatalf("bob: %v", err)
	}
}

// 60 connections from one sandbox: its CONNECTION LIMIT holds, the others still connect,
// and its health check says what is wrong.
func TestAttackConnectionExhaustion(t *testing.T) {
	ctx := context.Background()
	p := openPlane(t, nil)
	greedy, other := p.create(t), p.create(t)
	var (
		mu    sync.Mutex
		conns []*pgx.Conn
		errs  []error
		wg    sync.WaitGroup
	)
	for range 60 {
		wg.Go(func() {
			c, err := pgx.Connect(ctx, p.URL(greedy))
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				errs = append(errs, err)
				return
			}
			conns = append(conns, c)
		})
	}
	wg.Wait()
	t.Cleanup(func() {
		for _, c := range conns {
			c.Close(ctx)
		}
	})
	if len(conns) != schema.DefaultConnectionLimit {
		t.Fatalf("%d connections of one role succeeded (limit %d)", len(conns), schema.DefaultConnectionLimit)
	}
	for _, err := range errs {
		if !strings.Contains(err.Error(), "too many connections for role") {
			t.Fatalf("refused with: %v", err)
		}
	}
	oc := p.tenant(t, other)
	if err := oc.Ping(ctx); err != nil {
		t.Fatalf("the other sandbox: %v", err)
	}
	if err := p.Check(ctx, other); err != nil {
		t.Fatalf("the other sandbox's health: %v", err)
	}
	if err := p.Check(ctx, greedy); err == nil || !strings.Contains(err.Error(), "too many connections for role") {
		t.Fatalf("health of the greedy sandbox: %v", err)
	}
	// The tenant cannot lift its own limit.
	mustFail(t, conns[0], `ALTER ROLE CURRENT_USER CONNECTION LIMIT -1`, `ALTER ROLE CURRENT_USER CREATEROLE`)
}

// A sandbox role connects to its own database only: not template1, not postgres, not
// gaib's, not another plane's database.
func TestAttackConnectToOtherDatabases(t *testing.T) {
	ctx := context.Background()
	p := openPlane(t, nil)
	other := openPlane(t, nil)
	rec := p.create(t)
	p.tenant(t, rec) // its own works
	cfg, err := pgx.ParseConfig(p.URL(rec))
	if err != nil {
		t.Fatal(err)
	}
	otherCfg, _ := pgx.ParseConfig(other.adminURL)
	for _, db := range []string{"template1", "postgres", embedded.AdminDatabase, otherCfg.Database} {
		c := cfg.Copy()
		c.Database = db
		conn, err := pgx.ConnectConfig(ctx, c)
		if err == nil {
			conn.Close(ctx)
			t.Errorf("the sandbox role connected to database %s", db)
		} else if !strings.Contains(err.Error(), "permission denied for database") {
			t.Errorf("database %s: %v", db, err)
		}
	}
	// Nor may the roles of other planes' sandboxes connect here.
	stranger := other.create(t)
	c := cfg.Copy()
	sc, _ := pgx.ParseConfig(other.URL(stranger))
	c.User, c.Password = sc.User, sc.Password
	if conn, err := pgx.ConnectConfig(ctx, c); err == nil {
		conn.Close(ctx)
		t.Error("another database's sandbox role connected here")
	}
}

// The tenant changes its own password (and session defaults): health says connect hands
// out a dead password, and Repair gives the derived one back.
func TestAttackOwnPasswordThenRepair(t *testing.T) {
	ctx := context.Background()
	p := openPlane(t, nil)
	rec := p.create(t)
	c := p.tenant(t, rec)
	for _, q := range []string{`ALTER ROLE CURRENT_USER PASSWORD 'mine'`, `ALTER ROLE CURRENT_USER SET statement_timeout = 1`} {
		if _, err := c.Exec(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	err := p.Check(ctx, rec)
	if err == nil || !strings.Contains(err.Error(), "password authentication failed") {
		t.Fatalf("health with a changed password: %v", err)
	}
	if err := p.Repair(ctx, rec); err != nil {
		t.Fatal(err)
	}
	if err := p.Check(ctx, rec); err != nil {
		t.Fatalf("health after repair: %v", err)
	}
	var timeout string
	if err := p.tenant(t, rec).QueryRow(ctx, `SHOW statement_timeout`).Scan(&timeout); err != nil || timeout != "1min" {
		t.Fatalf("the tenant's session default survived repair: %q %v", timeout, err)
	}
	if err := p.Repair(ctx, rec); err != nil { // idempotent
		t.Fatal(err)
	}
	// Repair never brings back what a teardown took.
	if err := p.Teardown(ctx, rec); err != nil {
		t.Fatal(err)
	}
	if err := p.Repair(ctx, rec); err == nil {
		t.Fatal("repair of a destroyed sandbox succeeded")
	}
	if got := p.leftovers(t, rec.ID); len(got) != 0 {
		t.Fatalf("repair re-created %v", got)
	}
}

// The admin the managed cluster hands the plane is not a superuser.
func TestManagedAdminIsNotASuperuser(t *testing.T) {
	ctx := context.Background()
	c := connect(t, embeddedtest.Database(t))
	var super, createRole bool
	if err := c.QueryRow(ctx, `SELECT rolsuper, rolcreaterole FROM pg_roles WHERE rolname = current_user`).Scan(&super, &createRole); err != nil {
		t.Fatal(err)
	}
	if super || !createRole {
		t.Fatalf("admin: superuser %v, createrole %v", super, createRole)
	}
	mustFail(t, c, `ALTER ROLE CURRENT_USER SUPERUSER`, `GRANT `+pgx.Identifier{embedded.SuperuserRole}.Sanitize()+` TO CURRENT_USER`)
}
