package schema

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/arrakis/gaib/sandbox"
)

// PlaneName is the name of the Postgres plane in health checks and password derivation.
const PlaneName = "postgres"

// Postgres provisions sandbox schemas and roles in one database.
type Postgres struct {
	pool   *pgxpool.Pool
	mig    Migrations
	secret sandbox.Secret
	base   url.URL // host, port, database and sslmode for the sandboxes' URLs
	db     string
}

// Open connects to the database at adminURL with a role allowed to create roles and
// schemas (a superuser, or rds_superuser on RDS).
func Open(ctx context.Context, adminURL string, mig Migrations, secret sandbox.Secret) (*Postgres, error) {
	cfg, err := pgxpool.ParseConfig(adminURL)
	if err != nil {
		return nil, fmt.Errorf("postgres url: %w", err)
	}
	cfg.MaxConns = 16
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, err
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("postgres %s: %w", cfg.ConnConfig.Host, err)
	}
	u, err := url.Parse(adminURL)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		u = &url.URL{Scheme: "postgres", Host: fmt.Sprintf("%s:%d", cfg.ConnConfig.Host, cfg.ConnConfig.Port),
			Path: "/" + cfg.ConnConfig.Database}
	}
	base := url.URL{Scheme: "postgres", Host: u.Host, Path: "/" + cfg.ConnConfig.Database}
	q := url.Values{}
	if ssl := u.Query().Get("sslmode"); ssl != "" {
		q.Set("sslmode", ssl)
	}
	base.RawQuery = q.Encode()
	return &Postgres{pool: pool, mig: mig, secret: secret, base: base, db: cfg.ConnConfig.Database}, nil
}

// Close closes the connection pool.
func (p *Postgres) Close() { p.pool.Close() }

// Name is "postgres".
func (p *Postgres) Name() string { return PlaneName }

// Version is the version of the migrations new sandboxes are built with.
func (p *Postgres) Version() string { return p.mig.Version }

// execer is what runs statements: the pool or a transaction.
type execer interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// ddl has the server build a statement with format() (%I quotes identifiers, %L literals)
// and runs it: DDL takes no bind parameters, and this keeps quoting out of Go strings.
func ddl(ctx context.Context, db execer, format string, args ...string) error {
	params := make([]any, 0, len(args)+1)
	params = append(params, format)
	ph := make([]string, len(args))
	for i, a := range args {
		params = append(params, a)
		ph[i] = fmt.Sprintf("$%d::text", i+2)
	}
	var stmt string
	q := "SELECT format($1::text"
	if len(ph) > 0 {
		q += ", " + strings.Join(ph, ", ")
	}
	if err := db.QueryRow(ctx, q+")", params...).Scan(&stmt); err != nil {
		return err
	}
	_, err := db.Exec(ctx, stmt)
	return err
}

// Provision creates the sandbox's role and schema and applies the migrations as that role,
// all in one transaction: a failure leaves nothing behind.
func (p *Postgres) Provision(ctx context.Context, r sandbox.Record) error {
	res := r.Resources
	tx, err := p.pool.Begin(ctx)
	if err != nil {
		return err
	}
	defer func() { _ = tx.Rollback(context.WithoutCancel(ctx)) }()
	steps := []struct {
		format string
		args   []string
	}{
		{"CREATE ROLE %I LOGIN NOINHERIT CONNECTION LIMIT 50 PASSWORD %L", []string{res.Role, p.secret.Password(PlaneName, r.ID)}},
		{"CREATE SCHEMA %I AUTHORIZATION %I", []string{res.Schema, res.Role}},
		{"ALTER ROLE %I SET search_path = %I", []string{res.Role, res.Schema}},
		{"REVOKE ALL ON SCHEMA %I FROM PUBLIC", []string{res.Schema}},
		{"SET LOCAL ROLE %I", []string{res.Role}},
		{"SET LOCAL search_path = %I", []string{res.Schema}},
	}
	for _, s := range steps {
		if err := ddl(ctx, tx, s.format, s.args...); err != nil {
			return fmt.Errorf("%s: %w", strings.Fields(s.format)[0]+" "+strings.Fields(s.format)[1], err)
		}
	}
	for _, m := range p.mig.List {
		if _, err := tx.Exec(ctx, m.SQL); err != nil {
			return fmt.Errorf("migration %s: %w", m.Name, err)
		}
	}
	if _, err := tx.Exec(ctx, `CREATE TABLE gaib_schema_version (version text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())`); err != nil {
		return err
	}
	if _, err := tx.Exec(ctx, `INSERT INTO gaib_schema_version (version) VALUES ($1)`, p.mig.Version); err != nil {
		return err
	}
	return tx.Commit(ctx)
}

