package services

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/arrakis/gaib/sandbox"
)

// Destroy removes everything a sandbox owns (owner or admin): routes first, then the planes
// in reverse order, its quota slot and its name; the record stays as destroyed. Its NATS
// credential is revoked as soon as the record says destroying (see RevocationList): its
// workers are disconnected moments later. It is idempotent and resumable: a destroy that failed half-way (the record
// says destroying, with the error) finishes when called again.
func (s *Sandboxes) Destroy(ctx context.Context, c Caller, req sandbox.RefRequest) (sandbox.Record, error) {
	rec, err := s.ResolveAny(ctx, req.Sandbox)
	if err != nil {
		return rec, err
	}
	if err := authorize(c, rec, "destroy"); err != nil {
		return sandbox.Record{}, err
	}
	return s.destroy(ctx, rec, c.Name, "destroy")
}

func (s *Sandboxes) destroy(ctx context.Context, rec sandbox.Record, actor, action string) (sandbox.Record, error) {
	for {
		if rec.Status == sandbox.StatusDestroyed {
			return rec, nil
		}
		claimed, err := s.claimDestroy(ctx, rec.ID, actor, sandbox.NewID())
		switch {
		case errors.Is(err, errAlreadyDestroyed):
			return s.store.Record(ctx, rec.ID)
		case errors.Is(err, errBusy):
			if rec, err = s.awaitDestroy(ctx, rec.ID); err != nil {
				return rec, err
			}
			continue // destroyed (returns above), or its destroyer gave up or died: claim it
		case err != nil:
			return rec, err
		}
		return s.finishDestroy(ctx, rec, claimed, actor, action)
	}
}

// errBusy: another live instance is destroying the sandbox.
var errBusy = errors.New("another instance is destroying it")

// claimDestroy leases the record to this operation (token) for a destroy. A destroy in
// progress (in this instance or another) is errBusy unless its instance died (then it is
// taken over); a create in progress cannot be destroyed yet.
func (s *Sandboxes) claimDestroy(ctx context.Context, id, actor, token string) (sandbox.Record, error) {
	return s.store.UpdateRecord(ctx, id, func(r *sandbox.Record) error {
		live := r.Lease != nil && r.Lease.Token != token && !s.abandoned(ctx, r.Lease)
		switch {
		case r.Status == sandbox.StatusDestroyed:
			return errAlreadyDestroyed
		case live && r.Lease.Op == sandbox.LeaseDestroy:
			return errBusy
		case live:
			return sandbox.Errorf(sandbox.CodeWrongState, "sandbox %q is still being created; try again in a moment", r.Name)
		case r.Status == sandbox.StatusProvisioning && r.Lease == nil && s.now().Sub(r.CreatedAt) < s.cfg.StaleProvisioning:
			return sandbox.Errorf(sandbox.CodeWrongState, "sandbox %q is still being created; try again in a moment", r.Name)
		}
		r.Status, r.UpdatedAt, r.Error = sandbox.StatusDestroying, s.now(), nil
		r.Lease = &sandbox.Lease{Holder: s.instance, Token: token, Op: sandbox.LeaseDestroy, Actor: actor, Since: s.now()}
		return nil
	})
}

// awaitDestroy waits while another live instance destroys sandbox id, and returns its
// record once it is destroyed or nobody (alive) is destroying it any more.
func (s *Sandboxes) awaitDestroy(ctx context.Context, id string) (sandbox.Record, error) {
	for {
		rec, err := s.store.Record(ctx, id)
		if err != nil || rec.Status == sandbox.StatusDestroyed || rec.Lease == nil || s.abandoned(ctx, rec.Lease) {
			return rec, err
		}
		select {
		case <-ctx.Done():
			return rec, sandbox.Errorf(sandbox.CodeUnavailable, "sandbox %q is being destroyed by another instance: ask again for the outcome", rec.Name)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// finishDestroy tears the sandbox down under this instance's lease and records the outcome.
func (s *Sandboxes) finishDestroy(ctx context.Context, before, rec sandbox.Record, actor, action string) (sandbox.Record, error) {
	started := rec
	s.audit(ctx, actor, action+"-started", &before, &started)
	if err := s.teardown(ctx, rec); err != nil {
		derr := sandbox.Errorf(sandbox.CodeInternal, "destroy of %q stopped: %v (run destroy again to resume)", rec.Name, err)
		_, _ = s.store.UpdateRecord(context.WithoutCancel(ctx), rec.ID, func(r *sandbox.Record) error {
			if r.Lease != nil && r.Lease.Token == rec.Lease.Token {
				r.Lease = nil
			}
			r.Error, r.UpdatedAt = derr, s.now()
			return nil
		})
		s.audit(ctx, actor, action+"-failed", &before, &rec)
		return rec, derr
	}
	rec, err := s.store.UpdateRecord(ctx, rec.ID, func(r *sandbox.Record) error {
		now := s.now()
		r.Status, r.UpdatedAt, r.DestroyedAt, r.Error, r.Lease, r.TornDown = sandbox.StatusDestroyed, now, &now, nil, nil, nil
		return nil
	})
	if err != nil {
		return rec, err
	}
	s.audit(ctx, actor, action, &before, &rec)
	return rec, nil
}

var errAlreadyDestroyed = errors.New("already destroyed")

// credentialGrace keeps a revocation in the account JWT a little past the credential's
// expiry, for clocks that disagree.
const credentialGrace = time.Minute

// teardown removes a sandbox's resources; every step is idempotent and every name is
// derived from the id. Routes go first and must all be gone (and applied by the routers)
// before the sandbox's stream is deleted. The planes are all attempted even when one fails,
// so an outage of one store does not leave the others untouched.
func (s *Sandboxes) teardown(ctx context.Context, rec sandbox.Record) error {
	guilds, err := s.store.RoutesTo(ctx, rec.ID)
	if err != nil {
		return fmt.Errorf("routes: %w", err)
	}
	var routeRev uint64
	for _, g := range append(guilds, rec.Guilds...) {
		rev, err := s.store.ReleaseRoute(ctx, g, rec.ID)
		if err != nil {
			return fmt.Errorf("route %s: %w", g, err)
		}
		routeRev = max(routeRev, rev)
	}
	s.syncRoutes(ctx, routeRev)
	var errs []error
	for _, p := range slices.Backward(s.cfg.Planes) {
		if slices.Contains(rec.TornDown, p.Name()) {
			continue // done by an earlier attempt
		}
		if err := p.Teardown(ctx, rec); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", p.Name(), err))
			continue
		}
		if done, err := s.store.UpdateRecord(ctx, rec.ID, func(r *sandbox.Record) error {
			r.TornDown = append(r.TornDown, p.Name())
			return nil
		}); err == nil {
			rec = done
		}
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	if err := s.store.DeleteSandboxConfig(ctx, rec.ID); err != nil {
		return fmt.Errorf("config: %w", err)
	}
	if err := s.store.ReleaseSlot(ctx, rec.Owner, rec.ID); err != nil {
		return fmt.Errorf("quota slot: %w", err)
	}
	if err := s.store.ReleaseMeshSlot(ctx, rec.ID); err != nil {
		return fmt.Errorf("mesh slot: %w", err)
	}
	if err := s.store.ReleaseName(ctx, rec.Name, rec.ID); err != nil {
		return fmt.Errorf("name: %w", err)
	}
	return nil
}
