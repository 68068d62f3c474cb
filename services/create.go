package services

import (
	"context"
	"errors"
	"slices"

	"github.com/arrakis/gaib/jetstream"
	"github.com/arrakis/gaib/sandbox"
)

// Create validates req and creates a sandbox owned by the caller (or, for an admin, by
// req.Owner): record (provisioning, leased to this instance), name, quota slots, guild
// routes (pending: reserved, but events still go to production), then every plane, then
// running, then the routes are activated. It is all-or-nothing: on any failure what was
// done is undone and the cause is returned; if this instance dies half-way, the recovery
// undoes it once the lease is abandoned.
func (s *Sandboxes) Create(ctx context.Context, c Caller, req sandbox.CreateRequest) (sandbox.Record, error) {
	owner, err := s.owner(ctx, c, req.Owner)
	if err != nil {
		return sandbox.Record{}, err
	}
	rec, err := s.newRecord(owner, req)
	if err != nil {
		return rec, err
	}
	if err := s.checkGuilds(ctx, c, owner, rec.Guilds); err != nil {
		return sandbox.Record{}, err
	}
	if err := sandbox.ValidateConfigVars(req.Config); err != nil {
		return sandbox.Record{}, err
	}
	if req.DryRun {
		return rec, s.dryRun(ctx, rec)
	}

	var undo undoStack
	fail := func(err error) (sandbox.Record, error) {
		undo.run(s.log, "create "+rec.ID)
		if ctx.Err() != nil {
			// The caller stopped waiting: it was (or will be) told there was no answer, and
			// indeed nothing was created. A retry with the same key creates it.
			return sandbox.Record{}, sandbox.Errorf(sandbox.CodeUnavailable,
				"the create of %q ran out of time and was undone (%v): nothing was created", rec.Name, err)
		}
		return sandbox.Record{}, err
	}
	rec.Lease = &sandbox.Lease{Holder: s.instance, Token: sandbox.NewID(), Op: sandbox.LeaseCreate, Actor: c.Name, Since: s.now()}
	token := rec.Lease.Token
	if rec, err = s.store.CreateRecord(ctx, rec); err != nil {
		return fail(err)
	}
	undo.push(func(ctx context.Context) error { return s.store.DeleteRecord(ctx, rec.ID) })
	if err := s.initConfig(ctx, rec.ID, c.Name, req.Config, &undo); err != nil {
		return fail(err)
	}
	err = s.store.ReserveName(ctx, rec.Name, rec.ID)
	if errors.Is(err, sandbox.ErrNameTaken) && s.recoverName(ctx, rec.Name) {
		err = s.store.ReserveName(ctx, rec.Name, rec.ID)
	}
	if err != nil {
		return fail(err)
	}
	undo.push(func(ctx context.Context) error { return s.store.ReleaseName(ctx, rec.Name, rec.ID) })
	err = s.store.AcquireSlot(ctx, rec.Owner, rec.ID, s.cfg.MaxPerOwner)
	if errors.Is(err, sandbox.ErrQuotaExceeded) && s.recoverSlots(ctx, rec.Owner) {
		err = s.store.AcquireSlot(ctx, rec.Owner, rec.ID, s.cfg.MaxPerOwner)
	}
	if err != nil {
		return fail(err)
	}
	undo.push(func(ctx context.Context) error { return s.store.ReleaseSlot(ctx, rec.Owner, rec.ID) })
	if s.cfg.MaxSandboxes > 0 {
		if err := s.store.AcquireMeshSlot(ctx, rec.ID, s.cfg.MaxSandboxes); err != nil {
			return fail(err)
		}
		undo.push(func(ctx context.Context) error { return s.store.ReleaseMeshSlot(ctx, rec.ID) })
	}
	for _, g := range rec.Guilds {
		_, err := s.store.ClaimRoute(ctx, g, rec.ID, true)
		if errors.Is(err, sandbox.ErrGuildTaken) && s.recoverGuild(ctx, g) {
			_, err = s.store.ClaimRoute(ctx, g, rec.ID, true)
		}
		if err != nil {
			return fail(s.guildTaken(ctx, g, err))
		}
		undo.push(func(ctx context.Context) error { _, err := s.store.ReleaseRoute(ctx, g, rec.ID); return err })
	}
	for _, p := range s.cfg.Planes {
		// Torn down even when Provision fails: a call whose answer was lost (a NATS node
		// lost mid-request, the deadline passed) may have done its work all the same, and
		// Teardown removes what is there, idempotently.
		undo.push(func(ctx context.Context) error { return p.Teardown(ctx, rec) })
		if err := p.Provision(ctx, rec); err != nil {
			if s.metrics != nil {
				s.metrics.ProvisioningErrors.WithLabelValues(p.Name()).Inc()
			}
			return fail(provisionError(p.Name(), err))
		}
	}
	running, err := s.store.UpdateRecord(ctx, rec.ID, func(r *sandbox.Record) error {
		if r.Status != sandbox.StatusProvisioning {
			return sandbox.Errorf(sandbox.CodeWrongState, "sandbox %s became %s while it was created", r.ID, r.Status)
		}
		if r.Lease == nil || r.Lease.Token != token {
			return sandbox.Errorf(sandbox.CodeUnavailable, "the create of %s took too long and was taken over", r.ID)
		}
		r.Status, r.Lease = sandbox.StatusRunning, nil
		r.MigrationVersion = s.planeVersion()
		r.UpdatedAt = s.now()
		return nil
	})
	if err != nil {
		return fail(err)
	}
	// Running: now the guilds' events may go to it. A route that fails to activate here is
	// activated by the reconciler; the sandbox is created either way.
	var routeRev uint64
	for _, g := range running.Guilds {
		rev, err := s.store.ActivateRoute(ctx, g, running.ID)
		if err != nil {
			s.log.Warn("activate route; the reconciler will", "guild", g, "sandbox", running.ID, "err", err)
			continue
		}
		routeRev = max(routeRev, rev)
	}
	e := jetstream.AuditEntry{Actor: c.Name, Action: "create", SandboxID: running.ID, After: &running}
	if running.Owner != c.Name {
		e.Detail = "on behalf of " + running.Owner
	}
	s.auditEntry(ctx, e)
	s.auditCreatedConfig(ctx, c.Name, running.ID, req.Config)
	s.syncRoutes(ctx, routeRev)
	return running, nil
}

