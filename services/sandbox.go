package services

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/arrakis/gaib/jetstream"
	"github.com/arrakis/gaib/sandbox"
)

// SandboxConfig configures the sandbox service.
type SandboxConfig struct {
	// MaxPerOwner is how many sandboxes not destroyed one owner may have. Default 5.
	MaxPerOwner int
	// TTL bounds; defaults 24h, 1m and 168h.
	TTL sandbox.TTLBounds
	// StaleProvisioning is how long a sandbox may stay provisioning before it counts as
	// abandoned by a crashed create and may be destroyed. Default 10m.
	StaleProvisioning time.Duration
	// NATSURL is the NATS URL `connect` hands to bot workers.
	NATSURL string
	// Planes are provisioned in order on create, torn down in reverse on destroy.
	Planes []Plane
	// RouteSync, when set, is called after every route change.
	RouteSync RouteSync
	// Now is the clock; default time.Now.
	Now func() time.Time
}

func (c SandboxConfig) withDefaults() SandboxConfig {
	if c.MaxPerOwner <= 0 {
		c.MaxPerOwner = 5
	}
	if c.TTL.Default <= 0 {
		c.TTL.Default = 24 * time.Hour
	}
	if c.TTL.Min <= 0 {
		c.TTL.Min = time.Minute
	}
	if c.TTL.Max <= 0 {
		c.TTL.Max = 168 * time.Hour
	}
	if c.StaleProvisioning <= 0 {
		c.StaleProvisioning = 10 * time.Minute
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return c
}

// Sandboxes implements the lifecycle of sandboxes on top of the Store and the planes.
// Its methods are the bodies of the sandbox service's endpoints; the cleanup service calls
// Destroy too.
type Sandboxes struct {
	store   *jetstream.Store
	cfg     SandboxConfig
	log     *slog.Logger
	metrics *Metrics // nil: no metrics
}

// NewSandboxes returns the sandbox lifecycle over store.
func NewSandboxes(store *jetstream.Store, cfg SandboxConfig, log *slog.Logger) *Sandboxes {
	return &Sandboxes{store: store, cfg: cfg.withDefaults(), log: log}
}

func (s *Sandboxes) now() time.Time { return s.cfg.Now().UTC() }

// Create validates req and creates a sandbox: record (provisioning), name, quota slot,
// guild routes, then every plane, then running. It is all-or-nothing: on any failure what
// was done is undone and the cause is returned.
func (s *Sandboxes) Create(ctx context.Context, req sandbox.CreateRequest) (sandbox.Record, error) {
	rec, err := s.newRecord(req)
	if err != nil {
		return rec, err
	}
	if req.DryRun {
		return rec, s.dryRun(ctx, rec)
	}

	var undo undoStack
	fail := func(err error) (sandbox.Record, error) {
		undo.run(s.log, "create "+rec.ID)
		return sandbox.Record{}, err
	}
	if rec, err = s.store.CreateRecord(ctx, rec); err != nil {
		return fail(err)
	}
	undo.push(func(ctx context.Context) error { return s.store.DeleteRecord(ctx, rec.ID) })
	if err := s.store.ReserveName(ctx, rec.Name, rec.ID); err != nil {
		return fail(err)
	}
	undo.push(func(ctx context.Context) error { return s.store.ReleaseName(ctx, rec.Name, rec.ID) })
	if err := s.store.AcquireSlot(ctx, rec.Owner, rec.ID, s.cfg.MaxPerOwner); err != nil {
		return fail(err)
	}
	undo.push(func(ctx context.Context) error { return s.store.ReleaseSlot(ctx, rec.Owner, rec.ID) })
	var routeRev uint64
	for _, g := range rec.Guilds {
		rev, err := s.store.ClaimRoute(ctx, g, rec.ID)
		if err != nil {
			return fail(err)
		}
		routeRev = max(routeRev, rev)
		undo.push(func(ctx context.Context) error { _, err := s.store.ReleaseRoute(ctx, g, rec.ID); return err })
	}
	for _, p := range s.cfg.Planes {
		if err := p.Provision(ctx, rec); err != nil {
			if s.metrics != nil {
				s.metrics.ProvisioningErrors.WithLabelValues(p.Name()).Inc()
			}
			return fail(sandbox.Errorf(sandbox.CodeProvisioning, "%s: %v", p.Name(), err))
		}
		undo.push(func(ctx context.Context) error { return p.Teardown(ctx, rec) })
	}
	running, err := s.store.UpdateRecord(ctx, rec.ID, func(r *sandbox.Record) error {
		if r.Status != sandbox.StatusProvisioning {
			return sandbox.Errorf(sandbox.CodeWrongState, "sandbox %s became %s while it was created", r.ID, r.Status)
		}
		r.Status = sandbox.StatusRunning
		r.MigrationVersion = s.planeVersion()
		r.UpdatedAt = s.now()
		return nil
	})
	if err != nil {
		return fail(err)
	}
	s.audit(ctx, req.Owner, "create", nil, &running)
	if routeRev > 0 {
		s.syncRoutes(ctx, routeRev)
	}
	return running, nil
}

// newRecord validates a create request and returns the record it asks for.
func (s *Sandboxes) newRecord(req sandbox.CreateRequest) (sandbox.Record, error) {
	if err := sandbox.ValidateOwner(req.Owner); err != nil {
		return sandbox.Record{}, err
	}
	if req.Name == "" {
		req.Name = sandbox.DefaultName(req.Owner)
	}
	if err := sandbox.ValidateName(req.Name); err != nil {
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
	return sandbox.NewRecord(sandbox.NewID(), req.Name, req.Owner, ttl, guilds, s.now()), nil
}

// dryRun reports what would stop a create without changing anything.
func (s *Sandboxes) dryRun(ctx context.Context, rec sandbox.Record) error {
	if _, err := s.store.LookupName(ctx, rec.Name); err == nil {
		return sandbox.Errorf(sandbox.CodeNameTaken, "sandbox name %q is taken", rec.Name)
	}
	for _, g := range rec.Guilds {
		if _, err := s.store.Route(ctx, g); err == nil {
			return sandbox.Errorf(sandbox.CodeGuildTaken, "guild %s is registered to another sandbox", g)
		}
	}
	return nil
}

func (s *Sandboxes) planeVersion() string {
	var v []string
	for _, p := range s.cfg.Planes {
		if pv := p.Version(); pv != "" {
			v = append(v, pv)
		}
	}
	return strings.Join(v, ",")
}

// Resolve finds a sandbox by name (sandboxes not destroyed) or by id (any).
func (s *Sandboxes) Resolve(ctx context.Context, ref string) (sandbox.Record, error) {
	if ref == "" {
		return sandbox.Record{}, sandbox.Errorf(sandbox.CodeInvalidRequest, "no sandbox named: give a name or an id")
	}
	if err := sandbox.ValidateName(ref); err != nil {
		return sandbox.Record{}, err
	}
	id, err := s.store.LookupName(ctx, ref)
	if errors.Is(err, sandbox.ErrNotFound) && sandbox.ValidID(ref) {
		id, err = ref, nil
	}
	if err != nil {
		return sandbox.Record{}, err
	}
	rec, err := s.store.Record(ctx, id)
	if errors.Is(err, sandbox.ErrNotFound) {
		return rec, sandbox.Errorf(sandbox.CodeNotFound, "no sandbox named %q", ref)
	}
	return rec, err
}

// Status returns the record of ref with a live health check of every plane when it runs.
func (s *Sandboxes) Status(ctx context.Context, req sandbox.RefRequest) (sandbox.StatusResponse, error) {
	rec, err := s.Resolve(ctx, req.Sandbox)
	if err != nil {
		return sandbox.StatusResponse{}, err
	}
	out := sandbox.StatusResponse{Record: rec}
	if rec.Status != sandbox.StatusRunning {
		return out, nil
	}
	for _, p := range s.cfg.Planes {
		out.Health = append(out.Health, healthOf(p.Name(), p.Check(ctx, rec)))
	}
	if len(rec.Guilds) > 0 {
		out.Health = append(out.Health, healthOf("routes", s.checkRoutes(ctx, rec)))
	}
	return out, nil
}

func healthOf(plane string, err error) sandbox.Health {
	if err != nil {
		return sandbox.Health{Plane: plane, Message: err.Error()}
	}
	return sandbox.Health{Plane: plane, OK: true}
}

func (s *Sandboxes) checkRoutes(ctx context.Context, rec sandbox.Record) error {
	for _, g := range rec.Guilds {
		id, err := s.store.Route(ctx, g)
		if err != nil {
			return err
		}
		if id != rec.ID {
			return fmt.Errorf("guild %s routes to %s", g, id)
		}
	}
	return nil
}

// List returns sandboxes, oldest first: by default those not destroyed.
func (s *Sandboxes) List(ctx context.Context, req sandbox.ListRequest) ([]sandbox.Record, error) {
	if req.Status != "" && !sandbox.ValidStatus(req.Status) {
		return nil, sandbox.Errorf(sandbox.CodeInvalidRequest, "unknown status %q (one of %v)", req.Status, sandbox.Statuses)
	}
	if req.Owner != "" {
		if err := sandbox.ValidateOwner(req.Owner); err != nil {
			return nil, err
		}
	}
	all, err := s.store.Records(ctx)
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

// Extend adds TTL to a running sandbox's expiry; the time left afterwards must stay within
// the server's maximum.
func (s *Sandboxes) Extend(ctx context.Context, req sandbox.ExtendRequest) (sandbox.Record, error) {
	ttl, err := sandbox.ParseTTL(req.TTL)
	if err != nil {
		return sandbox.Record{}, err
	}
	rec, err := s.Resolve(ctx, req.Sandbox)
	if err != nil {
		return rec, err
	}
	before := rec
	rec, err = s.store.UpdateRecord(ctx, rec.ID, func(r *sandbox.Record) error {
		if r.Status != sandbox.StatusRunning {
			return sandbox.Errorf(sandbox.CodeWrongState, "sandbox %q is %s; only a running sandbox can be extended", r.Name, r.Status)
		}
		now := s.now()
		exp := r.ExpiresAt
		if exp.Before(now) {
			exp = now
		}
		exp = exp.Add(ttl)
		if left := exp.Sub(now); left > s.cfg.TTL.Max {
			return sandbox.Errorf(sandbox.CodeInvalidTTL,
				"extending by %s would leave %s to live; the maximum is %s (ttl must be between %s and %s)",
				sandbox.FormatTTL(ttl), sandbox.FormatTTL(left), sandbox.FormatTTL(s.cfg.TTL.Max),
				sandbox.FormatTTL(s.cfg.TTL.Min), sandbox.FormatTTL(s.cfg.TTL.Max))
		}
		r.ExpiresAt, r.UpdatedAt = exp, now
		return nil
	})
	if err != nil {
		return rec, err
	}
	s.audit(ctx, req.Actor, "extend", &before, &rec)
	return rec, nil
}

// Destroy removes everything a sandbox owns: routes first, then the planes in reverse
// order, its messages in the sandbox stream, its quota slot and its name; the record stays
// as destroyed. It is idempotent and resumable: a destroy that failed half-way (the record
// says destroying, with the error) finishes when called again.
func (s *Sandboxes) Destroy(ctx context.Context, req sandbox.RefRequest) (sandbox.Record, error) {
	rec, err := s.Resolve(ctx, req.Sandbox)
	if err != nil {
		return rec, err
	}
	return s.destroy(ctx, rec, req.Actor, "destroy")
}

func (s *Sandboxes) destroy(ctx context.Context, rec sandbox.Record, actor, action string) (sandbox.Record, error) {
	if rec.Status == sandbox.StatusDestroyed {
		return rec, nil
	}
	before := rec
	rec, err := s.store.UpdateRecord(ctx, rec.ID, func(r *sandbox.Record) error {
		switch {
		case r.Status == sandbox.StatusDestroyed:
			return errAlreadyDestroyed
		case r.Status == sandbox.StatusProvisioning && s.now().Sub(r.CreatedAt) < s.cfg.StaleProvisioning:
			return sandbox.Errorf(sandbox.CodeWrongState, "sandbox %q is still being created; try again in a moment", r.Name)
		}
		r.Status, r.UpdatedAt = sandbox.StatusDestroying, s.now()
		return nil
	})
	if errors.Is(err, errAlreadyDestroyed) {
		return s.store.Record(ctx, rec.ID)
	}
	if err != nil {
		return rec, err
	}
	if err := s.teardown(ctx, rec); err != nil {
		derr := sandbox.Errorf(sandbox.CodeInternal, "destroy of %q stopped: %v (run destroy again to resume)", rec.Name, err)
		_, _ = s.store.UpdateRecord(ctx, rec.ID, func(r *sandbox.Record) error {
			r.Error, r.UpdatedAt = derr, s.now()
			return nil
		})
		s.audit(ctx, actor, action+"-failed", &before, &rec)
		return rec, derr
	}
	rec, err = s.store.UpdateRecord(ctx, rec.ID, func(r *sandbox.Record) error {
		now := s.now()
		r.Status, r.UpdatedAt, r.DestroyedAt, r.Error = sandbox.StatusDestroyed, now, &now, nil
		return nil
	})
	if err != nil {
		return rec, err
	}
	s.audit(ctx, actor, action, &before, &rec)
	return rec, nil
}

var errAlreadyDestroyed = errors.New("already destroyed")

// teardown removes a sandbox's resources; every step is idempotent.
func (s *Sandboxes) teardown(ctx context.Context, rec sandbox.Record) error {
	var routeRev uint64
	for _, g := range rec.Guilds {
		rev, err := s.store.ReleaseRoute(ctx, g, rec.ID)
		if err != nil {
			return fmt.Errorf("route %s: %w", g, err)
		}
		routeRev = max(routeRev, rev)
	}
	if routeRev > 0 {
		s.syncRoutes(ctx, routeRev)
	}
	for _, p := range slices.Backward(s.cfg.Planes) {
		if err := p.Teardown(ctx, rec); err != nil {
			return fmt.Errorf("%s: %w", p.Name(), err)
		}
	}
	if err := s.store.PurgeSandboxMessages(ctx, rec.ID); err != nil {
		return fmt.Errorf("sandbox stream: %w", err)
	}
	if err := s.store.ReleaseSlot(ctx, rec.Owner, rec.ID); err != nil {
		return fmt.Errorf("quota slot: %w", err)
	}
	if err := s.store.ReleaseName(ctx, rec.Name, rec.ID); err != nil {
		return fmt.Errorf("name: %w", err)
	}
	return nil
}

func (s *Sandboxes) syncRoutes(ctx context.Context, rev uint64) string {
	if s.cfg.RouteSync == nil {
		return ""
	}
	w := s.cfg.RouteSync(ctx, rev)
	if w != "" {
		s.log.Warn("route change not confirmed by every router", "revision", rev, "warning", w)
	}
	return w
}

func (s *Sandboxes) audit(ctx context.Context, actor, action string, before, after *sandbox.Record) {
	id := ""
	if after != nil {
		id = after.ID
	} else if before != nil {
		id = before.ID
	}
	if actor == "" {
		actor = "gaib"
	}
	if err := s.store.Audit(ctx, jetstream.AuditEntry{Actor: actor, Action: action, SandboxID: id, Before: before, After: after}); err != nil {
		s.log.Error("audit", "action", action, "sandbox", id, "err", err)
	}
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

// undoStack collects the compensations of a multi-step operation and runs them in reverse.
// They run on a fresh context so that a cancelled request is still cleaned up.
type undoStack []func(context.Context) error

func (u *undoStack) push(f func(context.Context) error) { *u = append(*u, f) }

func (u undoStack) run(log *slog.Logger, what string) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for _, f := range slices.Backward(u) {
		if err := f(ctx); err != nil {
			log.Error("undo failed; cleanup will finish it", "op", what, "err", err)
		}
	}
}
