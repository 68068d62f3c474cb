package schema_test

import (
	"context"
	"strings"
	"testing"

	"github.com/arrakis/gaib/sandbox"
	"github.com/arrakis/gaib/schema"
)

// Attacks on what the sandboxes share in Postgres beyond connections: its disk, its time,
// and the names every schema of a database shares. Each gives the attacker only its
// DATABASE_URL, and asserts that the attack failed and that the other sandbox still works.

// The tenant tries to lift the limits of its sessions: the superuser-only ones (temporary
// files on the shared disk, prepared transactions that outlive the session) hold; the
// time limits are only defaults (a tenant may change its own), which repair puts back.
func TestAttackSessionLimits(t *testing.T) {
	ctx := context.Background()
	p := openPlane(t, nil)
	mallory, alice := p.create(t), p.create(t)
	m := p.tenant(t, mallory)
	setting := func(name string) string {
		t.Helper()
		var v string
		if err := m.QueryRow(ctx, "SELECT pg_catalog.current_setting($1)", name).Scan(&v); err != nil {
			t.Fatal(err)
		}
		return v
	}
	want := map[string]string{"temp_file_limit": "256MB", "max_prepared_transactions": "0",
		"statement_timeout": "1min", "idle_in_transaction_session_timeout": "1min", "idle_session_timeout": "1h"}
	for name, v := range want {
		if got := setting(name); got != v {
			t.Errorf("%s = %q, want %q", name, got, v)
		}
	}
	role := mallory.Resources.Role
	for _, q := range []string{
		`SET temp_file_limit = -1`,
		`SET LOCAL temp_file_limit = '100GB'`,
		`SELECT pg_catalog.set_config('temp_file_limit', '-1', false)`,
		`ALTER ROLE ` + role + ` SET temp_file_limit = -1`,
		`ALTER SYSTEM SET temp_file_limit = -1`,
		`BEGIN; CREATE TABLE held (id int); PREPARE TRANSACTION 'held'`,
	} {
		_, err := m.Exec(ctx, q)
		if err == nil {
			t.Errorf("succeeded: %s", q)
		}
		_, _ = m.Exec(ctx, "ROLLBACK")
	}
	if got := setting("temp_file_limit"); got != "256MB" {
		t.Fatalf("temp_file_limit after the attempts: %s", got)
	}
	// The time limits are the role's defaults: the tenant may lift its own; repair sets
	// them again.
	if _, err := m.Exec(ctx, `ALTER ROLE CURRENT_USER SET statement_timeout = 0`); err != nil {
		t.Fatal(err)
	}
	if err := p.Repair(ctx, mallory); err != nil {
		t.Fatal(err)
	}
	var after string
	if err := p.tenant(t, mallory).QueryRow(ctx, `SHOW statement_timeout`).Scan(&after); err != nil || after != "1min" {
		t.Fatalf("statement_timeout after repair: %q %v", after, err)
	}
	if err := p.Check(ctx, alice); err != nil {
		t.Fatalf("the other tenant: %v", err)
	}
}

// Advisory locks have one key space per database: a sandbox could block another's
// pg_advisory_lock(12345), or hold the key gaib's start waits for. On the managed cluster
// nobody but gaib's admin may take one, and gaib still starts.
func TestAttackAdvisoryLocks(t *testing.T) {
	ctx := context.Background()
	p := openPlane(t, nil)
	mallory, alice := p.create(t), p.create(t)
	m := p.tenant(t, mallory)
	for _, q := range []string{
		`SELECT pg_advisory_lock(12345)`,
		`SELECT pg_catalog.pg_advisory_lock(12345)`,
		`SELECT pg_try_advisory_lock(7072616962)`,
		`SELECT pg_advisory_lock_shared(12345)`,
		`SELECT pg_advisory_lock(1, 2)`,
		`SELECT pg_try_advisory_lock_shared(1, 2)`,
		`BEGIN; SELECT pg_advisory_xact_lock(7072616962)`,
		`BEGIN; SELECT pg_try_advisory_xact_lock_shared(7072616962)`,
		`SELECT pg_advisory_unlock(12345)`,
		`SELECT pg_advisory_unlock_all()`,
	} {
		_, err := m.Exec(ctx, q)
		if err == nil || !strings.Contains(err.Error(), "permission denied for function") {
			t.Errorf("%s: %v", q, err)
		}
		_, _ = m.Exec(ctx, "ROLLBACK")
	}
	// Another gaib instance starts on the same database: its start takes its advisory lock.
	other, err := schema.Open(ctx, p.adminURL, schema.DefaultMigrations(), sandbox.NewSecret())
	if err != nil {
		t.Fatalf("a second instance's start: %v", err)
	}
	other.Close()
	if err := p.Check(ctx, alice); err != nil {
		t.Fatalf("the other tenant: %v", err)
	}
}
