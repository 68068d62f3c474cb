package schema

import (
	"context"
	"fmt"
	"log/slog"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/arrakis/gaib/sandbox"
)

// PlaneName is the name of the Postgres plane in health checks and password derivation.
const PlaneName = "postgres"

// adminSearchPath is the search_path of every admin session: catalog names only, so no
// unqualified name can resolve to an object a tenant created (pg_temp last, where it can
// shadow nothing; it is the admin's own anyway).
const adminSearchPath = "pg_catalog, pg_temp"

// Defaults of the options.
const (
	// DefaultConnectionLimit is each sandbox role's CONNECTION LIMIT.
	DefaultConnectionLimit = 10
	// DefaultReservedConnections is how many of the server's connections MaxSandboxes
	// leaves to everything that is not a sandbox: gaib's own pool (16) and an operator.
	DefaultReservedConnections = 20
	// poolSize is the admin pool's size.
	poolSize = 16
	// loginTimeout bounds a login as a sandbox role (migrations, health) when the caller's
	// context has no deadline.
	loginTimeout = 10 * time.Second
)

// Option configures Open.
type Option func(*options)

type options struct {
	connLimit, reserved int
}

// WithConnectionLimit sets each sandbox role's CONNECTION LIMIT (default
// DefaultConnectionLimit), so one sandbox cannot take every connection of the server.
func WithConnectionLimit(n int) Option { return func(o *options) { o.connLimit = n } }

// WithReservedConnections sets how many of the server's connections MaxSandboxes keeps for
// what is not a sandbox (default DefaultReservedConnections): raise it by 16 per
// additional gaib instance.
func WithReservedConnections(n int) Option { return func(o *options) { o.reserved = n } }

// Postgres provisions sandbox schemas and roles in one database.
type Postgres struct {
	pool    *pgxpool.Pool
	mig     Migrations
	secret  sandbox.Secret
	base    url.URL // host, port, database and sslmode for the sandboxes' URLs
	db      string
	opts    options
	version int // server_version_num
}

// Open connects to the database at adminURL as a role that has CREATEROLE and owns the
// database (it need not, and should not, be a superuser), and prepares the database:
// CONNECT and TEMPORARY are taken from PUBLIC (each sandbox role gets them back), CREATE
// on schema public too, and the admin-owned schema "gaib" holds gaib's own bookkeeping.
func Open(ctx context.Context, adminURL string, mig Migrations, secret sandbox.Secret, opt ...Option) (*Postgres, error) {
	o := options{connLimit: DefaultConnectionLimit, reserved: DefaultReservedConnections}
	for _, f := range opt {
		f(&o)
	}
	if o.connLimit < 1 || o.reserved < 0 {
		return nil, fmt.Errorf("postgres: connection limit %d and reserved connections %d must be positive", o.connLimit, o.reserved)
	}
	cfg, err := pgxpool.ParseConfig(adminURL)
	if err != nil {
		return nil, fmt.Errorf("postgres url: %w", err)
	}
	cfg.MaxConns = poolSize
	// Set after connecting, so that nothing in the URL (options=-csearch_path=…) or in the
	// role's defaults can put another schema on the admin's path.
	cfg.AfterConnect = func(ctx context.Context, c *pgx.Conn) error {
		_, err := c.Exec(ctx, "SET search_path = "+adminSearchPath)
		return err
	}
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
	p := &Postgres{pool: pool, mig: mig, secret: secret, base: base, db: cfg.ConnConfig.Database, opts: o}
	if err := p.prepare(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("postgres: %w", err)
	}
	return p, nil
}

