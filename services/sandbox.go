package services

import (
	"context"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/arrakis/gaib/jetstream"
	"github.com/arrakis/gaib/sandbox"
)

// SandboxConfig configures the sandbox service.
type SandboxConfig struct {
	// MaxPerOwner is how many sandboxes not destroyed one owner may have. Default 5.
	MaxPerOwner int
	// MaxGuilds is how many guilds one sandbox may have. Default 10.
	MaxGuilds int
	// MaxSandboxes is how many sandboxes not destroyed the mesh holds at most (what the
	// shared Postgres has connections for); 0 is no limit.
	MaxSandboxes int
	// TTL bounds; defaults 24h, 1m and 168h.
	TTL sandbox.TTLBounds
	// StaleProvisioning is how long a sandbox may stay provisioning before it counts as
	// abandoned by a crashed create and may be destroyed. Default 10m.
	StaleProvisioning time.Duration
	// NATSURL is the NATS URL `connect` hands to bot workers.
	NATSURL string
	// Planes are provisioned in order on create, torn down in reverse on destroy.
	Planes []Plane
	// Issuer mints NATS credentials (identities and sandboxes); nil when the mesh runs
	// without NATS authentication (then connect hands out no credential).
	Issuer Issuer
	// Account revokes NATS keys in the account JWT on the servers; nil without
	// authentication.
	Account Revoker
	// RouteSync, when set, is called after every route change.
	RouteSync RouteSync
	// Now is the clock; default time.Now.
	Now func() time.Time
}

func (c SandboxConfig) withDefaults() SandboxConfig {
	if c.MaxPerOwner <= 0 {
		c.MaxPerOwner = 5
	}
	if c.MaxGuilds <= 0 {
		c.MaxGuilds = 10
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

// Issuer mints NATS credentials of the gaib account (package auth implements it).
type Issuer interface {
	// NewIdentity creates a key pair for an identity and returns its .creds document and
	// public key.
	NewIdentity(name string, role sandbox.Role, expires time.Time) (creds []byte, pub string, err error)
	// Sandbox returns the .creds document of sandbox id, valid until expires.
	Sandbox(id string, expires time.Time) ([]byte, error)
	// SandboxKey is the user public key of sandbox id's credentials.
	SandboxKey(id string) (string, error)
}

// Revoker revokes NATS user keys (package auth's Publisher): Revoke records it durably and
// the servers apply it moments later; Flush waits until they have.
type Revoker interface {
	Revoke(ctx context.Context, pub string, at, until time.Time) error
	Flush(ctx context.Context) error
}

// Sandboxes implements the lifecycle of sandboxes on top of the Store and the planes.
// Its methods are the bodies of the sandbox service's endpoints; the cleanup service calls
// Destroy too.
type Sandboxes struct {
	store   *jetstream.Store
	cfg     SandboxConfig
	log     *slog.Logger
	metrics *Metrics // nil: no metrics
	watch   *watchHub
	health  healthCache
	// instance is this process's instance id (see runHeartbeat).
	instance string
}

// NewSandboxes returns the sandbox lifecycle over store.
func NewSandboxes(store *jetstream.Store, cfg SandboxConfig, log *slog.Logger) *Sandboxes {
	return &Sandboxes{store: store, cfg: cfg.withDefaults(), log: log, watch: newWatchHub(), instance: newInstanceID()}
}

func (s *Sandboxes) now() time.Time { return s.cfg.Now().UTC() }

func (s *Sandboxes) planeVersion() string {
	var v []string
	for _, p := range s.cfg.Planes {
		if pv := p.Version(); pv != "" {
			v = append(v, pv)
		}
	}
	return strings.Join(v, ",")
}

func (s *Sandboxes) syncRoutes(ctx context.Context, rev uint64) string {
	if s.cfg.RouteSync == nil || rev == 0 {
		return ""
	}
	w := s.cfg.RouteSync(ctx, rev)
	if w != "" {
		s.log.Warn("route change not confirmed by every router", "revision", rev, "warning", w)
	}
	return w
}

// audit records a change to a sandbox with the authenticated actor.
func (s *Sandboxes) audit(ctx context.Context, actor, action string, before, after *sandbox.Record) {
	id := ""
	if after != nil {
		id = after.ID
	} else if before != nil {
		id = before.ID
	}
	s.auditEntry(ctx, jetstream.AuditEntry{Actor: actor, Action: action, SandboxID: id, Before: before, After: after})
}

func (s *Sandboxes) auditEntry(ctx context.Context, e jetstream.AuditEntry) {
	if e.Actor == "" {
		e.Actor = sandbox.ActorMesh
	}
	if err := s.store.Audit(context.WithoutCancel(ctx), e); err != nil {
		s.log.Error("audit", "action", e.Action, "sandbox", e.SandboxID, "err", err)
	}
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
