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

// AddCleanupService registers one instance of the cleanup micro service (admins only):
// `run` sweeps now (expiry, resumed destroys, retention), `orphans` finds (and removes)
// resources no live sandbox owns.
func AddCleanupService(ctx context.Context, nc *nats.Conn, sb *Sandboxes, retention time.Duration, log *slog.Logger) (micro.Service, error) {
	run := func(ctx context.Context, c Caller, _ SweepRequest) (SweepReport, error) {
		if err := requireAdmin(c, "run the cleanup"); err != nil {
			return SweepReport{}, err
		}
		return sb.Sweep(ctx, retention)
	}
	orphans := func(ctx context.Context, c Caller, req OrphansRequest) (OrphanReport, error) {
		if err := requireAdmin(c, "scan for orphans"); err != nil {
			return OrphanReport{}, err
		}
		return sb.Orphans(ctx, req)
	}
	reconcile := func(ctx context.Context, c Caller, _ struct{}) (ReconcileReport, error) {
		if err := requireAdmin(c, "reconcile sandboxes"); err != nil {
			return ReconcileReport{}, err
		}
		return sb.Reconcile(ctx)
	}
	return addService(nc, sandbox.ServiceCleanup,
		"gaib cleanup: expires sandboxes, finishes interrupted creates and destroys, drops old records, finds orphans",
		func(e *micro.NATSError) { log.Warn("cleanup service", "subject", e.Subject, "err", e.Description) },
		endpoint{op: "run", handler: handle(ctx, log, sb.store, run),
			description: "Sweep now: expire, resume destroys, drop old records (admins)", request: "{}", response: "SweepReport"},
		endpoint{op: "orphans", handler: handle(ctx, log, sb.store, orphans),
			description: "Resources in Postgres, Redis, NATS or the KV indexes without a live record (admins)", request: "OrphansRequest {remove}", response: "OrphanReport"},
		endpoint{op: "reconcile", handler: handle(ctx, log, sb.store, reconcile),
			description: "Check every running sandbox and repair what differs from what create made (admins)", request: "{}", response: "ReconcileReport"},
	)
}
