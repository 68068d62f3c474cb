package services

import (
	"context"
	"slices"

	"github.com/arrakis/gaib/sandbox"
)

// RegisterGuild routes a guild's events to a running sandbox. The record lists the guild
// before the route is claimed, so a destroy always finds every route it must remove; the
// claim itself is atomic, so of concurrent registrations of one guild exactly one wins.
// It returns once every router has applied the route (or with a warning).
func (s *Sandboxes) RegisterGuild(ctx context.Context, req sandbox.GuildRequest) (sandbox.GuildResponse, error) {
	rec, err := s.guildTarget(ctx, req)
	if err != nil {
		return sandbox.GuildResponse{}, err
	}
	before := rec
	added := false
	rec, err = s.store.UpdateRecord(ctx, rec.ID, func(r *sandbox.Record) error {
		if r.Status != sandbox.StatusRunning {
			return sandbox.Errorf(sandbox.CodeWrongState, "sandbox %q is %s; guilds can be registered only to a running sandbox", r.Name, r.Status)
		}
		added = !slices.Contains(r.Guilds, req.Guild)
		if added {
			r.Guilds = append(r.Guilds, req.Guild)
			r.UpdatedAt = s.now()
		}
		return nil
	})
	if err != nil {
		return sandbox.GuildResponse{}, err
	}
	rev, err := s.store.ClaimRoute(ctx, req.Guild, rec.ID)
	if err != nil {
		if added {
			_, _ = s.store.UpdateRecord(context.WithoutCancel(ctx), rec.ID, func(r *sandbox.Record) error {
				r.Guilds = slices.DeleteFunc(r.Guilds, func(g string) bool { return g == req.Guild })
				return nil
			})
		}
		return sandbox.GuildResponse{}, err
	}
	s.audit(ctx, req.Actor, "register-guild", &before, &rec)
	return sandbox.GuildResponse{Record: rec, Warning: s.syncRoutes(ctx, rev)}, nil
}

// UnregisterGuild sends a guild's events back to production. It returns once every router
// has applied the change (or with a warning).
func (s *Sandboxes) UnregisterGuild(ctx context.Context, req sandbox.GuildRequest) (sandbox.GuildResponse, error) {
	rec, err := s.guildTarget(ctx, req)
	if err != nil {
		return sandbox.GuildResponse{}, err
	}
	if !slices.Contains(rec.Guilds, req.Guild) {
		return sandbox.GuildResponse{}, sandbox.Errorf(sandbox.CodeNotFound, "guild %s is not registered to sandbox %q", req.Guild, rec.Name)
	}
	before := rec
	rev, err := s.store.ReleaseRoute(ctx, req.Guild, rec.ID)
	if err != nil {
		return sandbox.GuildResponse{}, err
	}
	rec, err = s.store.UpdateRecord(ctx, rec.ID, func(r *sandbox.Record) error {
		r.Guilds = slices.DeleteFunc(r.Guilds, func(g string) bool { return g == req.Guild })
		r.UpdatedAt = s.now()
		return nil
	})
	if err != nil {
		return sandbox.GuildResponse{}, err
	}
	s.audit(ctx, req.Actor, "unregister-guild", &before, &rec)
	return sandbox.GuildResponse{Record: rec, Warning: s.syncRoutes(ctx, rev)}, nil
}

// guildTarget validates a guild request and resolves its sandbox.
func (s *Sandboxes) guildTarget(ctx context.Context, req sandbox.GuildRequest) (sandbox.Record, error) {
	if err := sandbox.ValidateGuildID(req.Guild); err != nil {
		return sandbox.Record{}, err
	}
	return s.Resolve(ctx, req.Sandbox)
}
