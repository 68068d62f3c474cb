package jetstream

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/arrakis/gaib/sandbox"
)

// legacySandboxStream is the one stream all sandboxes shared before each got its own. Its
// subjects overlap every sandbox stream's, so it is removed at start.
const legacySandboxStream = "SANDBOX"

// ensureStreams creates or updates the gateway input, the router's production outputs and
// the audit stream with the configured replicas (never a hard-coded count) and limits.
func (s *Store) ensureStreams(ctx context.Context) error {
	c := s.cfg
	if err := s.js.DeleteStream(ctx, legacySandboxStream); err != nil && !errors.Is(err, jetstream.ErrStreamNotFound) {
		return fmt.Errorf("remove the legacy shared sandbox stream: %w", err)
	}
	for _, sc := range []jetstream.StreamConfig{
		{Name: sandbox.StreamGateway, Description: "Discord events from the gateway: the router's input",
			Subjects: []string{sandbox.GatewayPrefix + ".>"}, MaxAge: c.EventsMaxAge, MaxBytes: c.EventsMaxBytes, MaxMsgSize: c.MaxEventBytes},
		{Name: c.EventsStream, Description: "production Discord events",
			Subjects: []string{sandbox.EventsPrefix + ".>"}, MaxAge: c.EventsMaxAge, MaxBytes: c.EventsMaxBytes, MaxMsgSize: c.MaxEventBytes},
		{Name: c.CommandsStream, Description: "production interactions (slash commands)",
			Subjects: []string{sandbox.CommandsPrefix + ".>"}, MaxAge: c.EventsMaxAge, MaxBytes: c.EventsMaxBytes, MaxMsgSize: c.MaxEventBytes},
		{Name: sandbox.StreamAudit, Description: "every change made to a sandbox (append-only)",
			Subjects: []string{sandbox.AuditPrefix + ".>"}, MaxAge: c.AuditMaxAge, MaxBytes: c.AuditMaxBytes,
			DenyDelete: true, DenyPurge: true},
	} {
		sc.Replicas = c.Replicas
		sc.Storage = jetstream.FileStorage
		if _, err := retry(ctx, func() (jetstream.Stream, error) { return s.js.CreateOrUpdateStream(ctx, sc) }); err != nil {
			return fmt.Errorf("stream %s: %w", sc.Name, err)
		}
	}
	return nil
}

// sandboxStreamConfig is the configuration of sandbox id's own stream: its routed events
// and interactions, within its own byte limit (its oldest events go first, nobody else's).
func (s *Store) sandboxStreamConfig(id string) jetstream.StreamConfig {
	return jetstream.StreamConfig{
		Name: sandbox.SandboxStream(id), Description: "events and interactions routed to sandbox " + id,
		Subjects: sandbox.SandboxStreamSubjects(id), MaxAge: s.cfg.EventsMaxAge, MaxBytes: s.cfg.SandboxStreamMaxBytes,
		MaxMsgSize: s.cfg.MaxEventBytes, Discard: jetstream.DiscardOld, Storage: jetstream.FileStorage,
		Replicas: s.cfg.Replicas, AllowDirect: true, MaxConsumers: 8, Duplicates: 2 * time.Minute,
	}
}

// CreateSandboxStream creates sandbox id's stream and the durable consumer its worker reads
// through. Creating what exists with the same configuration succeeds.
func (s *Store) CreateSandboxStream(ctx context.Context, id string) error {
	if !sandbox.ValidID(id) {
		return sandbox.Errorf(sandbox.CodeInvalidID, "%q is not a sandbox id", id)
	}
	st, err := retry(ctx, func() (jetstream.Stream, error) { return s.js.CreateOrUpdateStream(ctx, s.sandboxStreamConfig(id)) })
	if err != nil {
		return fmt.Errorf("stream %s: %w", sandbox.SandboxStream(id), err)
	}
	_, err = retry(ctx, func() (jetstream.Consumer, error) {
		return st.CreateOrUpdateConsumer(ctx, jetstream.ConsumerConfig{
			Durable: sandbox.SandboxConsumer, Description: "the sandbox's bot worker",
			AckPolicy: jetstream.AckExplicitPolicy, AckWait: 30 * time.Second, MaxAckPending: 1000,
			DeliverPolicy: jetstream.DeliverAllPolicy, Replicas: s.cfg.Replicas,
		})
	})
	if err != nil {
		return fmt.Errorf("consumer %s: %w", sandbox.SandboxConsumer, err)
	}
	return nil
}

// DeleteSandboxStream deletes sandbox id's stream with its consumers and messages. Deleting
// a stream that is gone succeeds.
func (s *Store) DeleteSandboxStream(ctx context.Context, id string) error {
	if !sandbox.ValidID(id) {
		return sandbox.Errorf(sandbox.CodeInvalidID, "%q is not a sandbox id", id)
	}
	err := retryErr(ctx, func() error { return s.js.DeleteStream(ctx, sandbox.SandboxStream(id)) })
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		return nil
	}
	return err
}

// CheckSandboxStream reports whether sandbox id's stream and its worker's durable exist.
func (s *Store) CheckSandboxStream(ctx context.Context, id string) error {
	st, err := retry(ctx, func() (jetstream.Stream, error) { return s.js.Stream(ctx, sandbox.SandboxStream(id)) })
	if err != nil {
		return fmt.Errorf("stream %s: %w", sandbox.SandboxStream(id), err)
	}
	if _, err := st.Consumer(ctx, sandbox.SandboxConsumer); err != nil {
		return fmt.Errorf("consumer %s: %w", sandbox.SandboxConsumer, err)
	}
	return nil
}

// SandboxStreamIDs returns the ids of every sandbox that has a stream.
func (s *Store) SandboxStreamIDs(ctx context.Context) (map[string]bool, error) {
	ids := map[string]bool{}
	names := s.js.StreamNames(ctx, jetstream.WithStreamListSubject(sandbox.SandboxPrefix+".>"))
	for n := range names.Name() {
		if id, ok := sandbox.SandboxStreamID(n); ok {
			ids[id] = true
		}
	}
	return ids, names.Err()
}
