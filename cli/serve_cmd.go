package cli

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/arrakis/gaib/node"
	"github.com/arrakis/gaib/sandbox"
)

// ServeCmd is `gaib serve`.
type ServeCmd struct {
	DataDir          string   `env:"GAIB_DATA_DIR" placeholder:"DIR" help:"Where the embedded NATS (and managed databases) keep their data (default $XDG_DATA_HOME/gaib or ~/.local/share/gaib)."`
	Listen           string   `env:"GAIB_LISTEN" default:"127.0.0.1:4222" help:"Address of the embedded NATS server (port 0: a free port)."`
	Workers          int      `env:"GAIB_WORKERS" default:"4" help:"Instances of each micro service (handlers of one instance run one at a time)."`
	Replicas         int      `env:"GAIB_REPLICAS" default:"1" help:"Replicas of every stream and bucket (3 on a production cluster)."`
	MaxPerOwner      int      `env:"GAIB_MAX_PER_OWNER" default:"5" help:"Sandboxes one owner may have at once."`
	MaxGuilds        int      `env:"GAIB_MAX_GUILDS_PER_SANDBOX" name:"max-guilds-per-sandbox" default:"10" help:"Guilds one sandbox may have."`
	MaxSandboxes     int      `env:"GAIB_MAX_SANDBOXES" default:"0" help:"Sandboxes the mesh holds at most (0: as many as Postgres has connections for at --sandbox-connection-limit each; -1: no limit)."`
	ConnLimit        int      `env:"GAIB_SANDBOX_CONNECTION_LIMIT" name:"sandbox-connection-limit" default:"10" help:"Postgres connections one sandbox may hold."`
	ReservedConns    int      `env:"GAIB_RESERVED_CONNECTIONS" name:"reserved-connections" default:"20" help:"Postgres connections kept out of the sandboxes' reach (gaib itself, other users)."`
	RedisMaxMemory   string   `env:"GAIB_REDIS_MAX_MEMORY" default:"256mb" help:"maxmemory of the managed redis-server (shared by every sandbox)."`
	RedisClients     int      `env:"GAIB_REDIS_CLIENT_LIMIT" name:"redis-client-limit" default:"50" help:"Redis connections one sandbox may hold (the newest beyond it are closed)."`
	RedisSandboxMem  string   `env:"GAIB_REDIS_SANDBOX_MEMORY" name:"redis-sandbox-memory" placeholder:"SIZE" help:"Bytes of keys one sandbox may store in Redis; past it, it may only read and delete (default: 3/4 of maxmemory divided by the sandboxes the mesh holds)."`
	RedisPolicy      string   `env:"GAIB_REDIS_MAXMEMORY_POLICY" name:"redis-maxmemory-policy" default:"noeviction" help:"What the managed redis-server does when full (noeviction: writes fail; an evicting policy would delete other tenants' keys)."`
	SandboxStream    string   `env:"GAIB_SANDBOX_STREAM_BYTES" name:"sandbox-stream-bytes" default:"64MiB" help:"Size limit of each sandbox's own event stream (its oldest events are dropped past it)."`
	MaxEventBytes    string   `env:"GAIB_MAX_EVENT_BYTES" name:"max-event-bytes" placeholder:"SIZE" help:"Largest gateway event the router forwards (default: the server's max payload); larger ones are dead-lettered (referenced on gaib.deadletter.>, kept in GATEWAY) and counted."`
	RouterWindow     string   `env:"GAIB_ROUTER_WINDOW_BYTES" name:"router-window-bytes" default:"16MiB" placeholder:"SIZE" help:"Bytes of events the router holds published but not yet stored (bounds its memory with huge events)."`
	OperatorKey      string   `name:"operator-signing-key" env:"GAIB_OPERATOR_SIGNING_KEY" type:"existingfile" placeholder:"FILE" help:"With --server: an operator signing key seed, to sign the gaib account JWT (role signing keys, revocations)."`
	SystemCreds      string   `env:"GAIB_SYSTEM_CREDS" type:"existingfile" placeholder:"FILE" help:"With --server: a system account user's credential, to push account JWT updates."`
	DiscordTokenFile string   `env:"GAIB_DISCORD_TOKEN_FILE" type:"existingfile" placeholder:"FILE" help:"The bot's token: runs the Discord REST proxy that sandboxes act through (off without it)." group:"Discord proxy"`
	DiscordAPIURL    string   `name:"discord-api-url" env:"GAIB_DISCORD_API_URL" default:"https://discord.com/api" placeholder:"URL" help:"Discord's API root (point tests or staging at a stand-in)." group:"Discord proxy"`
	DiscordListen    string   `env:"GAIB_DISCORD_LISTEN" default:"127.0.0.1:8090" placeholder:"ADDR" help:"Address of the Discord proxy." group:"Discord proxy"`
	DiscordPublicURL string   `name:"discord-public-url" env:"GAIB_DISCORD_PUBLIC_URL" placeholder:"URL" help:"Where workers reach the proxy (default http://<--discord-listen>)." group:"Discord proxy"`
	DiscordAppID     string   `name:"discord-application-id" env:"GAIB_DISCORD_APPLICATION_ID" placeholder:"ID" help:"The bot's application id, checked on command routes and follow-ups." group:"Discord proxy"`
	SandboxRPS       float64  `name:"sandbox-discord-rps" default:"5" help:"Discord requests per second one sandbox may send." group:"Discord proxy"`
	SandboxesRPS     float64  `name:"sandboxes-discord-rps" default:"25" help:"Discord requests per second all sandboxes together may send (production keeps the rest of 50)." group:"Discord proxy"`
	SandboxInvalid   int      `name:"sandbox-discord-invalid" default:"100" help:"401/403/429 answers a sandbox may cause in 10 minutes before its requests are refused locally." group:"Discord proxy"`
	DiscordDeadline  string   `name:"discord-deadline" default:"2.5s" help:"How long an interaction routed to a sandbox may wait for its answer before gaib answers it (Discord allows 3s)." group:"Discord proxy"`
	AdminCreds       string   `env:"GAIB_ADMIN_CREDS" placeholder:"FILE" help:"Where to write your admin credential (default ~/.config/gaib/local.creds, where the CLI looks; '-': nowhere)."`
	DefaultTTL       string   `env:"GAIB_DEFAULT_TTL" name:"default-ttl" default:"24h" help:"TTL of a sandbox created without --ttl."`
	MinTTL           string   `env:"GAIB_MIN_TTL" name:"min-ttl" default:"1m" help:"Shortest TTL accepted."`
	MaxTTL           string   `env:"GAIB_MAX_TTL" name:"max-ttl" default:"168h" help:"Longest TTL accepted (also the most time left after extend)."`
	Retention        string   `env:"GAIB_RETENTION" default:"24h" help:"How long destroyed sandboxes stay visible to list --all."`
	SweepInterval    string   `env:"GAIB_SWEEP_INTERVAL" default:"30s" help:"Time between cleanup sweeps (expiry, resumed destroys)."`
	Only             []string `env:"GAIB_ONLY" enum:"sandbox,router,cleanup" placeholder:"PART" help:"Run only these parts (sandbox, router, cleanup; repeatable)."`
	Postgres         string   `env:"GAIB_POSTGRES_URL" placeholder:"URL" help:"Postgres to create sandbox schemas and roles in, as a role that may create roles (default: a managed local cluster from the installed postgresql binaries). Never read from DATABASE_URL: that is a sandbox's."`
	Redis            string   `env:"GAIB_REDIS_URL" placeholder:"URL" help:"Redis to create sandbox ACL users in, as an admin user (default: a managed local redis-server). Never read from REDIS_URL: that is a sandbox's."`
	SchemaMigrations string   `env:"GAIB_SCHEMA_MIGRATIONS" type:"existingdir" placeholder:"DIR" help:"Apply the *.sql files of DIR (the application's migrations) to each sandbox schema instead of the built-in tables."`
	MetricsListen    string   `env:"GAIB_METRICS_LISTEN" default:"127.0.0.1:9464" placeholder:"ADDR" help:"Serve Prometheus metrics on http://ADDR/metrics (empty: off)."`
	InstanceGrace    string   `env:"GAIB_INSTANCE_GRACE" default:"5s" help:"An instance that has not heartbeat for this long is dead: its creates are undone and its destroys finished."`
	RecoveryInterval string   `env:"GAIB_RECOVERY_INTERVAL" default:"2s" help:"How often abandoned creates and destroys are looked for."`
	Reconcile        string   `env:"GAIB_RECONCILE_INTERVAL" name:"reconcile-interval" default:"1m" help:"How often running sandboxes are checked and repaired (lost ACL users or roles, pending routes)."`
	HTTP             string   `env:"GAIB_HTTP" name:"http" placeholder:"ADDR" help:"Serve the REST API on ADDR, e.g. 127.0.0.1:8080 (default: off)."`
	HTTPInsecure     bool     `env:"GAIB_HTTP_INSECURE" name:"http-insecure" help:"REST API requests without a bearer token act as the local admin (loopback addresses only)."`
	PostgresBin      string   `env:"GAIB_POSTGRES_BIN" placeholder:"DIR" help:"Directory of initdb and postgres for the managed cluster (default: /usr/lib/postgresql/<newest>/bin)."`
	RedisServer      string   `env:"GAIB_REDIS_SERVER" placeholder:"PATH" help:"redis-server binary for the managed server (default: /usr/bin/redis-server)."`
	NoPostgres       bool     `env:"GAIB_NO_POSTGRES" help:"Run without the Postgres plane."`
	NoRedis          bool     `env:"GAIB_NO_REDIS" help:"Run without the Redis plane."`
	Debug            bool     `env:"GAIB_DEBUG" help:"Debug logs, including the embedded NATS server's."`
}

