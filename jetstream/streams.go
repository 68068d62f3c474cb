package jetstream

import (
	"context"
	"fmt"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/arrakis/gaib/sandbox"
)

// ensureStreams creates or updates the gateway input, the router's outputs and the audit
// stream with the configured replicas (never a hard-coded count).
func (s *Store) ensureStreams(ctx context.Context) error {
	c := s.cfg
	for _, sc := range []jetstream.StreamConfig{
		{Name: sandbox.StreamGateway, Description: "Discord events from the gateway: the router's input",
			Subjects: []string{sandbox.GatewayPrefix + ".>"}, MaxAge: c.EventsMaxAge},
		{Name: c.EventsStream, Description: "production Discord events",
			Subjects: []string{sandbox.EventsPrefix + ".>"}, MaxAge: c.EventsMaxAge},
		{Name: c.CommandsStream, Description: "production interactions (slash commands)",
			Subjects: []string{sandbox.CommandsPrefix + ".>"}, MaxAge: c.EventsMaxAge},
		{Name: c.SandboxStream, Description: "events and interactions routed to sandboxes",
			Subjects: []string{
				sandbox.SandboxPrefix + ".*." + sandbox.EventsPrefix + ".>",
				sandbox.SandboxPrefix + ".*." + sandbox.CommandsPrefix + ".>",
			}, MaxAge: c.EventsMaxAge},
		{Name: sandbox.StreamAudit, Description: "every change made to a sandbox",
			Subjects: []string{sandbox.AuditPrefix + ".>"}, MaxAge: c.AuditMaxAge},
	} {
		sc.Replicas = c.Replicas
		sc.Storage = jetstream.FileStorage
		if _, err := s.js.CreateOrUpdateStream(ctx, sc); err != nil {
			return fmt.Errorf("stream %s: %w", sc.Name, err)
		}
	}
	return nil
}

// PurgeSandboxMessages removes every message routed to sandbox id from the sandbox stream.
func (s *Store) PurgeSandboxMessages(ctx context.Context, id string) error {
	st, err := s.js.Stream(ctx, s.cfg.SandboxStream)
	if err != nil {
		return err
	}
	return st.Purge(ctx, jetstream.WithPurgeSubject(sandbox.SandboxWildcard(id)))
}

// SandboxSubjectIDs returns the ids of every sandbox with messages in the sandbox stream.
func (s *Store) SandboxSubjectIDs(ctx context.Context) (map[string]bool, error) {
	st, err := s.js.Stream(ctx, s.cfg.SandboxStream)
	if err != nil {
		return nil, err
	}
	info, err := st.Info(ctx, jetstream.WithSubjectFilter(sandbox.SandboxPrefix+".>"))
	if err != nil {
		return nil, err
	}
	ids := map[string]bool{}
	for subj := range info.State.Subjects {
		if id, ok := sandbox.IDFromResource(subj); ok {
			ids[id] = true
		}
	}
	return ids, nil
}
