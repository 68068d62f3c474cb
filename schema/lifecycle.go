package schema

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/arrakis/gaib/sandbox"
)

// undoTimeout bounds the teardown that undoes a failed Provision.
const undoTimeout = 30 * time.Second

// step is one DDL statement built by ddl.
type step struct {
	format string
	args   []string
}

func runSteps(ctx context.Context, db execer, steps []step) error {
	for _, s := range steps {
		if err := ddl(ctx, db, s.format, s.args...); err != nil {
			return fmt.Errorf("%s: %w", strings.Join(strings.Fields(s.format)[:2], " "), err)
		}
	}
	return nil
}

// Provision creates the sandbox's role and schema as the admin in one transaction, then
// applies the migrations in a session logged in as the role itself (so a migration can
// never act with more than the tenant's rights: RESET ROLE resets to the tenant), then
// records the migration version in gaib's own table. A failure drops whatever it created.
func (p *Postgres) Provision(ctx context.Context, r sandbox.Record) error {
	res, err := sandbox.ResourcesOf(r.ID)
	if err != nil {
		return err
	}
	tx, err := p.pool.Begin(ctx)
	if err != nil {
		return err
	}
	defer func() { _ = tx.Rollback(context.WithoutCancel(ctx)) }()
	err = runSteps(ctx, tx, append([]step{
		{"CREATE ROLE %I LOGIN NOINHERIT CONNECTION LIMIT %s PASSWORD %L", []string{res.Role, p.limitArg(), p.secret.Password(PlaneName, r.ID)}},
		// The admin must be a member of the role to give it a schema and, later, to end its
		// sessions and drop what it owns (a CREATEROLE admin is not a superuser).
		{"GRANT %I TO CURRENT_USER", []string{res.Role}},
		{"CREATE SCHEMA %I AUTHORIZATION %I", []string{res.Schema, res.Role}},
		{"REVOKE ALL ON SCHEMA %I FROM PUBLIC", []string{res.Schema}},
		{"GRANT CONNECT, TEMPORARY ON DATABASE %I TO %I", []string{p.db, res.Role}},
	}, p.defaultSteps(res)...))
	if err == nil {
		err = tx.Commit(ctx)
	}
	if err != nil {
		return err
	}
	if err := p.migrate(ctx, r); err != nil {
		return p.undo(ctx, r, err)
	}
	_, err = p.pool.Exec(ctx, `INSERT INTO gaib.sandbox_versions (id, version) VALUES ($1, $2)
		ON CONFLICT (id) DO UPDATE SET version = EXCLUDED.version, applied_at = pg_catalog.now()`, r.ID, p.mig.Version)
	if err != nil {
		return p.undo(ctx, r, fmt.Errorf("record the migration version: %w", err))
	}
	return nil
}

// migrate applies the migrations in one transaction, logged in as the sandbox's role.
func (p *Postgres) migrate(ctx context.Context, r sandbox.Record) error {
	c, err := p.loginAs(ctx, r)
	if err != nil {
		return fmt.Errorf("log in as the sandbox role to migrate: %w", err)
	}
	defer c.Close(context.WithoutCancel(ctx))
	return pgx.BeginFunc(ctx, c, func(tx pgx.Tx) error {
		for _, m := range p.mig.List {
			if _, err := tx.Exec(ctx, m.SQL); err != nil {
				return fmt.Errorf("migration %s: %w", m.Name, err)
			}
		}
		return nil
	})
}

// undo tears down a half-provisioned sandbox and returns cause (with the teardown's error).
func (p *Postgres) undo(ctx context.Context, r sandbox.Record, cause error) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), undoTimeout)
	defer cancel()
	if err := p.Teardown(ctx, r); err != nil {
		return errors.Join(cause, fmt.Errorf("undo: %w", err))
	}
	return cause
}

// Teardown ends the role's sessions and drops the schema (with everything in it), what
// the role owns, the role and gaib's record of its version, every name derived from the
// id. Dropping runs no tenant code (no trigger fires on DROP; event triggers are
// superuser-only). Dropping what is already gone succeeds.
func (p *Postgres) Teardown(ctx context.Context, r sandbox.Record) error {
	res, err := sandbox.ResourcesOf(r.ID)
	if err != nil {
		return err
	}
	exists, err := p.roleExists(ctx, res.Role)
	if err != nil {
		return err
	}
	if exists {
		// Membership first (a role created by an earlier superuser admin), then no new
		// sessions, then end the current ones.
		if err := runSteps(ctx, p.pool, []step{
			{"GRANT %I TO CURRENT_USER", []string{res.Role}},
			{"ALTER ROLE %I NOLOGIN", []string{res.Role}},
		}); err != nil {
			return err
		}
		if _, err := p.pool.Exec(ctx, `SELECT pg_catalog.pg_terminate_backend(pid) FROM pg_catalog.pg_stat_activity
			WHERE usename = $1 AND pid <> pg_catalog.pg_backend_pid()`, res.Role); err != nil {
			return err
		}
	}
	tx, err := p.pool.Begin(ctx)
	if err != nil {
		return err
	}
	defer func() { _ = tx.Rollback(context.WithoutCancel(ctx)) }()
	steps := []step{{"DROP SCHEMA IF EXISTS %I CASCADE", []string{res.Schema}}}
	if exists {
		steps = append(steps, step{"DROP OWNED BY %I CASCADE", []string{res.Role}}, step{"DROP ROLE IF EXISTS %I", []string{res.Role}})
	}
	if err := runSteps(ctx, tx, steps); err != nil {
		return err
	}
	if _, err := tx.Exec(ctx, `DELETE FROM gaib.sandbox_versions WHERE id = $1`, r.ID); err != nil {
		return err
	}
	return tx.Commit(ctx)
}