// settings are the parsed duration flags.
type settings struct {
	ttl              sandbox.TTLBounds
	retention, sweep time.Duration
	grace, recovery  time.Duration
	reconcile        time.Duration
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
		{"--sweep-interval", c.SweepInterval, &s.sweep}, {"--instance-grace", c.InstanceGrace, &s.grace},
		{"--recovery-interval", c.RecoveryInterval, &s.recovery}, {"--reconcile-interval", c.Reconcile, &s.reconcile},
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

// Help is the detailed help of `gaib serve`.
func (ServeCmd) Help() string {
	return detail("With no --server, serve starts an embedded NATS server, and Postgres and Redis from the installed postgresql and redis-server packages "+
		"(./scripts/setup installs them), all under --data-dir. It reads its settings from flags or GAIB_* variables only (each flag's is shown), "+
		"never from a sandbox's DATABASE_URL, REDIS_URL, NATS_URL or NATS_CREDS, and refuses to start in a shell that holds a sandbox's environment. "+
		"It fails at once, naming the flag to change, when its data dir is in use by another serve or its ports are taken. "+
		"It prints one line when ready and stops cleanly on Ctrl-C or SIGTERM.",
		"gaib serve",
		"gaib serve --listen 127.0.0.1:0 --data-dir /tmp/gaib-2 --metrics-listen ''",
		"GAIB_POSTGRES_URL=postgres://admin@db/arrakis gaib serve --no-redis",
		"gaib serve --server nats://nats-1:4222 --creds mesh.creds --operator-signing-key op.nk --system-creds sys.creds --replicas 3")
}

// Run parses the flags into a node configuration and runs the node until ctx ends.
func (c *ServeCmd) Run(ctx context.Context, g *Globals, o *IO) error {
	if err := refuseSandboxEnv(); err != nil {
		return err
	}
	set, err := c.settings()
	if err != nil {
		return err
	}
	url, _, err := g.fromContext()
	if err != nil {
		return err
	}
	// The global --server and --creds count for serve when given as flags; from the
	// environment serve reads GAIB_NATS_URL and GAIB_NATS_CREDS (NATS_URL and NATS_CREDS are
	// the CLI's, and in a sandbox's shell the sandbox's).
	server, creds := os.Getenv("GAIB_NATS_URL"), os.Getenv("GAIB_NATS_CREDS")
	if g.given["server"] {
		server = g.Server
	}
	if g.given["creds"] {
		creds = g.Creds
	}
	if server != "" {
		url = server
	}
	deadline, err := time.ParseDuration(c.DiscordDeadline)
	if err != nil || deadline <= 0 || deadline >= 3*time.Second {
		return sandbox.Errorf(sandbox.CodeInvalidRequest, "--discord-deadline %q must be a duration under 3s (Discord's limit)", c.DiscordDeadline)
	}
	if creds == "" && g.Context != "" {
		if nc, err := g.natsContext(); err == nil {
			creds = nc.Creds
		}
	}
	streamBytes, err := parseBytes(c.SandboxStream)
	if err != nil {
		return sandbox.Errorf(sandbox.CodeInvalidRequest, "--sandbox-stream-bytes: %v", err)
	}
	var maxEvent int64
	if c.MaxEventBytes != "" {
		if maxEvent, err = parseBytes(c.MaxEventBytes); err != nil || maxEvent <= 0 {
			return sandbox.Errorf(sandbox.CodeInvalidRequest, "--max-event-bytes %q: a size like 1MiB or 512KiB", c.MaxEventBytes)
		}
	}
	window, err := parseBytes(c.RouterWindow)
	if err != nil || window <= 0 {
		return sandbox.Errorf(sandbox.CodeInvalidRequest, "--router-window-bytes %q: a size like 16MiB", c.RouterWindow)
	}
	var redisMemory int64
	if c.RedisSandboxMem != "" {
		if redisMemory, err = parseBytes(c.RedisSandboxMem); err != nil {
			return sandbox.Errorf(sandbox.CodeInvalidRequest, "--redis-sandbox-memory %q: a size like 32MiB", c.RedisSandboxMem)
		}
	}
	noteIgnoredEnv(o)
	return node.Run(ctx, node.Config{
		RedisClientLimit: c.RedisClients, RedisSandboxMemory: redisMemory,
		MaxEventBytes: int(maxEvent), RouterWindowBytes: int(window),
		DataDir: c.DataDir, NATSURL: url, Creds: creds, OperatorSigningKey: c.OperatorKey, SystemCreds: c.SystemCreds,
		AdminCreds: c.AdminCreds, MaxGuilds: c.MaxGuilds, MaxSandboxes: c.MaxSandboxes, ConnectionLimit: c.ConnLimit,
		ReservedConnections: c.ReservedConns, RedisMaxMemory: c.RedisMaxMemory, RedisMaxMemoryPolicy: c.RedisPolicy, SandboxStreamBytes: streamBytes, Listen: c.Listen, Workers: c.Workers,
		Replicas: c.Replicas, MaxPerOwner: c.MaxPerOwner, TTL: set.ttl, Retention: set.retention,
		SweepInterval: set.sweep, InstanceGrace: set.grace, RecoveryInterval: set.recovery, ReconcileInterval: set.reconcile, Only: c.Only, Postgres: c.Postgres, Redis: c.Redis,
		SchemaMigrations: c.SchemaMigrations, MetricsListen: c.MetricsListen, PostgresBin: c.PostgresBin,
		RedisServer: c.RedisServer, NoPostgres: c.NoPostgres, NoRedis: c.NoRedis,
		Secret: os.Getenv("GAIB_SECRET"), Debug: c.Debug, HTTPListen: c.HTTP, HTTPInsecure: c.HTTPInsecure,
		Discord: node.DiscordConfig{TokenFile: c.DiscordTokenFile, APIURL: c.DiscordAPIURL, Listen: c.DiscordListen,
			PublicURL: c.DiscordPublicURL, ApplicationID: c.DiscordAppID, SandboxRPS: c.SandboxRPS, SandboxesRPS: c.SandboxesRPS,
			Invalid: c.SandboxInvalid, Deadline: deadline},
	}, o.Stdout, o.Stderr)
}

// refuseSandboxEnv stops serve in a shell that holds a sandbox's environment (after
// eval "$(gaib sandbox connect NAME)"): the mesh must never run beside, or be configured
// from, a tenant's credentials. It says which variables to clear.
func refuseSandboxEnv() error {
	id := os.Getenv("SANDBOX_ID")
	if id == "" {
		return nil
	}
	var set []string
	for _, name := range sandbox.EnvNames {
		if _, ok := os.LookupEnv(name); ok {
			set = append(set, name)
		}
	}
	return sandbox.Errorf(sandbox.CodeInvalidRequest,
		"this shell holds the environment of sandbox %s (SANDBOX_ID=%s, set by `gaib sandbox connect`): gaib serve will not run with a sandbox's credentials around it. "+
			"Start it from a fresh shell, or first run: unset %s", clean(os.Getenv("SANDBOX_NAME")), clean(id), strings.Join(set, " "))
}

// noteIgnoredEnv tells, once, about the variables serve no longer reads, so that a setup
// relying on them does not silently run with managed servers instead.
func noteIgnoredEnv(o *IO) {
	for _, v := range []struct{ old, flag, env string }{
		{"DATABASE_URL", "--postgres", "GAIB_POSTGRES_URL"},
		{"REDIS_URL", "--redis", "GAIB_REDIS_URL"},
		{"NATS_URL", "--server", "GAIB_NATS_URL"},
		{"NATS_CREDS", "--creds", "GAIB_NATS_CREDS"},
	} {
		if os.Getenv(v.old) != "" && os.Getenv(v.env) == "" {
			fmt.Fprintf(o.Stderr, "gaib: serve ignores %s; it reads %s or %s\n", v.old, v.flag, v.env)
		}
	}
}

// parseBytes reads a size such as 64MiB, 1GiB, 500MB or 1048576.
func parseBytes(s string) (int64, error) {
	units := []struct {
		suffix string
		size   int64
	}{{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"KB", 1e3}, {"MB", 1e6}, {"GB", 1e9}, {"B", 1}}
	n, mult := s, int64(1)
	for _, u := range units {
		if v, ok := strings.CutSuffix(s, u.suffix); ok {
			n, mult = v, u.size
			break
		}
	}
	v, err := strconv.ParseInt(strings.TrimSpace(n), 10, 64)
	if err != nil || v <= 0 || v > (1<<50)/mult {
		return 0, fmt.Errorf("%q is not a size (examples: 64MiB, 1GiB, 1048576)", s)
	}
	return v * mult, nil
}
