package services

import (
	"context"
	"errors"
	"fmt"
	"sort"

	"github.com/arrakis/gaib/sandbox"
)

// Resolve finds a sandbox by id (any status) or by name: the sandbox of that name that is
// not destroyed, else the latest destroyed one that had it (names are free again once
// destroyed, and still kept records answer by their old name as they do by id). So the
// same command on the same sandbox gets the same answer whichever way it is named. A ref
// shaped like an id is looked up as an id only: names may never take an id's shape, so a
// name can never stand for another sandbox.
func (s *Sandboxes) Resolve(ctx context.Context, ref string) (sandbox.Record, error) {
	if ref == "" {
		return sandbox.Record{}, sandbox.Errorf(sandbox.CodeInvalidRequest, "no sandbox named: give a name or an id")
	}
	if sandbox.ValidID(ref) {
		rec, err := s.store.Record(ctx, ref)
		if errors.Is(err, sandbox.ErrNotFound) {
			return rec, sandbox.Errorf(sandbox.CodeNotFound, "no sandbox with id %q", ref)
		}
		return rec, err
	}
	if err := sandbox.ValidateName(ref); err != nil {
		return sandbox.Record{}, err
	}
	id, err := s.store.LookupName(ctx, ref)
	if errors.Is(err, sandbox.ErrNotFound) {
		return s.destroyedNamed(ctx, ref, err)
	}
	if err != nil {
		return sandbox.Record{}, err
	}
	rec, err := s.store.Record(ctx, id)
	if errors.Is(err, sandbox.ErrNotFound) {
		return s.destroyedNamed(ctx, ref, sandbox.Errorf(sandbox.CodeNotFound, "no sandbox named %q", ref))
	}
	return rec, err
}

// ResolveAny is Resolve (which finds destroyed sandboxes by their old name too), for the
// callers that say so.
func (s *Sandboxes) ResolveAny(ctx context.Context, ref string) (sandbox.Record, error) {
	return s.Resolve(ctx, ref)
}

// destroyedNamed returns the latest destroyed record still kept that had name, or notFound.
func (s *Sandboxes) destroyedNamed(ctx context.Context, name string, notFound error) (sandbox.Record, error) {
	all, _, err := s.store.Records(ctx)
	if err != nil {
		return sandbox.Record{}, err
	}
	var found *sandbox.Record
	for i, r := range all {
		if r.Name == name && r.Status == sandbox.StatusDestroyed && (found == nil || r.CreatedAt.After(found.CreatedAt)) {
			found = &all[i]
		}
	}
	if found == nil {
		return sandbox.Record{}, notFound
	}
	return *found, nil
}

// Status returns the record of ref with a live health check of every plane when it runs.
// Anyone may read any sandbox's status (no secrets in it).
func (s *Sandboxes) Status(ctx context.Context, _ Caller, req sandbox.RefRequest) (sandbox.StatusResponse, error) {
	rec, err := s.Resolve(ctx, req.Sandbox)
	if err != nil {
		return sandbox.StatusResponse{}, err
	}
	out := sandbox.StatusResponse{Record: rec}
	if rec.Status != sandbox.StatusRunning {
		return out, nil
	}
	out.Health = s.health.get(ctx, rec, func(ctx context.Context) []sandbox.Health {
		var health []sandbox.Health
		for _, p := range s.cfg.Planes {
			h := healthOf(p.Name(), p.Check(ctx, rec))
			if r, ok := p.(Reporter); ok && h.OK {
				h.Detail = r.Report(rec)
			}
			health = append(health, h)
		}
		if len(rec.Guilds) > 0 {
			health = append(health, healthOf("routes", s.checkRoutes(ctx, rec)))
		}
		return health
	})
	return out, nil
}

// Reporter is a plane that says how a sandbox uses it, for status.
type Reporter interface {
	// Report summarises rec's use of the plane in one line ("" for nothing to say).
	Report(rec sandbox.Record) string
}

func healthOf(plane string, err error) sandbox.Health {
	if err != nil {
		return sandbox.Health{Plane: plane, Message: err.Error()}
	}
	return sandbox.Health{Plane: plane, OK: true}
}

func (s *Sandboxes) checkRoutes(ctx context.Context, rec sandbox.Record) error {
	for _, g := range rec.Guilds {
		id, active, err := s.store.Route(ctx, g)
		if err != nil {
			return err
		}
		if id != rec.ID {
			return fmt.Errorf("guild %s routes to %s", g, id)
		}
		if !active {
			return fmt.Errorf("guild %s is reserved but not yet routed (the reconciler activates it)", g)
		}
	}
	return nil
}

// List returns sandboxes, oldest first: by default those not destroyed. Everyone may list
// every sandbox.
func (s *Sandboxes) List(ctx context.Context, _ Caller, req sandbox.ListRequest) ([]sandbox.Record, error) {
	if req.Status != "" && !sandbox.ValidStatus(req.Status) {
		return nil, sandbox.Errorf(sandbox.CodeInvalidRequest, "unknown status %q (one of %v)", req.Status, sandbox.Statuses)
	}
	if req.Owner != "" {
		if err := sandbox.ValidateOwner(req.Owner); err != nil {
			return nil, err
		}
	}
	all, _, err := s.store.Records(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]sandbox.Record, 0, len(all))
	for _, r := range all {
		switch {
		case req.Owner != "" && r.Owner != req.Owner:
		case req.Status != "" && string(r.Status) != req.Status:
		case req.Status == "" && !req.All && !r.Status.Active():
		default:
			out = append(out, r)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].CreatedAt.Before(out[j].CreatedAt) })
	return out, nil
}
