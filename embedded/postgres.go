package embedded

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// PostgresOptions configure a managed Postgres cluster.
type PostgresOptions struct {
	// Dir holds the cluster. Dir and the files gaib keeps there (superuser.password,
	// admin.password, port) belong to gaib's user, and only it may write in Dir; the data
	// directory Dir/data and the socket directory Dir/run belong to the user Postgres runs
	// as ("postgres", else "nobody", when gaib runs as root), who must be able to reach Dir.
	Dir string
	// Port to listen on (loopback only); 0 reuses the port of the last start when free,
	// else picks a free one.
	Port int
	// Fast turns off durability (fsync) for throwaway test clusters.
	Fast bool
	// BinDir holds initdb and postgres; default: found with PostgresBinaries.
	BinDir string
	// MaxConnections is the server's max_connections; default 500. The Postgres plane
	// derives how many sandboxes fit from it (schema.Postgres.MaxSandboxes).
	MaxConnections int
}

// The managed cluster's roles and database.
const (
	// SuperuserRole is initdb's superuser. gaib uses it only to bootstrap AdminRole and
	// AdminDatabase at each start (and tests to inspect).
	SuperuserRole = "gaib"
	// AdminRole is what the Postgres plane logs in as: CREATEROLE, owner of AdminDatabase,
	// not a superuser.
	AdminRole = "gaib_admin"
	// AdminDatabase holds the sandboxes' schemas. Nobody but its owner and the roles granted
	// CONNECT (each sandbox's) may connect to it, nor to "postgres" and "template1".
	AdminDatabase = "gaib"
)

// DefaultPostgresMaxConnections is the managed cluster's max_connections.
const DefaultPostgresMaxConnections = 500

// postgresTempFileLimit is the managed cluster's temp_file_limit: what one session may
// spill to disk at once (sorts, hashes, temporary tables' overflow), on a disk every sandbox
// shares. It is superuser-only, so a tenant cannot raise it; a sandbox at its connection
// limit (10) holds at most ten times as much, and only while its queries run.
const postgresTempFileLimit = "256MB"

// Postgres is a running managed Postgres server.
type Postgres struct {
	proc                   *process
	adminURL, superuserURL string
}

// PostgresBinaries returns the directory of the installed Postgres server binaries
// (Debian's postgresql package: /usr/lib/postgresql/<version>/bin), or ErrNotInstalled.
func PostgresBinaries() (string, error) {
	initdb, err := findBinary("/usr/lib/postgresql/*/bin/initdb", "/usr/local/pgsql/bin/initdb", "/usr/bin/initdb")
	if err != nil {
		return "", fmt.Errorf("postgres server binaries (initdb, postgres): %w (install Debian's postgresql package)", err)
	}
	return filepath.Dir(initdb), nil
}

