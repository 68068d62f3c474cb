package cli

import (
	"context"
	"fmt"
	"log/slog"
	neturl "net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/arrakis/gaib/embedded"
	gjs "github.com/arrakis/gaib/jetstream"
	"github.com/arrakis/gaib/sandbox"
	"github.com/arrakis/gaib/services"
)

// ServeCmd is `gaib serve`.
type ServeCmd struct {
	DataDir          string   `env:"GAIB_DATA_DIR" placeholder:"DIR" help:"Where the embedded NATS (and managed databases) keep their data (default $XDG_DATA_HOME/gaib or ~/.local/share/gaib)."`
	Listen           string   `default:"127.0.0.1:4222" help:"Address of the embedded NATS server (port 0: a free port)."`
	Workers          int      `default:"4" help:"Instances of each micro service (handlers of one instance run one at a time)."`
	Replicas         int      `default:"1" help:"Replicas of every stream and bucket (3 on a production cluster)."`
	MaxPerOwner      int      `default:"5" help:"Sandboxes one owner may have at once."`
	DefaultTTL       string   `name:"default-ttl" default:"24h" help:"TTL of a sandbox created without --ttl."`
	MinTTL           string   `name:"min-ttl" default:"1m" help:"Shortest TTL accepted."`
	MaxTTL           string   `name:"max-ttl" default:"168h" help:"Longest TTL accepted (also the most time left after extend)."`
	Retention        string   `default:"24h" help:"How long destroyed sandboxes stay visible to list --all."`
	SweepInterval    string   `default:"30s" help:"Time between cleanup sweeps (expiry, resumed destroys)."`
	Only             []string `enum:"sandbox,router,cleanup" placeholder:"PART" help:"Run only these parts (sandbox, router, cleanup; repeatable)."`
	Postgres         string   `env:"DATABASE_URL" placeholder:"URL" help:"Postgres to create sandbox schemas and roles in, as a role that may create roles (default: a managed local cluster from the installed postgresql binaries)."`
	Redis            string   `env:"REDIS_URL" placeholder:"URL" help:"Redis to create sandbox ACL users in, as an admin user (default: a managed local redis-server)."`
	SchemaMigrations string   `type:"existingdir" placeholder:"DIR" help:"Apply the *.sql files of DIR (the application's migrations) to each sandbox schema instead of the built-in tables."`
	MetricsListen    string   `default:"127.0.0.1:9464" placeholder:"ADDR" help:"Serve Prometheus metrics on http://ADDR/metrics (empty: off)."`
	PostgresBin      string   `env:"GAIB_POSTGRES_BIN" placeholder:"DIR" help:"Directory of initdb and postgres for the managed cluster (default: /usr/lib/postgresql/<newest>/bin)."`
	RedisServer      string   `env:"GAIB_REDIS_SERVER" placeholder:"PATH" help:"redis-server binary for the managed server (default: /usr/bin/redis-server)."`
	NoPostgres       bool     `help:"Run without the Postgres plane."`
	NoRedis          bool     `help:"Run without the Redis plane."`
	Debug            bool     `help:"Debug logs, including the embedded NATS server's."`
}

// settings are the parsed duration flags.
type settings struct {
	ttl              sandbox.TTLBounds
	retention, sweep time.Duration
}

func (c *ServeCmd) settings() (settings, error) {
	var s settings
	for _, f := range []struct {
		name string
		val  string
		dst  *time.Duration
	}{
		{"--default-ttl", c.DefaultTTL, &s.ttl.Default}, {"--min-ttl", c.MinTTL, &s.ttl.Min},
		{"--max-ttl", c.MaxTTL, &s.ttl.Max}, {"--retention", c.Retention, &s.retention},
		{"--sweep-interval", c.SweepInterval, &s.sweep},
	} {
		d, err := sandbox.ParseTTL(f.val)
		if err != nil {
			return s, sandbox.Errorf(sandbox.CodeInvalidRequest, "%s: %v", f.name, err)
		}
		*f.dst = d
	}
	if s.ttl.Min > s.ttl.Max || s.ttl.Default < s.ttl.Min || s.ttl.Default > s.ttl.Max {
		return s, sandbox.Errorf(sandbox.CodeInvalidRequest, "ttl flags must satisfy --min-ttl <= --default-ttl <= --max-ttl")
	}
	return s, nil
}

// defaultDataDir is $XDG_DATA_HOME/gaib, else ~/.local/share/gaib.
func defaultDataDir() (string, error) {
	if d := os.Getenv("XDG_DATA_HOME"); d != "" {
		return filepath.Join(d, "gaib"), nil
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", fmt.Errorf("no home directory for the data dir (set --data-dir): %w", err)
	}
	return filepath.Join(home, ".local", "share", "gaib"), nil
}