// prepare checks the admin role and hardens the database, once per Open (serialized by an
// advisory lock across gaib instances).
func (p *Postgres) prepare(ctx context.Context) error {
	tx, err := p.pool.Begin(ctx)
	if err != nil {
		return err
	}
	defer func() { _ = tx.Rollback(context.WithoutCancel(ctx)) }()
	var super, createRole bool
	var admin string
	err = tx.QueryRow(ctx, `SELECT rolname, rolsuper, rolcreaterole FROM pg_catalog.pg_roles WHERE rolname = CURRENT_USER`).
		Scan(&admin, &super, &createRole)
	if err != nil {
		return err
	}
	switch {
	case super:
		slog.Warn("the postgres plane's admin role is a superuser; a role with CREATEROLE that owns the database is enough", "role", admin)
	case !createRole:
		return fmt.Errorf("role %s may not create roles: the plane's admin role needs CREATEROLE", admin)
	}
	// Where PUBLIC may still take advisory locks (an external Postgres), a tenant can hold
	// this key: fail in time and say so rather than wait for ever.
	if _, err := tx.Exec(ctx, `SET LOCAL lock_timeout = '30s'`); err != nil {
		return err
	}
	if _, err := tx.Exec(ctx, `SELECT pg_catalog.pg_advisory_xact_lock(7072616962)`); err != nil {
		return fmt.Errorf("advisory lock 7072616962, which serializes gaib instances' start (role %s needs EXECUTE on pg_advisory_xact_lock(bigint); "+
			"where PUBLIC may take advisory locks, a sandbox's session can hold it): %w", admin, err)
	}
	if _, err := tx.Exec(ctx, `CREATE SCHEMA IF NOT EXISTS gaib`); err != nil {
		return fmt.Errorf("schema gaib (the admin role needs CREATE on database %s, e.g. by owning it): %w", p.db, err)
	}
	var owner string
	if err := tx.QueryRow(ctx, `SELECT pg_catalog.pg_get_userbyid(nspowner) FROM pg_catalog.pg_namespace WHERE nspname = 'gaib'`).Scan(&owner); err != nil {
		return err
	}
	if owner != admin {
		return fmt.Errorf("schema gaib is owned by %s, not by the admin role %s: refusing to keep gaib's records there", owner, admin)
	}
	var publicConnect, publicCreate, publicAdvisory bool
	err = tx.QueryRow(ctx, `SELECT
		pg_catalog.has_database_privilege('public', pg_catalog.current_database(), 'CONNECT')
			OR pg_catalog.has_database_privilege('public', pg_catalog.current_database(), 'TEMPORARY'),
		COALESCE(pg_catalog.has_schema_privilege('public', (SELECT oid FROM pg_catalog.pg_namespace WHERE nspname = 'public'), 'CREATE'), false),
		pg_catalog.has_function_privilege('public', 'pg_catalog.pg_advisory_lock(bigint)', 'EXECUTE'),
		pg_catalog.current_setting('server_version_num')::integer`).
		Scan(&publicConnect, &publicCreate, &publicAdvisory, &p.version)
	if err != nil {
		return err
	}
	if publicAdvisory {
		// Only the functions' owner, a superuser, can take them away (the managed cluster
		// does); the admin role cannot.
		slog.Warn("sandboxes share this database's advisory locks: one can block another's, or gaib's start; "+
			"as a superuser, REVOKE EXECUTE ON the pg_catalog.pg_*advisory* functions FROM PUBLIC and GRANT pg_advisory_xact_lock(bigint) to the admin role",
			"database", p.db)
	}
	steps := []struct {
		when   bool
		format string
		args   []string
		hint   string
	}{
		{true, "REVOKE ALL ON SCHEMA gaib FROM PUBLIC", nil, ""},
		{true, `CREATE TABLE IF NOT EXISTS gaib.sandbox_versions (id text PRIMARY KEY, version text NOT NULL,
			applied_at timestamptz NOT NULL DEFAULT pg_catalog.now())`, nil, ""},
		{publicConnect, "REVOKE CONNECT, TEMPORARY ON DATABASE %I FROM PUBLIC", []string{p.db}, "the admin role must own the database"},
		{publicCreate, "REVOKE CREATE ON SCHEMA public FROM PUBLIC", nil, "the admin role must own the database's schema public"},
	}
	for _, s := range steps {
		if !s.when {
			continue
		}
		if err := ddl(ctx, tx, s.format, s.args...); err != nil {
			return fmt.Errorf("%s (%s): %w", strings.Join(strings.Fields(s.format)[:3], " "), s.hint, err)
		}
	}
	return tx.Commit(ctx)
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
	q := "SELECT pg_catalog.format($1::text"
	if len(ph) > 0 {
		q += ", " + strings.Join(ph, ", ")
	}
	if err := db.QueryRow(ctx, q+")", params...).Scan(&stmt); err != nil {
		return err
	}
	_, err := db.Exec(ctx, stmt)
	return err
}

