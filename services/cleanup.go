package services

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/arrakis/gaib/sandbox"
)

// SweepReport says what one cleanup sweep did.
type SweepReport struct {
	Expired   []string `json:"expired"`
	Destroyed []string `json:"destroyed"`
	Purged    []string `json:"purged"`
	Failed    []string `json:"failed"`
	Errors    []string `json:"errors,omitempty"`
}

// Sweep does one pass of the cleanup: it expires running sandboxes past their expiry and
// destroys them, finishes destroys that stopped half-way and creates abandoned by a crash,
// and drops destroyed records older than retention. Every transition is a compare-and-swap,
// so sweeps running in several processes at once do each thing once.
func (s *Sandboxes) Sweep(ctx context.Context, retention time.Duration) (rep SweepReport, err error) {
	all, corrupt, err := s.store.Records(ctx)
	if err != nil {
		return rep, err
	}
	for _, key := range corrupt {
		rep.Failed = append(rep.Failed, key)
		rep.Errors = append(rep.Errors, fmt.Sprintf("%s: record is corrupt; fix or delete it by hand (see the runbook)", key))
	}
	now := s.now()
	if s.metrics != nil {
		counts := map[sandbox.Status]int{}
		for _, r := range all {
			counts[r.Status]++
		}
		for _, st := range sandbox.Statuses {
			s.metrics.Sandboxes.WithLabelValues(string(st)).Set(float64(counts[st]))
		}
		s.metrics.Sweeps.Inc()
		defer func() { s.metrics.CleanupFailures.Add(float64(len(rep.Failed))) }()
	}
	for _, r := range all {
		var err error
		switch {
		case r.Lease != nil && !s.abandoned(ctx, r.Lease):
			// A live instance is creating or destroying it: not the sweep's business.
		case r.Lease != nil:
			if s.recoverRecord(ctx, r.ID) {
				rep.Destroyed = append(rep.Destroyed, r.ID)
			}
		case r.Status == sandbox.StatusRunning && r.Expired(now):
			err = s.expire(ctx, r)
			if err == nil {
				rep.Expired = append(rep.Expired, r.ID)
			}
		case r.Status == sandbox.StatusExpired || r.Status == sandbox.StatusDestroying ||
			(r.Status == sandbox.StatusProvisioning && now.Sub(r.CreatedAt) >= s.cfg.StaleProvisioning):
			_, err = s.destroy(ctx, r, sandbox.ActorCleanup, "cleanup-destroy")
			if err == nil {
				rep.Destroyed = append(rep.Destroyed, r.ID)
			}
		case r.Status == sandbox.StatusDestroyed && r.DestroyedAt != nil && now.Sub(*r.DestroyedAt) > retention:
			err = s.purge(ctx, r)
			if err == nil {
				rep.Purged = append(rep.Purged, r.ID)
			}
		}
		if err != nil && !errors.Is(err, sandbox.ErrWrongState) && !errors.Is(err, sandbox.ErrUnavailable) {
			rep.Failed = append(rep.Failed, r.ID)
			rep.Errors = append(rep.Errors, fmt.Sprintf("%s: %v", r.ID, err))
		}
	}
	return rep, nil
}

// expire marks a running sandbox past its expiry as expired, then destroys it.
func (s *Sandboxes) expire(ctx context.Context, r sandbox.Record) error {
	before := r
	r, err := s.store.UpdateRecord(ctx, r.ID, func(cur *sandbox.Record) error {
		if cur.Status != sandbox.StatusRunning || !cur.Expired(s.now()) {
			return sandbox.Errorf(sandbox.CodeWrongState, "no longer expiring")
		}
		cur.Status, cur.UpdatedAt = sandbox.StatusExpired, s.now()
		return nil
	})
	if err != nil {
		return err
	}
	s.audit(ctx, sandbox.ActorCleanup, "expire", &before, &r)
	_, err = s.destroy(ctx, r, sandbox.ActorCleanup, "cleanup-destroy")
	return err
}

// orphanScanEvery is how many sweeps pass between two orphan scans (which refresh the
// gaib_orphaned_resources gauge; removal is left to an operator).
const orphanScanEvery = 10

// RunSweeper sweeps every interval until ctx ends, and scans for orphans every tenth sweep.
func (s *Sandboxes) RunSweeper(ctx context.Context, interval, retention time.Duration, log *slog.Logger) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for n := 0; ; n++ {
		if n%orphanScanEvery == 0 {
			if rep, err := s.Orphans(ctx, OrphansRequest{}); err != nil && ctx.Err() == nil {
				log.Error("orphan scan", "err", err)
			} else if len(rep.Orphans) > 0 {
				log.Warn("orphaned resources found: run `gaib cleanup orphans` to list, --remove to delete", "count", len(rep.Orphans))
			}
		}
		rep, err := s.Sweep(ctx, retention)
		if err != nil && ctx.Err() == nil {
			log.Error("cleanup sweep", "err", err)
		}
		if len(rep.Expired)+len(rep.Destroyed)+len(rep.Failed) > 0 {
			log.Info("cleanup sweep", "expired", len(rep.Expired), "destroyed", len(rep.Destroyed),
				"purged", len(rep.Purged), "failed", len(rep.Failed))
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// purge drops a destroyed record after its retention. Its account stays revoked on the
// servers (a revoked account JWT is never replaced by a live one), and its credentials
// expired with it.
func (s *Sandboxes) purge(ctx context.Context, r sandbox.Record) error {
	return s.store.DeleteRecord(ctx, r.ID)
}
