package api

import (
	"context"
	"net/http"

	"github.com/danielgtaylor/huma/v2"

	"github.com/arrakis/gaib/client"
	"github.com/arrakis/gaib/router"
	"github.com/arrakis/gaib/sandbox"
	"github.com/arrakis/gaib/services"
)

type routerStatsOutput struct{ Body []router.Stats }

type lookupOutput struct{ Body services.LookupResponse }

type sweepOutput struct{ Body services.SweepReport }

type orphansOutput struct{ Body services.OrphanReport }

type reconcileOutput struct{ Body services.ReconcileReport }

// registerOperations registers what operators do with `gaib router` and `gaib cleanup`.
func (s *Server) registerOperations() {
	huma.Register(s.api, operation("router-stats", http.MethodGet, "/v1/router/stats", "operations", "Router counters",
		"One entry per running router."), s.routerStats)
	huma.Register(s.api, operation("router-lookup", http.MethodGet, "/v1/router/guilds/{guild_id}", "operations", "Where a guild's events go",
		"By a router's live route table."), s.routerLookup)
	huma.Register(s.api, operation("cleanup-run", http.MethodPost, "/v1/cleanup/run", "operations", "Sweep now",
		"Admins. Expire sandboxes past their expiry, finish interrupted creates and destroys, drop old records."), s.cleanupRun)
	huma.Register(s.api, operation("cleanup-reconcile", http.MethodPost, "/v1/cleanup/reconcile", "operations", "Repair running sandboxes",
		"Admins. Check every running sandbox's planes and routes against what create made, repair what differs (a lost ACL user or role, a missing stream, a route left pending) and list what could not be repaired."), s.reconcile)
	huma.Register(s.api, operation("cleanup-orphans", http.MethodGet, "/v1/cleanup/orphans", "operations", "Find orphaned resources",
		"Admins. Resources in Postgres, Redis, NATS or the KV indexes that no live sandbox owns."), s.orphans(false))
	huma.Register(s.api, operation("cleanup-remove-orphans", http.MethodDelete, "/v1/cleanup/orphans", "operations", "Remove orphaned resources",
		"Admins. Finds them as GET does and removes them."), s.orphans(true))
}

func (s *Server) routerStats(ctx context.Context, _ *struct{}) (*routerStatsOutput, error) {
	r, err := s.as(ctx).RouterStats(ctx)
	return &routerStatsOutput{Body: r}, err
}

func (s *Server) routerLookup(ctx context.Context, in *GuildIDPath) (*lookupOutput, error) {
	r, err := s.as(ctx).Lookup(ctx, in.Guild)
	return &lookupOutput{Body: r}, err
}

func (s *Server) cleanupRun(ctx context.Context, _ *struct{}) (*sweepOutput, error) {
	r, err := client.Call[services.SweepReport](ctx, s.as(ctx), sandbox.ServiceCleanup, "run", services.SweepRequest{})
	return &sweepOutput{Body: r}, err
}

func (s *Server) reconcile(ctx context.Context, _ *struct{}) (*reconcileOutput, error) {
	r, err := client.Call[services.ReconcileReport](ctx, s.as(ctx), sandbox.ServiceCleanup, "reconcile", struct{}{})
	return &reconcileOutput{Body: r}, err
}

func (s *Server) orphans(remove bool) func(context.Context, *struct{}) (*orphansOutput, error) {
	return func(ctx context.Context, _ *struct{}) (*orphansOutput, error) {
		r, err := client.Call[services.OrphanReport](ctx, s.as(ctx), sandbox.ServiceCleanup, "orphans", services.OrphansRequest{Remove: remove})
		return &orphansOutput{Body: r}, err
	}
}