// Teardown ends the role's sessions and drops the schema (with everything in it) and the
// role. Dropping what is already gone succeeds.
func (p *Postgres) Teardown(ctx context.Context, r sandbox.Record) error {
	res := r.Resources
	exists, err := p.roleExists(ctx, res.Role)
	if err != nil {
		return err
	}
	if exists {
		// No new sessions, then end the current ones.
		if err := ddl(ctx, p.pool, "ALTER ROLE %I NOLOGIN", res.Role); err != nil {
			return err
		}
		if _, err := p.pool.Exec(ctx, `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = $1 AND pid <> pg_backend_pid()`, res.Role); err != nil {
			return err
		}
	}
	tx, err := p.pool.Begin(ctx)
	if err != nil {
		return err
	}
	defer func() { _ = tx.Rollback(context.WithoutCancel(ctx)) }()
	if err := ddl(ctx, tx, "DROP SCHEMA IF EXISTS %I CASCADE", res.Schema); err != nil {
		return err
	}
	if exists {
		if err := ddl(ctx, tx, "DROP OWNED BY %I CASCADE", res.Role); err != nil {
			return err
		}
		if err := ddl(ctx, tx, "DROP ROLE IF EXISTS %I", res.Role); err != nil {
			return err
		}
	}
	return tx.Commit(ctx)
}

func (p *Postgres) roleExists(ctx context.Context, role string) (bool, error) {
	var n int
	err := p.pool.QueryRow(ctx, `SELECT count(*) FROM pg_roles WHERE rolname = $1`, role).Scan(&n)
	return n > 0, err
}

// Check queries the database: the schema exists and is owned by the role, the role can log
// in, and the schema was built with the migration version the record names.
func (p *Postgres) Check(ctx context.Context, r sandbox.Record) error {
	res := r.Resources
	var owner string
	err := p.pool.QueryRow(ctx, `SELECT pg_get_userbyid(nspowner) FROM pg_namespace WHERE nspname = $1`, res.Schema).Scan(&owner)
	if errors.Is(err, pgx.ErrNoRows) {
		return fmt.Errorf("schema %s does not exist", res.Schema)
	}
	if err != nil {
		return err
	}
	if owner != res.Role {
		return fmt.Errorf("schema %s is owned by %s, not %s", res.Schema, owner, res.Role)
	}
	var login bool
	err = p.pool.QueryRow(ctx, `SELECT rolcanlogin FROM pg_roles WHERE rolname = $1`, res.Role).Scan(&login)
	if errors.Is(err, pgx.ErrNoRows) {
		return fmt.Errorf("role %s does not exist", res.Role)
	}
	if err != nil {
		return err
	}
	if !login {
		return fmt.Errorf("role %s cannot log in", res.Role)
	}
	var version string
	err = p.pool.QueryRow(ctx, fmt.Sprintf(`SELECT version FROM %s.gaib_schema_version`, pgx.Identifier{res.Schema}.Sanitize())).Scan(&version)
	if err != nil {
		return fmt.Errorf("schema %s has no migration version: %w", res.Schema, err)
	}
	if r.MigrationVersion != "" && !strings.Contains(r.MigrationVersion, version) {
		return fmt.Errorf("schema %s was built with migrations %s, the record says %s", res.Schema, version, r.MigrationVersion)
	}
	return nil
}

// URL is the connection URL of the sandbox's role (search_path set to its schema), in a
// form both libpq (psql) and pgx accept.
func (p *Postgres) URL(r sandbox.Record) string {
	u := p.base
	u.User = url.UserPassword(r.Resources.Role, p.secret.Password(PlaneName, r.ID))
	q := u.Query()
	q.Set("options", "-csearch_path="+r.Resources.Schema)
	u.RawQuery = q.Encode()
	return u.String()
}

// Env is SANDBOX_SCHEMA and DATABASE_URL.
func (p *Postgres) Env(r sandbox.Record) []sandbox.EnvVar {
	return []sandbox.EnvVar{
		{Name: "SANDBOX_SCHEMA", Value: r.Resources.Schema},
		{Name: "DATABASE_URL", Value: p.URL(r)},
	}
}

// Inventory returns the ids of every sandbox that has a schema or a role here, with what
// it has. Names are parsed exactly (sandbox.IDFromResource), never pattern-matched.
func (p *Postgres) Inventory(ctx context.Context) (map[string][]string, error) {
	out := map[string][]string{}
	for _, q := range []struct{ kind, sql string }{
		{"schema", `SELECT nspname FROM pg_namespace`},
		{"role", `SELECT rolname FROM pg_roles`},
	} {
		rows, err := p.pool.Query(ctx, q.sql)
		if err != nil {
			return nil, err
		}
		names, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			return nil, err
		}
		for _, n := range names {
			if id, ok := sandbox.IDFromResource(n); ok && n == sandbox.ResourcesFor(id).Schema {
				out[id] = append(out[id], q.kind)
			}
		}
	}
	return out, nil
}