// connectNATS connects to --server/NATS_URL/--context, or starts the embedded server when
// none is given. stop closes the connection and stops the embedded server.
func (c *ServeCmd) connectNATS(g *Globals) (nc *nats.Conn, url, where string, stop func(), err error) {
	url, opts, err := g.connection()
	if err != nil {
		return nil, "", "", nil, err
	}
	where, shutdown := "external", func() {}
	if url == "" {
		ns, err := embedded.StartNATS(embedded.NATSOptions{
			StoreDir: filepath.Join(c.DataDir, "nats"), Listen: c.Listen, Debug: c.Debug,
		})
		if err != nil {
			return nil, "", "", nil, sandbox.Errorf(sandbox.CodeUnavailable, "%v", err)
		}
		url, where, shutdown = ns.ClientURL(), "embedded, data in "+c.DataDir, ns.Shutdown
	}
	nc, err = nats.Connect(url, append(opts, nats.Name("gaib-serve"), nats.MaxReconnects(-1))...)
	if err != nil {
		shutdown()
		return nil, "", "", nil, unreachable(url, err)
	}
	return nc, url, where, func() { nc.Close(); shutdown() }, nil
}

// withoutUserinfo strips credentials from a (comma-separated) NATS URL list: `connect` hands
// the URL to bot workers, who must never receive the mesh's own credentials.
func withoutUserinfo(urls string) string {
	parts := strings.Split(urls, ",")
	for i, p := range parts {
		if u, err := neturl.Parse(strings.TrimSpace(p)); err == nil && u.User != nil {
			u.User = nil
			parts[i] = u.String()
		}
	}
	return strings.Join(parts, ",")
}

// Run starts the mesh and blocks until ctx ends (SIGINT/SIGTERM), then stops services,
// drains the connection and stops the embedded server, in that order.
func (c *ServeCmd) Run(ctx context.Context, g *Globals, o *IO) error {
	set, err := c.settings()
	if err != nil {
		return err
	}
	level := slog.LevelInfo
	if c.Debug {
		level = slog.LevelDebug
	}
	log := slog.New(slog.NewTextHandler(o.Stderr, &slog.HandlerOptions{Level: level}))
	if c.DataDir == "" {
		if c.DataDir, err = defaultDataDir(); err != nil {
			return err
		}
	}
	if err := os.MkdirAll(c.DataDir, 0o700); err != nil {
		return fmt.Errorf("data dir: %w", err)
	}

	nc, url, where, stopNATS, err := c.connectNATS(g)
	if err != nil {
		return err
	}
	defer stopNATS()
	js, err := jetstream.New(nc)
	if err != nil {
		return err
	}
	store, err := gjs.Open(ctx, js, gjs.Config{Replicas: c.Replicas})
	if err != nil {
		return fmt.Errorf("jetstream: %w", err)
	}
	secret, err := loadSecret(c.DataDir)
	if err != nil {
		return err
	}
	planes, notes, stopPlanes, err := c.planes(ctx, secret, o)
	if err != nil {
		return err
	}
	defer stopPlanes()
	metrics := services.NewMetrics()
	metricsURL, stopMetrics, err := serveMetrics(c.MetricsListen, metrics, log)
	if err != nil {
		// Metrics are for operators; a busy port must not stop a developer's mesh.
		fmt.Fprintln(o.Stderr, "gaib: metrics disabled:", err)
	} else {
		defer stopMetrics()
	}
	mesh, err := services.StartMesh(ctx, nc, store, services.MeshConfig{
		Workers: c.Workers, Only: c.Only, SweepInterval: set.sweep, Retention: set.retention, Metrics: metrics,
		Sandbox: services.SandboxConfig{MaxPerOwner: c.MaxPerOwner, TTL: set.ttl, NATSURL: withoutUserinfo(url), Planes: planes},
	}, log)
	if err != nil {
		return err
	}
	parts := "sandbox, router, cleanup"
	if len(c.Only) > 0 {
		parts = strings.Join(c.Only, ", ")
	}
	if len(notes) == 0 {
		notes = []string{"no database planes"}
	}
	if metricsURL != "" {
		notes = append(notes, "metrics on "+metricsURL)
	}
	writeLine(o.Stdout, "gaib ready on %s (%s); services: %s; %d workers; %s. Ctrl-C to stop.",
		url, where, parts, c.Workers, strings.Join(notes, ", "))

	<-ctx.Done()
	log.Info("shutting down")
	if err := mesh.Stop(); err != nil {
		log.Warn("stopping services", "err", err)
	}
	if err := nc.Drain(); err != nil {
		log.Warn("draining connection", "err", err)
	}
	for deadline := time.Now().Add(10 * time.Second); !nc.IsClosed() && time.Now().Before(deadline); {
		time.Sleep(10 * time.Millisecond)
	}
	return nil
}
