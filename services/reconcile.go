package services

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/arrakis/gaib/sandbox"
)

// Repairer is a plane that can put a running sandbox's slice back the way create made it,
// from the id alone (a lost ACL user or role re-created, a changed password reset).
type Repairer interface {
	Repair(ctx context.Context, r sandbox.Record) error
}

// Repair is one thing the reconciler put back.
type Repair struct {
	Sandbox string `json:"sandbox"`
	Plane   string `json:"plane"`
	// Problem is what the health check said before the repair.
	Problem string `json:"problem"`
}

// ReconcileReport says what one reconcile pass repaired, and what it could not.
type ReconcileReport struct {
	Repaired []Repair `json:"repaired"`
	Failed   []string `json:"failed,omitempty"`
}

// Reconcile checks every running sandbox's planes and routes against what create made and
// repairs what differs: a plane whose check fails is repaired (if it can be) and checked
// again; a route still pending (its create died after the sandbox ran) is activated.
// Repairs are counted in gaib_reconcile_repairs_total{plane}.
func (s *Sandboxes) Reconcile(ctx context.Context) (ReconcileReport, error) {
	rep := ReconcileReport{Repaired: []Repair{}}
	records, _, err := s.store.Records(ctx)
	if err != nil {
		return rep, err
	}
	for _, rec := range records {
		if rec.Status != sandbox.StatusRunning || rec.Lease != nil {
			continue
		}
		for _, p := range s.cfg.Planes {
			problem := p.Check(ctx, rec)
			if problem == nil || sandbox.AsError(problem).Code == sandbox.CodeQuotaExceeded {
				continue // a sandbox over its own budget is its own doing, not damage
			}
			r, ok := p.(Repairer)
			if !ok {
				rep.Failed = append(rep.Failed, fmt.Sprintf("%s %s: %v (cannot repair)", rec.ID, p.Name(), problem))
				continue
			}
			if err := r.Repair(ctx, rec); err != nil {
				rep.Failed = append(rep.Failed, fmt.Sprintf("%s %s: %v; repair: %v", rec.ID, p.Name(), problem, err))
				continue
			}
			if err := p.Check(ctx, rec); err != nil {
				rep.Failed = append(rep.Failed, fmt.Sprintf("%s %s: still %v after repair", rec.ID, p.Name(), err))
				continue
			}
			rep.Repaired = append(rep.Repaired, Repair{Sandbox: rec.ID, Plane: p.Name(), Problem: problem.Error()})
		}
		for _, g := range rec.Guilds {
			id, active, err := s.store.Route(ctx, g)
			if err != nil || id != rec.ID || active {
				continue
			}
			rev, err := s.store.ActivateRoute(ctx, g, rec.ID)
			if err != nil {
				rep.Failed = append(rep.Failed, fmt.Sprintf("%s route %s: %v", rec.ID, g, err))
				continue
			}
			s.syncRoutes(ctx, rev)
			rep.Repaired = append(rep.Repaired, Repair{Sandbox: rec.ID, Plane: "routes", Problem: "guild " + g + " was reserved but not routed"})
		}
	}
	if s.metrics != nil {
		for _, r := range rep.Repaired {
			s.metrics.Repairs.WithLabelValues(r.Plane).Inc()
		}
		s.metrics.ReconcileFailures.Add(float64(len(rep.Failed)))
	}
	return rep, nil
}

// RunRecovery recovers abandoned work (creates and destroys whose instance died) every
// interval, and reconciles the running sandboxes every reconcile, until ctx ends.
func (s *Sandboxes) RunRecovery(ctx context.Context, interval, reconcile time.Duration, log *slog.Logger) {
	t := time.NewTicker(interval)
	defer t.Stop()
	next := time.Now().Add(reconcile)
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		s.recoverAbandoned(ctx, log)
		if reconcile > 0 && time.Now().After(next) {
			next = time.Now().Add(reconcile)
			rep, err := s.Reconcile(ctx)
			switch {
			case err != nil && ctx.Err() == nil:
				log.Error("reconcile", "err", err)
			case len(rep.Repaired)+len(rep.Failed) > 0:
				log.Warn("reconcile repaired sandboxes", "repaired", rep.Repaired, "failed", rep.Failed)
			}
		}
	}
}

// recoverAbandoned recovers every sandbox whose lease's holder died.
func (s *Sandboxes) recoverAbandoned(ctx context.Context, log *slog.Logger) {
	records, _, err := s.store.Records(ctx)
	if err != nil {
		if ctx.Err() == nil {
			log.Warn("recovery scan", "err", err)
		}
		return
	}
	for _, r := range records {
		if r.Lease != nil && s.recoverRecord(ctx, r.ID) && s.metrics != nil {
			s.metrics.Recoveries.WithLabelValues(r.Lease.Op).Inc()
		}
	}
}
