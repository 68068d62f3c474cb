package services

import (
	"context"
	"log/slog"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/micro"

	"github.com/arrakis/gaib/sandbox"
)

// SweepRequest asks the cleanup service for a sweep now.
type SweepRequest struct{}

// AddCleanupService registers one instance of the cleanup micro service: `run` sweeps now
// (expiry, resumed destroys, retention).
func AddCleanupService(ctx context.Context, nc *nats.Conn, sb *Sandboxes, retention time.Duration, log *slog.Logger) (micro.Service, error) {
	svc, err := micro.AddService(nc, micro.Config{
		Name:        sandbox.ServiceCleanup,
		Version:     Version,
		Description: "gaib cleanup: expires sandboxes, finishes interrupted creates and destroys, drops old records, finds orphans",
	})
	if err != nil {
		return nil, err
	}
	g := svc.AddGroup(sandbox.Group(sandbox.ServiceCleanup))
	run := func(ctx context.Context, _ SweepRequest) (SweepReport, error) { return sb.Sweep(ctx, retention) }
	if err := joinErrs(
		g.AddEndpoint("run", handle(ctx, log, run),
			meta("Sweep now: expire, resume destroys, drop old records", "{}", "SweepReport")),
		g.AddEndpoint("orphans", handle(ctx, log, sb.Orphans),
			meta("Resources in Postgres, Redis, the sandbox stream or the routes without a live record", "OrphansRequest {remove}", "OrphanReport")),
	); err != nil {
		_ = svc.Stop()
		return nil, err
	}
	return svc, nil
}
