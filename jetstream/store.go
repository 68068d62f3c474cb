package jetstream

import (
	"context"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/arrakis/gaib/sandbox"
)

// Config sets the replication, retention and size limits of gaib's buckets and streams.
// Every stream and bucket has an explicit byte limit, so no writer can fill the server.
type Config struct {
	// Replicas of every bucket and stream; 1 for a single server, 3 on a cluster. Default 1.
	Replicas int
	// Stream names of the router's production outputs; defaults EVENTS, COMMANDS.
	EventsStream, CommandsStream string
	// EventsMaxAge is how long gateway, production and sandbox messages are kept. Default 24h.
	EventsMaxAge time.Duration
	// EventsMaxBytes caps each of GATEWAY, EVENTS and COMMANDS (oldest dropped). Default 1 GiB.
	EventsMaxBytes int64
	// SandboxStreamMaxBytes caps each sandbox's own stream (its oldest events are dropped,
	// nobody else's). Default 64 MiB.
	SandboxStreamMaxBytes int64
	// AuditMaxAge is how long audit entries are kept. Default 90 days.
	AuditMaxAge time.Duration
	// AuditMaxBytes caps the audit stream. Default 1 GiB.
	AuditMaxBytes int64
	// BucketMaxBytes caps each KV bucket. Default 64 MiB.
	BucketMaxBytes int64
	// MaxEventBytes is the largest message the event streams accept; 0 lets the server
	// decide (its max payload).
	MaxEventBytes int32
	// InstanceGrace is how long an instance counts as alive after its last heartbeat.
	// Default 5s.
	InstanceGrace time.Duration
	// RequestRetention is how long the outcome of a request is kept for its idempotency
	// key. Default 24h.
	RequestRetention time.Duration
}

func (c Config) withDefaults() Config {
	if c.Replicas <= 0 {
		c.Replicas = 1
	}
	if c.EventsStream == "" {
		c.EventsStream = sandbox.StreamEvents
	}
	if c.CommandsStream == "" {
		c.CommandsStream = sandbox.StreamCommands
	}
	if c.EventsMaxAge <= 0 {
		c.EventsMaxAge = 24 * time.Hour
	}
	if c.EventsMaxBytes <= 0 {
		c.EventsMaxBytes = 1 << 30
	}
	if c.SandboxStreamMaxBytes <= 0 {
		c.SandboxStreamMaxBytes = 64 << 20
	}
	if c.AuditMaxAge <= 0 {
		c.AuditMaxAge = 90 * 24 * time.Hour
	}
	if c.AuditMaxBytes <= 0 {
		c.AuditMaxBytes = 1 << 30
	}
	if c.BucketMaxBytes <= 0 {
		c.BucketMaxBytes = 64 << 20
	}
	if c.InstanceGrace <= 0 {
		c.InstanceGrace = 5 * time.Second
	}
	if c.RequestRetention <= 0 {
		c.RequestRetention = 24 * time.Hour
	}
	return c
}

// Store is gaib's state in JetStream. It is safe for concurrent use by any number of
// goroutines and processes.
type Store struct {
	js          jetstream.JetStream
	cfg         Config
	sandboxes   jetstream.KeyValue
	names       jetstream.KeyValue
	owners      jetstream.KeyValue
	routes      jetstream.KeyValue
	users       jetstream.KeyValue
	guilds      jetstream.KeyValue
	revocations jetstream.KeyValue
	tokens      jetstream.KeyValue
	instances   jetstream.KeyValue
	requests    jetstream.KeyValue
	mesh        jetstream.KeyValue
	config      jetstream.KeyValue
}

// Open creates (or updates) gaib's buckets and streams and returns a Store on them.
func Open(ctx context.Context, js jetstream.JetStream, cfg Config) (*Store, error) {
	s := &Store{js: js, cfg: cfg.withDefaults()}
	for _, b := range []struct {
		kv      *jetstream.KeyValue
		name    string
		desc    string
		history uint8
	}{
		{&s.sandboxes, sandbox.BucketSandboxes, "gaib sandbox records by id", 5},
		{&s.names, sandbox.BucketNames, "gaib sandbox name → id of sandboxes not destroyed", 1},
		{&s.owners, sandbox.BucketOwners, "gaib quota slots: owner → ids of sandboxes not destroyed", 1},
		{&s.routes, sandbox.BucketRoutes, "gaib guild routes: guild id → sandbox id", 1},
		{&s.users, sandbox.BucketUsers, "gaib identities: name → role, keys, revocation", 5},
		{&s.guilds, sandbox.BucketGuilds, "gaib guild allow-list: guild id → who may route it", 1},
		{&s.revocations, sandbox.BucketRevocations, "gaib revoked NATS user keys: public key → when, until", 1},
		{&s.tokens, sandbox.BucketTokens, "gaib REST API bearer tokens: id → identity, hash of the secret", 1},
		{&s.config, sandbox.BucketConfig, "gaib sandbox config: id → environment variables of its worker", 1},
	} {
		kv, err := retry(ctx, func() (jetstream.KeyValue, error) {
			return js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
				Bucket: b.name, Description: b.desc, History: b.history,
				Storage: jetstream.FileStorage, Replicas: s.cfg.Replicas,
				MaxBytes: s.cfg.BucketMaxBytes, MaxValueSize: 256 << 10,
			})
		})
		if err != nil {
			return nil, fmt.Errorf("bucket %s: %w", b.name, err)
		}
		*b.kv = retryingKV{kv}
	}
	if err := s.openReliability(ctx); err != nil {
		return nil, err
	}
	if err := s.ensureStreams(ctx); err != nil {
		return nil, err
	}
	return s, nil
}

// JetStream returns the JetStream context the store uses.
func (s *Store) JetStream() jetstream.JetStream { return s.js }

// Config returns the store's configuration with defaults applied.
func (s *Store) Config() Config { return s.cfg }
