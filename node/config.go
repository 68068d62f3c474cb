package node

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/arrakis/gaib/auth"
	"github.com/arrakis/gaib/keyspace"
	"github.com/arrakis/gaib/sandbox"
	"github.com/arrakis/gaib/schema"
)

// Config is everything one gaib process runs with. The zero value of a field means its
// documented default.
type Config struct {
	// DataDir holds the embedded NATS store, the managed databases and the secret. Default
	// $XDG_DATA_HOME/gaib, else ~/.local/share/gaib.
	DataDir string
	// NATSURL joins an existing NATS instead of starting the embedded server.
	NATSURL string
	// Creds is the mesh's own credential in the gaib account, against an existing NATS.
	Creds string
	// OperatorSigningKey (a seed file) signs the gaib account JWT against an existing NATS:
	// the mesh registers its role signing keys and pushes revocations with it.
	OperatorSigningKey string
	// SystemCreds is a system account user's credential, to push account JWT updates.
	SystemCreds string
	// AdminCreds is where the local user's admin credential is written. Default
	// auth.DefaultCredsFile(); "-" writes none.
	AdminCreds string
	// Listen is the embedded server's address; port 0 picks a free one. Default
	// 127.0.0.1:4222.
	Listen string
	// Workers is the number of instances of each micro service. Default 4.
	Workers int
	// Replicas of every stream and bucket. Default 1.
	Replicas int
	// MaxPerOwner is how many sandboxes one owner may have at once. Default 5.
	MaxPerOwner int
	// MaxGuilds is how many guilds one sandbox may have. Default 10.
	MaxGuilds int
	// MaxSandboxes caps the sandboxes the mesh holds; 0 derives it from the Postgres
	// plane (its max_connections over each role's connection limit), no limit without one.
	MaxSandboxes int
	// ConnectionLimit is each sandbox role's Postgres CONNECTION LIMIT (default 10), and
	// ReservedConnections what is kept for gaib itself and other users (default 20).
	ConnectionLimit, ReservedConnections int
	// RedisMaxMemory and RedisMaxMemoryPolicy configure the managed redis-server (defaults
	// 256mb, noeviction).
	RedisMaxMemory, RedisMaxMemoryPolicy string
	// RedisClientLimit is how many Redis connections one sandbox may hold (default 50);
	// RedisSandboxMemory how many bytes of keys (default 0: the server's maxmemory shared
	// among the sandboxes, see keyspace.WithMemoryBudget).
	RedisClientLimit   int
	RedisSandboxMemory int64
	// SandboxStreamBytes caps each sandbox's own stream. Default 64 MiB.
	SandboxStreamBytes int64
	// MaxEventBytes is the largest event the router forwards (router.Config.MaxEventBytes;
	// 0: the server's max payload).
	MaxEventBytes int
	// RouterWindowBytes bounds the bytes the router holds in flight (router.Config.WindowBytes;
	// 0: 16 MiB).
	RouterWindowBytes int
	// TTL bounds the lifetime of sandboxes.
	TTL sandbox.TTLBounds
	// Retention is how long destroyed records stay listed. Default 24h.
	Retention time.Duration
	// SweepInterval is the time between cleanup sweeps. Default 30s.
	SweepInterval time.Duration
	// InstanceGrace is how long an instance counts as alive after its last heartbeat
	// (default 5s): its creates and destroys are recovered after it. RecoveryInterval is
	// how often abandoned work is looked for (default 2s), ReconcileInterval how often
	// running sandboxes are repaired (default 1m).
	InstanceGrace, RecoveryInterval, ReconcileInterval time.Duration
	// Only limits the parts run (sandbox, router, cleanup); empty runs all.
	Only []string
	// Postgres and Redis are the admin URLs of external servers; empty starts managed ones.
	Postgres, Redis string
	// SchemaMigrations is a directory of *.sql files applied to each sandbox schema instead
	// of the built-in tables.
	SchemaMigrations string
	// HTTPListen serves the REST API on ADDR; empty turns it off (the default).
	HTTPListen string
	// HTTPInsecure lets requests without a token act as the local admin (loopback only).
	HTTPInsecure bool
	// MetricsListen serves Prometheus metrics on http://ADDR/metrics; empty turns it off.
	MetricsListen string
	// PostgresBin is the directory of initdb and postgres for the managed cluster.
	PostgresBin string
	// RedisServer is the redis-server binary for the managed server.
	RedisServer string
	// NoPostgres and NoRedis run without that plane.
	NoPostgres, NoRedis bool
	// Discord configures the Discord REST proxy (off without a bot token).
	Discord DiscordConfig
	// Secret derives every sandbox credential; empty reads (or creates) <DataDir>/secret.
	Secret string
	// Debug turns on debug logs, the embedded server's included.
	Debug bool
}

// DefaultDataDir is $XDG_DATA_HOME/gaib, else ~/.local/share/gaib.
func DefaultDataDir() (string, error) {
	if d := os.Getenv("XDG_DATA_HOME"); d != "" {
		return filepath.Join(d, "gaib"), nil
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", fmt.Errorf("no home directory for the data dir (set --data-dir): %w", err)
	}
	return filepath.Join(home, ".local", "share", "gaib"), nil
}

// runs says whether this process runs part (services.PartSandbox, PartRouter, PartCleanup).
func (c *Config) runs(part string) bool { return len(c.Only) == 0 || slices.Contains(c.Only, part) }

func (c Config) withDefaults() (Config, error) {
	if c.DataDir == "" {
		d, err := DefaultDataDir()
		if err != nil {
			return c, err
		}
		c.DataDir = d
	}
	if c.Listen == "" {
		c.Listen = "127.0.0.1:4222"
	}
	if c.Workers <= 0 {
		c.Workers = 4
	}
	if c.Replicas <= 0 {
		c.Replicas = 1
	}
	if c.ConnectionLimit <= 0 {
		c.ConnectionLimit = schema.DefaultConnectionLimit
	}
	if c.ReservedConnections <= 0 {
		c.ReservedConnections = schema.DefaultReservedConnections
	}
	if c.RedisClientLimit <= 0 {
		c.RedisClientLimit = keyspace.DefaultClientLimit
	}
	if c.AdminCreds == "" {
		c.AdminCreds = auth.DefaultCredsFile()
	}
	return c, nil
}