func (p *Postgres) roleExists(ctx context.Context, role string) (bool, error) {
	var ok bool
	err := p.pool.QueryRow(ctx, `SELECT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = $1)`, role).Scan(&ok)
	return ok, err
}

// Check reports whether the sandbox works as `connect` says: its role exists, is no
// superuser and may log in, its schema exists and is the role's, a session logged in with
// the URL `connect` hands out works in that schema (so a password the tenant changed, a
// full connection limit or a timeout show as what they are), and gaib's own record of
// the migration version matches the sandbox record. The admin reads catalogs and gaib's
// table only; the tenant's schema is touched by the tenant's own session.
func (p *Postgres) Check(ctx context.Context, r sandbox.Record) error {
	res, err := sandbox.ResourcesOf(r.ID)
	if err != nil {
		return err
	}
	if err := p.checkCatalog(ctx, res); err != nil {
		return err
	}
	c, err := p.loginAs(ctx, r)
	if err != nil {
		return fmt.Errorf("cannot log in as %s with the connect URL: %w", res.Role, err)
	}
	defer c.Close(context.WithoutCancel(ctx))
	var current *string
	if err := c.QueryRow(ctx, `SELECT pg_catalog.current_schema()::text`).Scan(&current); err != nil {
		return fmt.Errorf("session as %s: %w", res.Role, err)
	}
	if current == nil || *current != res.Schema {
		return fmt.Errorf("a session as %s does not work in schema %s (current schema %v)", res.Role, res.Schema, deref(current))
	}
	var version string
	err = p.pool.QueryRow(ctx, `SELECT version FROM gaib.sandbox_versions WHERE id = $1`, r.ID).Scan(&version)
	if errors.Is(err, pgx.ErrNoRows) {
		return fmt.Errorf("schema %s has no migration version recorded", res.Schema)
	}
	if err != nil {
		return err
	}
	if r.MigrationVersion != "" && !slices.Contains(strings.Split(r.MigrationVersion, ","), version) {
		return fmt.Errorf("schema %s was built with migrations %s, the record says %s", res.Schema, version, r.MigrationVersion)
	}
	return nil
}

// checkCatalog checks, as the admin and in the catalogs only, the role and the schema.
func (p *Postgres) checkCatalog(ctx context.Context, res sandbox.Resources) error {
	var login, super bool
	err := p.pool.QueryRow(ctx, `SELECT rolcanlogin, rolsuper FROM pg_catalog.pg_roles WHERE rolname = $1`, res.Role).Scan(&login, &super)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return fmt.Errorf("role %s does not exist", res.Role)
	case err != nil:
		return err
	case super:
		return fmt.Errorf("role %s is a superuser: destroy the sandbox and audit the cluster", res.Role)
	case !login:
		return fmt.Errorf("role %s cannot log in", res.Role)
	}
	var owner string
	err = p.pool.QueryRow(ctx, `SELECT pg_catalog.pg_get_userbyid(nspowner)::text FROM pg_catalog.pg_namespace WHERE nspname = $1`, res.Schema).Scan(&owner)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return fmt.Errorf("schema %s does not exist", res.Schema)
	case err != nil:
		return err
	case owner != res.Role:
		return fmt.Errorf("schema %s is owned by %s, not %s", res.Schema, owner, res.Role)
	}
	return nil
}

func deref(s *string) any {
	if s == nil {
		return nil
	}
	return *s
}

// Repair gives the sandbox's role back what gaib set up, from the id alone: the derived
// password (a tenant may have changed it, leaving `connect` a dead one), NOINHERIT, the
// connection limit, no session defaults but its search_path and sessionDefaults, the
// admin's membership and CONNECT on the database. It is idempotent. It repairs a working sandbox only: a role or
// schema that is gone (the schema's data went with it) or a role that may not log in (only
// gaib takes LOGIN away, when it destroys a sandbox) is reported and nothing is changed.
func (p *Postgres) Repair(ctx context.Context, r sandbox.Record) error {
	res, err := sandbox.ResourcesOf(r.ID)
	if err != nil {
		return err
	}
	if err := p.checkCatalog(ctx, res); err != nil {
		return fmt.Errorf("cannot repair: %w", err)
	}
	return pgx.BeginFunc(ctx, p.pool, func(tx pgx.Tx) error {
		return runSteps(ctx, tx, append([]step{
			{"GRANT %I TO CURRENT_USER", []string{res.Role}},
			{"ALTER ROLE %I NOINHERIT NOCREATEDB NOCREATEROLE CONNECTION LIMIT %s PASSWORD %L", []string{res.Role, p.limitArg(), p.secret.Password(PlaneName, r.ID)}},
			{"ALTER ROLE %I RESET ALL", []string{res.Role}},
			{"ALTER ROLE %I IN DATABASE %I RESET ALL", []string{res.Role, p.db}},
			{"GRANT CONNECT, TEMPORARY ON DATABASE %I TO %I", []string{p.db, res.Role}},
		}, p.defaultSteps(res)...))
	})
}