// MaxSandboxes is how many sandboxes the server holds when each may use its whole
// connection limit: (max_connections - the server's reserved connections - the reserved
// option) / the connection limit, at least 0.
func (p *Postgres) MaxSandboxes(ctx context.Context) (int, error) {
	var maxConns, reserved int
	err := p.pool.QueryRow(ctx, `SELECT pg_catalog.current_setting('max_connections')::integer,
		pg_catalog.current_setting('superuser_reserved_connections')::integer
		+ COALESCE(pg_catalog.current_setting('reserved_connections', true)::integer, 0)`).Scan(&maxConns, &reserved)
	if err != nil {
		return 0, err
	}
	return max(0, (maxConns-reserved-p.opts.reserved)/p.opts.connLimit), nil
}

// ConnectionLimit is each sandbox role's CONNECTION LIMIT.
func (p *Postgres) ConnectionLimit() int { return p.opts.connLimit }

// URL is the connection URL of the sandbox's role (search_path set to its schema), in a
// form both libpq (psql) and pgx accept; empty for a record whose id is not an id.
func (p *Postgres) URL(r sandbox.Record) string {
	res, err := sandbox.ResourcesOf(r.ID)
	if err != nil {
		return ""
	}
	u := p.base
	u.User = url.UserPassword(res.Role, p.secret.Password(PlaneName, r.ID))
	q := u.Query()
	q.Set("options", "-csearch_path="+res.Schema)
	u.RawQuery = q.Encode()
	return u.String()
}

// Env is SANDBOX_SCHEMA and DATABASE_URL; nothing for a record whose id is not an id.
func (p *Postgres) Env(r sandbox.Record) []sandbox.EnvVar {
	res, err := sandbox.ResourcesOf(r.ID)
	if err != nil {
		return nil
	}
	return []sandbox.EnvVar{
		{Name: "SANDBOX_SCHEMA", Value: res.Schema},
		{Name: "DATABASE_URL", Value: p.URL(r)},
	}
}

// loginAs opens a session as the sandbox's own role, with the URL `connect` hands out.
func (p *Postgres) loginAs(ctx context.Context, r sandbox.Record) (*pgx.Conn, error) {
	cfg, err := pgx.ParseConfig(p.URL(r))
	if err != nil {
		return nil, err
	}
	if _, ok := ctx.Deadline(); !ok && cfg.ConnectTimeout == 0 {
		cfg.ConnectTimeout = loginTimeout
	}
	return pgx.ConnectConfig(ctx, cfg)
}

// Inventory returns the ids of every sandbox that has a schema or a role here, with what
// it has. Names are parsed exactly (sandbox.IDFromResource), never pattern-matched.
func (p *Postgres) Inventory(ctx context.Context) (map[string][]string, error) {
	out := map[string][]string{}
	for _, q := range []struct{ kind, sql string }{
		{"schema", `SELECT nspname::text FROM pg_catalog.pg_namespace`},
		{"role", `SELECT rolname::text FROM pg_catalog.pg_roles`},
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

// limitArg is the connection limit as a format() argument (%s: it is a number).
func (p *Postgres) limitArg() string { return strconv.Itoa(p.opts.connLimit) }