// StartPostgres initializes the cluster in o.Dir if needed, starts it on loopback, waits
// until it accepts connections and bootstraps AdminRole and AdminDatabase as the superuser.
// Passwords are random, kept in o.Dir, readable by gaib's user only.
func StartPostgres(o PostgresOptions) (*Postgres, error) {
	bin := o.BinDir
	if bin == "" {
		var err error
		if bin, err = PostgresBinaries(); err != nil {
			return nil, err
		}
	} else if _, err := os.Stat(filepath.Join(bin, "initdb")); err != nil {
		return nil, fmt.Errorf("postgres server binaries in %s: %w (install Debian's postgresql package)", bin, ErrNotInstalled)
	}
	as, err := unprivileged("postgres", "nobody")
	if err != nil {
		return nil, err
	}
	if err := serverDir(o.Dir, as); err != nil {
		return nil, fmt.Errorf("postgres: %w", err)
	}
	data, sock := filepath.Join(o.Dir, "data"), filepath.Join(o.Dir, "run")
	for _, d := range []string{data, sock} {
		if err := ownDir(d, 0o700, as.owner); err != nil {
			return nil, fmt.Errorf("postgres: %w", err)
		}
	}
	superPW, err := superuserPassword(bin, as, o.Dir, data)
	if err != nil {
		return nil, fmt.Errorf("postgres: %w", err)
	}
	adminPW, err := secretFile(filepath.Join(o.Dir, "admin.password"))
	if err != nil {
		return nil, fmt.Errorf("postgres: %w", err)
	}
	port := o.Port
	if port == 0 {
		if port, err = stablePort(filepath.Join(o.Dir, "port")); err != nil {
			return nil, fmt.Errorf("postgres: %w", err)
		}
	}
	maxConns := o.MaxConnections
	if maxConns <= 0 {
		maxConns = DefaultPostgresMaxConnections
	}
	args := []string{"-D", data, "-k", sock, "-p", strconv.Itoa(port), "-c", "listen_addresses=127.0.0.1",
		"-c", "max_connections=" + strconv.Itoa(maxConns), "-c", "log_min_messages=warning",
		"-c", "temp_file_limit=" + postgresTempFileLimit,
		// No transaction outlives its session holding locks and VACUUM's horizon (the
		// default, said explicitly).
		"-c", "max_prepared_transactions=0"}
	if o.Fast {
		args = append(args, "-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off")
	}
	proc, err := start(as.command(filepath.Join(bin, "postgres"), args...))
	if err != nil {
		return nil, fmt.Errorf("start postgres: %w", err)
	}
	pg := &Postgres{proc: proc,
		adminURL:     pgURL(AdminRole, adminPW, port, AdminDatabase),
		superuserURL: pgURL(SuperuserRole, superPW, port, "postgres")}
	err = proc.waitReady(60*time.Second, func(ctx context.Context) error {
		c, err := pgx.Connect(ctx, pg.superuserURL)
		if err != nil {
			return err
		}
		return c.Close(ctx)
	})
	if err != nil {
		return nil, fmt.Errorf("postgres: %w", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := bootstrap(ctx, pg.superuserURL, adminPW); err != nil {
		proc.stop()
		return nil, fmt.Errorf("postgres bootstrap: %w", err)
	}
	return pg, nil
}

func pgURL(role, password string, port int, db string) string {
	u := url.URL{Scheme: "postgres", User: url.UserPassword(role, password),
		Host: "127.0.0.1:" + strconv.Itoa(port), Path: "/" + db, RawQuery: "sslmode=disable"}
	return u.String()
}

// superuserPassword returns the superuser's password, kept in dir, and initializes the
// cluster in data when it has not been.
func superuserPassword(bin string, as runAs, dir, data string) (string, error) {
	pwFile := filepath.Join(dir, "superuser.password")
	if _, err := os.Lstat(filepath.Join(data, "PG_VERSION")); err == nil {
		b, err := readOwnFile(pwFile)
		return string(b), err
	}
	pw, err := secretFile(pwFile)
	if err != nil {
		return "", err
	}
	// initdb reads the password as the server's user, from a file only it may read, in a
	// directory only we can write.
	tmp := filepath.Join(dir, ".initdb.pw")
	if err := os.Remove(tmp); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return "", err
	}
	if err := createFile(tmp, []byte(pw), 0o600, as.owner); err != nil {
		return "", err
	}
	defer os.Remove(tmp)
	cmd := as.command(filepath.Join(bin, "initdb"), "-D", data, "-U", SuperuserRole, "--pwfile", tmp,
		"--auth-local=scram-sha-256", "--auth-host=scram-sha-256", "-E", "UTF8", "--locale=C.UTF-8")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("initdb: %v: %s", err, lastLines(string(out)))
	}
	return pw, nil
}

