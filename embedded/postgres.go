package embedded

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"
)

// PostgresOptions configure a managed Postgres cluster.
type PostgresOptions struct {
	// Dir holds the cluster (initdb'd on first start) and its socket. When the process runs
	// as root, Postgres runs as the "postgres" (else "nobody") user, who must be able to
	// reach Dir.
	Dir string
	// Port to listen on (loopback only); 0 reuses the port of the last start when free,
	// else picks a free one.
	Port int
	// Fast turns off durability (fsync) for throwaway test clusters.
	Fast bool
	// BinDir holds initdb and postgres; default: found with PostgresBinaries.
	BinDir string
}

// Postgres is a running managed Postgres server.
type Postgres struct {
	proc *process
	url  string
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

// StartPostgres initializes the cluster in o.Dir if needed, starts it on loopback and
// waits until it accepts connections. The superuser is "gaib" with a random password kept
// in Dir; URL returns a connection URL for it.
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
	if err := os.MkdirAll(filepath.Dir(o.Dir), 0o755); err != nil {
		return nil, err
	}
	if !accessible(filepath.Dir(o.Dir), as.uid) {
		return nil, fmt.Errorf("postgres runs as uid %d, which cannot reach %s: choose a data dir outside a private home directory", as.uid, o.Dir)
	}
	if err := os.MkdirAll(o.Dir, 0o700); err != nil {
		return nil, err
	}
	if err := os.Chown(o.Dir, as.uid, as.gid); err != nil {
		return nil, err
	}
	data, sock := filepath.Join(o.Dir, "data"), filepath.Join(o.Dir, "run")
	pwFile := filepath.Join(o.Dir, "superuser.password")
	if _, err := os.Stat(filepath.Join(data, "PG_VERSION")); err != nil {
		if err := initCluster(bin, as, data, pwFile); err != nil {
			return nil, err
		}
	}
	pw, err := os.ReadFile(pwFile)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(sock, 0o700); err != nil {
		return nil, err
	}
	if err := os.Chown(sock, as.uid, as.gid); err != nil {
		return nil, err
	}
	port := o.Port
	if port == 0 {
		if port, err = stablePort(filepath.Join(o.Dir, "port")); err != nil {
			return nil, err
		}
	}
	args := []string{"-D", data, "-k", sock, "-p", strconv.Itoa(port), "-c", "listen_addresses=127.0.0.1",
		"-c", "max_connections=300", "-c", "log_min_messages=warning"}
	if o.Fast {
		args = append(args, "-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off")
	}
	proc, err := start(as.command(filepath.Join(bin, "postgres"), args...))
	if err != nil {
		return nil, fmt.Errorf("start postgres: %w", err)
	}
	u := url.URL{Scheme: "postgres", User: url.UserPassword("gaib", string(pw)),
		Host: "127.0.0.1:" + strconv.Itoa(port), Path: "/postgres", RawQuery: "sslmode=disable"}
	pg := &Postgres{proc: proc, url: u.String()}
	err = proc.waitReady(60*time.Second, func(ctx context.Context) error {
		c, err := pgx.Connect(ctx, pg.url)
		if err != nil {
			return err
		}
		return c.Close(ctx)
	})
	if err != nil {
		return nil, fmt.Errorf("postgres: %w", err)
	}
	return pg, nil
}

func initCluster(bin string, as runAs, data, pwFile string) error {
	var raw [18]byte
	_, _ = rand.Read(raw[:])
	if err := os.WriteFile(pwFile, []byte(hex.EncodeToString(raw[:])), 0o600); err != nil {
		return err
	}
	// initdb reads the password as the server's user.
	tmp := filepath.Join(filepath.Dir(data), ".initdb.pw")
	if err := os.WriteFile(tmp, []byte(hex.EncodeToString(raw[:])), 0o600); err != nil {
		return err
	}
	defer os.Remove(tmp)
	if err := os.Chown(tmp, as.uid, as.gid); err != nil {
		return err
	}
	cmd := as.command(filepath.Join(bin, "initdb"), "-D", data, "-U", "gaib", "--pwfile", tmp,
		"--auth-local=scram-sha-256", "--auth-host=scram-sha-256", "-E", "UTF8", "--locale=C.UTF-8")
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("initdb: %v: %s", err, lastLines(string(out)))
	}
	return nil
}

// PostgresDir is where `gaib serve` keeps its managed cluster for a data dir:
// <dataDir>/postgres, unless the server must run as another user (gaib runs as root) who
// cannot reach the data dir (a private home directory); then /var/lib/gaib/postgres-<hash>.
func PostgresDir(dataDir string) string {
	dir := filepath.Join(dataDir, "postgres")
	as, err := unprivileged("postgres", "nobody")
	if err != nil || accessible(dataDir, as.uid) {
		return dir
	}
	sum := sha256.Sum256([]byte(dataDir))
	return filepath.Join("/var/lib/gaib", "postgres-"+hex.EncodeToString(sum[:6]))
}

// URL is the superuser's connection URL (database "postgres").
func (p *Postgres) URL() string { return p.url }

// Stop shuts the server down and waits for it.
func (p *Postgres) Stop() { p.proc.stop() }