// provisionError is a plane's failure to provision: unavailable when its store is away
// for a moment (a NATS cluster node lost or returning), so that the outcome is not kept
// for the idempotency key and the client retries, else provisioning_failed (final).
func provisionError(plane string, err error) error {
	code := sandbox.CodeProvisioning
	if errors.Is(err, sandbox.ErrUnavailable) {
		code = sandbox.CodeUnavailable
	}
	return sandbox.Errorf(code, "%s: %v", plane, err)
}

// owner is who a new sandbox belongs to: the caller, or for an admin another identity.
func (s *Sandboxes) owner(ctx context.Context, c Caller, asked string) (string, error) {
	if asked == "" || asked == c.Name {
		return c.Name, nil
	}
	if err := requireAdmin(c, "create a sandbox for someone else"); err != nil {
		return "", err
	}
	if err := sandbox.ValidateOwner(asked); err != nil {
		return "", err
	}
	u, err := s.store.User(ctx, asked)
	if err != nil {
		return "", err
	}
	if !u.Active() {
		return "", sandbox.Errorf(sandbox.CodeInvalidOwner, "identity %q was revoked", asked)
	}
	return u.Name, nil
}

// newRecord validates a create request and returns the record it asks for.
func (s *Sandboxes) newRecord(owner string, req sandbox.CreateRequest) (sandbox.Record, error) {
	if req.Name == "" {
		req.Name = sandbox.DefaultName(owner)
	}
	if err := sandbox.ValidateNewName(req.Name); err != nil {
		return sandbox.Record{}, err
	}
	ttl := s.cfg.TTL.Default
	if req.TTL != "" {
		var err error
		if ttl, err = sandbox.ParseTTL(req.TTL); err != nil {
			return sandbox.Record{}, err
		}
	}
	if err := s.cfg.TTL.Check(ttl); err != nil {
		return sandbox.Record{}, err
	}
	guilds, err := uniqueGuilds(req.Guilds)
	if err != nil {
		return sandbox.Record{}, err
	}
	if len(guilds) > s.cfg.MaxGuilds {
		return sandbox.Record{}, sandbox.Errorf(sandbox.CodeTooManyGuilds,
			"%d guilds asked; a sandbox may have at most %d", len(guilds), s.cfg.MaxGuilds)
	}
	return sandbox.NewRecord(sandbox.NewID(), req.Name, owner, ttl, guilds, s.now()), nil
}

// checkGuilds lets admins route any guild, and developers only guilds on the allow-list
// that are open to anyone or reserved to the sandbox's owner.
func (s *Sandboxes) checkGuilds(ctx context.Context, c Caller, owner string, guilds []string) error {
	if c.Admin() {
		return nil
	}
	for _, g := range guilds {
		a, err := s.store.AllowedGuild(ctx, g)
		if errors.Is(err, sandbox.ErrNotFound) {
			return sandbox.Errorf(sandbox.CodeGuildNotAllowed,
				"guild %s is not on the allow-list of test guilds: ask an admin (gaib guild allow %s)", g, g)
		}
		if err != nil {
			return err
		}
		if a.Owner != "" && a.Owner != owner {
			return sandbox.Errorf(sandbox.CodeGuildNotAllowed, "guild %s is reserved to %s", g, a.Owner)
		}
	}
	return nil
}

// guildTaken turns a route conflict into an error naming the sandbox and owner holding it.
func (s *Sandboxes) guildTaken(ctx context.Context, guild string, err error) error {
	if !errors.Is(err, sandbox.ErrGuildTaken) {
		return err
	}
	id, _, rerr := s.store.Route(ctx, guild)
	if rerr != nil {
		return err
	}
	if rec, rerr := s.store.Record(ctx, id); rerr == nil {
		return sandbox.Errorf(sandbox.CodeGuildTaken, "guild %s is registered to sandbox %q of %s", guild, rec.Name, rec.Owner)
	}
	return sandbox.Errorf(sandbox.CodeGuildTaken, "guild %s is registered to sandbox %s", guild, id)
}

// dryRun reports what would stop a create without changing anything.
func (s *Sandboxes) dryRun(ctx context.Context, rec sandbox.Record) error {
	if _, err := s.store.LookupName(ctx, rec.Name); err == nil {
		return sandbox.Errorf(sandbox.CodeNameTaken, "sandbox name %q is taken", rec.Name)
	}
	for _, g := range rec.Guilds {
		if _, _, err := s.store.Route(ctx, g); err == nil {
			return s.guildTaken(ctx, g, sandbox.ErrGuildTaken)
		}
	}
	return nil
}

func uniqueGuilds(in []string) ([]string, error) {
	out := []string{}
	for _, g := range in {
		if err := sandbox.ValidateGuildID(g); err != nil {
			return nil, err
		}
		if !slices.Contains(out, g) {
			out = append(out, g)
		}
	}
	return out, nil
}