// bootstrap makes AdminRole (CREATEROLE, never SUPERUSER, its password reset to the one in
// the admin.password file) the owner of AdminDatabase, takes CONNECT on every database
// but the sandboxes' own from PUBLIC (a sandbox role may connect to AdminDatabase only,
// once the plane grants it), and the advisory locks (lockAdvisory). It is idempotent and
// runs at every start.
func bootstrap(ctx context.Context, superuserURL, adminPW string) error {
	cfg, err := pgx.ParseConfig(superuserURL)
	if err != nil {
		return err
	}
	cfg.RuntimeParams["search_path"] = "pg_catalog, pg_temp"
	c, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return err
	}
	defer c.Close(ctx)
	var roleExists, dbExists bool
	err = c.QueryRow(ctx, `SELECT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = $1),
		EXISTS (SELECT FROM pg_catalog.pg_database WHERE datname = $2)`, AdminRole, AdminDatabase).Scan(&roleExists, &dbExists)
	if err != nil {
		return err
	}
	role, db := pgx.Identifier{AdminRole}.Sanitize(), pgx.Identifier{AdminDatabase}.Sanitize()
	verb := "CREATE"
	if roleExists {
		verb = "ALTER"
	}
	stmts := []string{verb + " ROLE " + role +
		" LOGIN CREATEROLE NOSUPERUSER NOCREATEDB NOREPLICATION NOBYPASSRLS PASSWORD " + quoteLiteral(adminPW)}
	if !dbExists {
		stmts = append(stmts, "CREATE DATABASE "+db+" OWNER "+role)
	}
	stmts = append(stmts, "ALTER DATABASE "+db+" OWNER TO "+role,
		"REVOKE ALL ON DATABASE postgres, template1, "+db+" FROM PUBLIC")
	for _, s := range stmts {
		if _, err := c.Exec(ctx, s); err != nil {
			return fmt.Errorf("%s: %w", strings.Join(strings.Fields(s)[:2], " "), err)
		}
	}
	// template1 too: databases created later (tests make one each) start without them.
	for _, db := range []string{AdminDatabase, "template1"} {
		if err := lockAdvisory(ctx, cfg, db); err != nil {
			return fmt.Errorf("advisory locks in %s: %w", db, err)
		}
	}
	return nil
}

// lockAdvisory takes EXECUTE on the advisory-lock functions from PUBLIC in database db
// and gives AdminRole the one the Postgres plane serializes its start with.
//
// Advisory locks have one key space per database, not per schema: with them a sandbox
// could block another's pg_advisory_lock(12345), take the key gaib's own start waits for,
// or fill the lock table every session of the cluster shares. Function privileges are
// per database and only the functions' owner (the superuser) may change them, so on an
// external Postgres this is the operator's to do. The cost: bot tooling that takes
// advisory locks (migration tools) gets "permission denied" in a sandbox.
//
// LISTEN/NOTIFY channels are per database as well, but they are statements, with no
// privilege to take: a sandbox can listen to and notify any channel in its database. That
// stays a known limit (docs/architecture.md, Security): bots should prefix their channel
// names with their schema; a database per sandbox would be the real fix.
func lockAdvisory(ctx context.Context, super *pgx.ConnConfig, db string) error {
	cfg := super.Copy()
	cfg.Database = db
	c, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return err
	}
	defer c.Close(ctx)
	_, err = c.Exec(ctx, `DO $$
	DECLARE f pg_catalog.regprocedure;
	BEGIN
		FOR f IN SELECT p.oid::pg_catalog.regprocedure FROM pg_catalog.pg_proc p
			WHERE p.pronamespace = 'pg_catalog'::pg_catalog.regnamespace AND p.proname ~ '^pg_(try_)?advisory_'
		LOOP
			EXECUTE pg_catalog.format('REVOKE EXECUTE ON FUNCTION %s FROM PUBLIC', f);
		END LOOP;
	END $$`)
	if err != nil {
		return err
	}
	_, err = c.Exec(ctx, "GRANT EXECUTE ON FUNCTION pg_catalog.pg_advisory_xact_lock(bigint) TO "+pgx.Identifier{AdminRole}.Sanitize())
	return err
}

// quoteLiteral quotes s as an SQL string literal (standard_conforming_strings is on).
func quoteLiteral(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

// PostgresDir is where `gaib serve` keeps its managed cluster for a data dir:
// <dataDir>/postgres, unless Postgres must run as another user (gaib runs as root) who
// cannot reach the data dir (a private home directory); then /var/lib/gaib/postgres-<hash>.
func PostgresDir(dataDir string) string { return managedDir(dataDir, "postgres", "postgres", "nobody") }

// AdminURL is AdminRole's connection URL to AdminDatabase: what the Postgres plane uses.
func (p *Postgres) AdminURL() string { return p.adminURL }

// SuperuserURL is the superuser's connection URL (database "postgres"), for bootstrap and
// for tests that inspect the whole cluster. Never hand it to the plane.
func (p *Postgres) SuperuserURL() string { return p.superuserURL }

// Stop shuts the server down and waits for it.
func (p *Postgres) Stop() { p.proc.stop() }
