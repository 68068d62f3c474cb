package jetstream

import (
	"context"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/arrakis/gaib/sandbox"
)

// Config sets the replication and retention of gaib's buckets and streams.
type Config struct {
	// Replicas of every bucket and stream; 1 for a single server, 3 on a cluster. Default 1.
	Replicas int
	// Stream names of the router's outputs; defaults EVENTS, COMMANDS, SANDBOX.
	EventsStream, CommandsStream, SandboxStream string
	// MaxAge of gateway, production and sandbox messages. Default 24h.
	EventsMaxAge time.Duration
	// AuditMaxAge is how long audit entries are kept. Default 90 days.
	AuditMaxAge time.Duration
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
	if c.SandboxStream == "" {
		c.SandboxStream = sandbox.StreamSandbox
	}
	if c.EventsMaxAge <= 0 {
		c.EventsMaxAge = 24 * time.Hour
	}
	if c.AuditMaxAge <= 0 {
		c.AuditMaxAge = 90 * 24 * time.Hour
	}
	return c
}

// Store is gaib's state in JetStream. It is safe for concurrent use by any number of
// goroutines and processes.
type Store struct {
	js        jetstream.JetStream
	cfg       Config
	sandboxes jetstream.KeyValue
	names     jetstream.KeyValue
	owners    jetstream.KeyValue
	routes    jetstream.KeyValue
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
	} {
		kv, err := js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
			Bucket: b.name, Description: b.desc, History: b.history,
			Storage: jetstream.FileStorage, Replicas: s.cfg.Replicas,
		})
		if err != nil {
			return nil, fmt.Errorf("bucket %s: %w", b.name, err)
		}
		*b.kv = kv
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
