package services

import (
	"context"
	"log/slog"

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
	// Subject is where an events.member.join of this guild would be published.
	Subject  string `json:"subject"`
	Revision uint64 `json:"revision"`
}

// AddRouterService registers the micro service of one router: `stats` and `sync` are
// answered by every router (no queue group), `lookup` by any one of them.
func AddRouterService(ctx context.Context, nc *nats.Conn, r *router.Router, log *slog.Logger) (micro.Service, error) {
	svc, err := micro.AddService(nc, micro.Config{
		Name:        sandbox.ServiceRouter,
		Version:     Version,
		Description: "gaib router: routes gateway events by guild to sandboxes or production",
	})
	if err != nil {
		return nil, err
	}
	id := svc.Info().ID
	g := svc.AddGroup(sandbox.Group(sandbox.ServiceRouter))
	stats := func(ctx context.Context, _ struct{}) (router.Stats, error) {
		s := r.Stats(ctx)
		s.Instance = id
		return s, nil
	}
	lookup := func(_ context.Context, req LookupRequest) (LookupResponse, error) {
		if err := sandbox.ValidateGuildID(req.Guild); err != nil {
			return LookupResponse{}, err
		}
		out := LookupResponse{Guild: req.Guild, Revision: r.Table().Revision(), Subject: "events.member.join"}
		out.SandboxID, out.Routed = r.Table().Lookup(req.Guild)
		if out.Routed {
			out.Subject = sandbox.SandboxSubject(out.SandboxID, out.Subject)
		}
		return out, nil
	}
	sync := func(ctx context.Context, req router.SyncRequest) (router.SyncReply, error) {
		ctx, cancel := context.WithTimeout(ctx, router.SyncTimeout)
		defer cancel()
		err := r.Table().WaitFor(ctx, req.Revision)
		return router.SyncReply{Instance: id, Applied: err == nil, Revision: r.Table().Revision()}, nil
	}
	err = joinErrs(
		g.AddEndpoint("stats", handle(ctx, log, stats), micro.WithEndpointQueueGroupDisabled(),
			meta("Counters of this router (every router answers)", "{}", "Stats")),
		g.AddEndpoint("lookup", handle(ctx, log, lookup),
			meta("Where a guild's events go", "LookupRequest {guild}", "LookupResponse")),
		g.AddEndpoint("sync", handle(ctx, log, sync), micro.WithEndpointQueueGroupDisabled(),
			meta("Wait until this router applied the routes up to a revision (every router answers)", "SyncRequest {revision}", "SyncReply")),
	)
	if err != nil {
		_ = svc.Stop()
		return nil, err
	}
	return svc, nil
}
