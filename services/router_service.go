package services

import (
	"context"
	"log/slog"
	"sync/atomic"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/micro"

	"github.com/arrakis/gaib/router"
	"github.com/arrakis/gaib/sandbox"
)

// LookupRequest asks where a guild's events go.
type LookupRequest struct {
	Guild string `json:"guild"`
}

// LookupResponse says where a guild's events go, by this router's live table.
type LookupResponse struct {
	Guild     string `json:"guild"`
	Routed    bool   `json:"routed"`
	SandboxID string `json:"sandbox_id,omitempty"`
	// Sandbox and Owner name the sandbox the guild routes to (when its record is readable).
	Sandbox string `json:"sandbox,omitempty"`
	Owner   string `json:"owner,omitempty"`
	// Subject is where an events.member.join of this guild would be published.
	Subject  string `json:"subject"`
	Revision uint64 `json:"revision"`
}

// AddRouterService registers the micro service of one router: `stats` and `sync` are
// answered by every router (no queue group), `lookup` by any one of them.
func AddRouterService(ctx context.Context, nc *nats.Conn, r *router.Router, sb *Sandboxes, log *slog.Logger) (micro.Service, error) {
	// The instance id is known once the service exists; handlers may run before that.
	var id atomic.Value
	instance := func() string { s, _ := id.Load().(string); return s }
	stats := func(ctx context.Context, _ Caller, _ struct{}) (router.Stats, error) {
		s := r.Stats(ctx)
		s.Instance = instance()
		return s, nil
	}
	lookup := func(ctx context.Context, _ Caller, req LookupRequest) (LookupResponse, error) {
		if err := sandbox.ValidateGuildID(req.Guild); err != nil {
			return LookupResponse{}, err
		}
		out := LookupResponse{Guild: req.Guild, Revision: r.Table().Revision(), Subject: "events.member.join"}
		out.SandboxID, out.Routed = r.Table().Lookup(req.Guild)
		if out.Routed {
			out.Subject = sandbox.SandboxSubject(out.SandboxID, out.Subject)
			if rec, err := sb.store.Record(ctx, out.SandboxID); err == nil {
				out.Sandbox, out.Owner = rec.Name, rec.Owner
			}
		}
		return out, nil
	}
	sync := func(ctx context.Context, _ Caller, req router.SyncRequest) (router.SyncReply, error) {
		ctx, cancel := context.WithTimeout(ctx, router.SyncTimeout)
		defer cancel()
		err := r.Table().WaitFor(ctx, req.Revision)
		return router.SyncReply{Instance: instance(), Applied: err == nil, Revision: r.Table().Revision()}, nil
	}
	svc, err := addService(nc, sandbox.ServiceRouter, "gaib router: routes gateway events by guild to sandboxes or production",
		func(e *micro.NATSError) { log.Warn("router service", "subject", e.Subject, "err", e.Description) },
		endpoint{op: "stats", handler: handle(ctx, log, sb.store, stats), everyInstance: true,
			description: "Counters of this router (every router answers)", request: "{}", response: "Stats"},
		endpoint{op: "lookup", handler: handle(ctx, log, sb.store, lookup),
			description: "Where a guild's events go", request: "LookupRequest {guild}", response: "LookupResponse"},
		endpoint{op: "sync", handler: handle(ctx, log, sb.store, sync), everyInstance: true,
			description: "Wait until this router applied the routes up to a revision (every router answers)", request: "SyncRequest {revision}", response: "SyncReply"},
	)
	if err != nil {
		return nil, err
	}
	id.Store(svc.Info().ID)
	return svc, nil
}
