package node

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/arrakis/gaib/embedded"
	"github.com/arrakis/gaib/keyspace"
	"github.com/arrakis/gaib/sandbox"
	"github.com/arrakis/gaib/schema"
	"github.com/arrakis/gaib/services"
)

// planeSet is what planes opened.
type planeSet struct {
	planes []services.Plane
	notes  []string
	// maxSandboxes is how many sandboxes the Postgres and Redis planes have connections
	// for (0: neither plane, no limit from them).
	maxSandboxes int
}

// planes opens the Postgres and Redis planes: the URLs given, else managed local servers
// from the installed binaries; a missing binary disables that plane with one line saying
// what to install. stop closes and stops everything opened.
func (c *Config) planes(ctx context.Context, secret sandbox.Secret, stderr io.Writer) (ps planeSet, stop func(), err error) {
	var closers []func()
	stop = func() {
		for i := len(closers) - 1; i >= 0; i-- {
			closers[i]()
		}
	}
	defer func() {
		if err != nil {
			stop()
		}
	}()
	if !c.NoPostgres {
		pgURL, where, err := managed("postgres", "postgresql", c.Postgres, &closers, func() (string, func(), error) {
			dir := embedded.PostgresDir(c.DataDir)
			if err := c.bindManaged(dir, stderr); err != nil {
				return "", nil, err
			}
			pg, err := embedded.StartPostgres(embedded.PostgresOptions{Dir: dir, BinDir: c.PostgresBin})
			if err != nil {
				return "", nil, err
			}
			return pg.AdminURL(), pg.Stop, nil
		})
		if err != nil {
			return ps, stop, err
		}
		if pgURL != "" {
			mig := schema.DefaultMigrations()
			if c.SchemaMigrations != "" {
				if mig, err = schema.LoadMigrations(c.SchemaMigrations); err != nil {
					return ps, stop, err
				}
			}
			p, err := schema.Open(ctx, pgURL, mig, secret,
				schema.WithConnectionLimit(c.ConnectionLimit), schema.WithReservedConnections(c.ReservedConnections))
			if err != nil {
				return ps, stop, err
			}
			closers = append(closers, p.Close)
			if ps.maxSandboxes, err = p.MaxSandboxes(ctx); err != nil {
				return ps, stop, fmt.Errorf("postgres max_connections: %w", err)
			}
			ps.planes = append(ps.planes, p)
			ps.notes = append(ps.notes, fmt.Sprintf("postgres %s (migrations %s)", where, mig.Version))
		}
	}
	if !c.NoRedis {
		redisURL, where, err := managed("redis", "redis-server", c.Redis, &closers, func() (string, func(), error) {
			dir := embedded.RedisDir(c.DataDir)
			if err := c.bindManaged(dir, stderr); err != nil {
				return "", nil, err
			}
			r, err := embedded.StartRedis(embedded.RedisOptions{Dir: dir, Binary: c.RedisServer,
				MaxMemory: c.RedisMaxMemory, MaxMemoryPolicy: c.RedisMaxMemoryPolicy})
			if err != nil {
				return "", nil, err
			}
			return r.URL(), r.Stop, nil
		})
		if err != nil {
			return ps, stop, err
		}
		if redisURL != "" {
			// The managed server has an ACL file: persist users there. The watchdog holds
			// each sandbox to its clients and memory; the memory budget shares the server
			// among as many sandboxes as the mesh will hold.
			hint, _ := c.maxSandboxes(ps.maxSandboxes)
			r, err := keyspace.Open(ctx, redisURL, secret, where == "managed", keyspace.WithClientLimit(c.RedisClientLimit),
				keyspace.WithMemoryBudget(c.RedisSandboxMemory), keyspace.WithMaxSandboxes(hint), keyspace.WithWatchdog(keyspace.DefaultWatchInterval))
			if err != nil {
				return ps, stop, err
			}
			closers = append(closers, func() { _ = r.Close() })
			// The sandboxes' client limits together stay under the server's maxclients.
			fits := r.MaxSandboxes()
			if fits == 0 {
				return ps, stop, fmt.Errorf("redis: its maxclients leaves no room for a sandbox at --redis-client-limit %d", r.ClientLimit())
			}
			if ps.maxSandboxes == 0 || fits < ps.maxSandboxes {
				ps.maxSandboxes = fits
			}
			ps.planes = append(ps.planes, r)
			ps.notes = append(ps.notes, fmt.Sprintf("redis %s (%.1f MiB, %d clients per sandbox)", where, float64(r.MemoryBudget())/(1<<20), r.ClientLimit()))
		}
	}
	return ps, stop, nil
}

// managed returns url when the user gave one ("external"), else starts the managed server
// ("managed") and registers its stop in closers. A missing binary stops serve with what to
// install: a mesh whose sandboxes silently lack a plane would only fail later.
func managed(plane, pkg, url string, closers *[]func(), start func() (string, func(), error)) (string, string, error) {
	if url != "" {
		return url, "external", nil
	}
	url, stop, err := start()
	switch {
	case errors.Is(err, embedded.ErrNotInstalled):
		return "", "", fmt.Errorf("the %s plane cannot start: %w. Install it (sudo apt-get install %s, or ./scripts/setup, which installs every server gaib needs), "+
			"point --%s (or GAIB_%s_URL) at a server, or run without it with --no-%s", plane, err, pkg, plane, strings.ToUpper(plane), plane)
	case err != nil:
		return "", "", fmt.Errorf("managed %s: %w", plane, err)
	}
	*closers = append(*closers, stop)
	return url, "managed", nil
}

// bindManaged ties a managed server's directory outside the data dir to the data dir (see
// embedded.BindManagedDir) and says when it removed one left by an earlier data dir.
func (c *Config) bindManaged(dir string, stderr io.Writer) error {
	removed, err := embedded.BindManagedDir(c.DataDir, dir)
	if removed != "" {
		fmt.Fprintf(stderr, "gaib: removed %s: it belonged to an earlier data dir at %s\n", removed, c.DataDir)
	}
	return err
}
