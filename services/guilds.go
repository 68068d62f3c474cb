package services

import (
	"context"
	"fmt"
	"slices"

	"github.com/arrakis/gaib/sandbox"
)

// RegisterGuild routes a guild's events to a running sandbox (owner or admin; developers
// only allowed guilds). The record lists the guild before the route is claimed, so a
// destroy always finds every route it must remove; the claim itself is atomic, so of
// concurrent registrations of one guild exactly one wins. A registration that races a
// destroy is undone: after the claim the record must still be running. It returns once
// every router has applied the route (or with a warning). Registering a guild the sandbox
// already has succeeds with a note; one that another sandbox holds is guild_taken, naming
// that sandbox and its owner.
func (s *Sandboxes) RegisterGuild(ctx context.Context, c Caller, req sandbox.GuildRequest) (sandbox.GuildResponse, error) {
	rec, err := s.guildTarget(ctx, c, req, "register a guild to")
	if err != nil {
		return sandbox.GuildResponse{}, err
	}
	if err := s.checkGuilds(ctx, c, rec.Owner, []string{req.Guild}); err != nil {
		return sandbox.GuildResponse{}, err
	}
	before := rec
	added := false
	rec, err = s.store.UpdateRecord(ctx, rec.ID, func(r *sandbox.Record) error {
		if r.Status != sandbox.StatusRunning {
			return sandbox.Errorf(sandbox.CodeWrongState, "sandbox %q is %s; guilds can be registered only to a running sandbox", r.Name, r.Status)
		}
		added = !slices.Contains(r.Guilds, req.Guild)
		if added && len(r.Guilds) >= s.cfg.MaxGuilds {
			return sandbox.Errorf(sandbox.CodeTooManyGuilds, "sandbox %q already has %d guilds, the most a sandbox may have", r.Name, len(r.Guilds))
		}
		if added {
			r.Guilds = append(r.Guilds, req.Guild)
			r.UpdatedAt = s.now()
		}
		return nil
	})
	if err != nil {
		return sandbox.GuildResponse{}, err
	}
	undoRecord := func() {
		if added {
			_, _ = s.store.UpdateRecord(context.WithoutCancel(ctx), rec.ID, func(r *sandbox.Record) error {
				r.Guilds = slices.DeleteFunc(r.Guilds, func(g string) bool { return g == req.Guild })
				return nil
			})
		}
	}
	rev, err := s.store.ClaimRoute(ctx, req.Guild, rec.ID, false)
	if err != nil {
		undoRecord()
		return sandbox.GuildResponse{}, s.guildTaken(ctx, req.Guild, err)
	}
	// A destroy that started after the record update above either saw the route (and
	// removes it) or ran before the claim; then the record is no longer running here.
	if cur, err := s.store.Record(ctx, rec.ID); err != nil || cur.Status != sandbox.StatusRunning {
		rrev, _ := s.store.ReleaseRoute(context.WithoutCancel(ctx), req.Guild, rec.ID)
		s.syncRoutes(ctx, rrev)
		if err != nil {
			return sandbox.GuildResponse{}, err
		}
		return sandbox.GuildResponse{}, sandbox.Errorf(sandbox.CodeWrongState,
			"sandbox %q became %s while the guild was registered; the registration was undone", cur.Name, cur.Status)
	}
	resp := sandbox.GuildResponse{Record: rec, Warning: s.syncRoutes(ctx, rev)}
	if !added {
		resp.Note = fmt.Sprintf("Guild %s already routes to sandbox %s; nothing to do.", req.Guild, rec.Name)
		return resp, nil
	}
	s.audit(ctx, c.Name, "register-guild", &before, &rec)
	return resp, nil
}

// UnregisterGuild sends a guild's events back to production (owner or admin). It returns
// once every router has applied the change (or with a warning). A guild the sandbox does
// not have (never had, unregistered already, or the sandbox is destroyed) is already not
// routed there: that succeeds with a note saying where its events go.
func (s *Sandboxes) UnregisterGuild(ctx context.Context, c Caller, req sandbox.GuildRequest) (sandbox.GuildResponse, error) {
	rec, err := s.guildTarget(ctx, c, req, "unregister a guild from")
	if err != nil {
		return sandbox.GuildResponse{}, err
	}
	if !slices.Contains(rec.Guilds, req.Guild) || rec.Status == sandbox.StatusDestroyed {
		return sandbox.GuildResponse{Record: rec, Note: s.notRouted(ctx, req.Guild, rec)}, nil
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
	s.audit(ctx, c.Name, "unregister-guild", &before, &rec)
	return sandbox.GuildResponse{Record: rec, Warning: s.syncRoutes(ctx, rev)}, nil
}

// guildTarget validates a guild request, resolves its sandbox and checks the caller may
// act on it.
func (s *Sandboxes) guildTarget(ctx context.Context, c Caller, req sandbox.GuildRequest, what string) (sandbox.Record, error) {
	if err := sandbox.ValidateGuildID(req.Guild); err != nil {
		return sandbox.Record{}, err
	}
	rec, err := s.Resolve(ctx, req.Sandbox)
	if err != nil {
		return rec, err
	}
	return rec, authorize(c, rec, what)
}

// notRouted is the note of an unregister with nothing to do: where the guild's events go.
func (s *Sandboxes) notRouted(ctx context.Context, guild string, rec sandbox.Record) string {
	where := "production"
	if id, _, err := s.store.Route(ctx, guild); err == nil && id != rec.ID {
		where = "sandbox " + id
		if other, err := s.store.Record(ctx, id); err == nil {
			where = fmt.Sprintf("sandbox %s of %s", other.Name, other.Owner)
		}
	}
	return fmt.Sprintf("Guild %s is not registered to sandbox %s (its events go to %s); nothing to do.", guild, rec.Name, where)
}
