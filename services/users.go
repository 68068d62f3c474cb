package services

import (
	"context"
	"encoding/json"
	"log/slog"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/micro"

	"github.com/arrakis/gaib/jetstream"
	"github.com/arrakis/gaib/sandbox"
)

// AddUser issues a new identity and its credential (admins only). The credential is in the
// answer only; gaib keeps its public key to revoke it.
func (s *Sandboxes) AddUser(ctx context.Context, c Caller, req sandbox.UserAddRequest) (sandbox.UserAddResponse, error) {
	if err := requireAdmin(c, "add users"); err != nil {
		return sandbox.UserAddResponse{}, err
	}
	if s.cfg.Issuer == nil {
		return sandbox.UserAddResponse{}, sandbox.Errorf(sandbox.CodeUnavailable, "this mesh runs without NATS authentication: it cannot issue credentials")
	}
	if err := sandbox.ValidateNewIdentity(req.Name); err != nil {
		return sandbox.UserAddResponse{}, err
	}
	if req.Role == "" {
		req.Role = sandbox.RoleDeveloper
	}
	if !sandbox.ValidRole(string(req.Role)) {
		return sandbox.UserAddResponse{}, sandbox.Errorf(sandbox.CodeInvalidRequest, "unknown role %q (one of %v)", req.Role, sandbox.Roles)
	}
	var expires time.Time
	if req.TTL != "" {
		ttl, err := sandbox.ParseTTL(req.TTL)
		if err != nil {
			return sandbox.UserAddResponse{}, err
		}
		expires = s.now().Add(ttl)
	}
	creds, pub, err := s.cfg.Issuer.NewIdentity(req.Name, req.Role, expires)
	if err != nil {
		return sandbox.UserAddResponse{}, err
	}
	u := sandbox.User{Name: req.Name, Role: req.Role, Keys: []string{pub}, CreatedAt: s.now(), CreatedBy: c.Name, Expires: expires}
	if err := s.store.CreateUser(ctx, u); err != nil {
		return sandbox.UserAddResponse{}, err
	}
	s.auditChange(ctx, auditUsers, c.Name, "user-add", u)
	return sandbox.UserAddResponse{User: u, Credentials: string(creds)}, nil
}

// ListUsers returns every identity (admins only).
func (s *Sandboxes) ListUsers(ctx context.Context, c Caller, _ struct{}) ([]sandbox.User, error) {
	if err := requireAdmin(c, "list users"); err != nil {
		return nil, err
	}
	return s.store.Users(ctx)
}

// RevokeUser revokes an identity (admins only): every credential it holds stops working at
// once and its connected clients are disconnected; its sandboxes stay (an admin may
// destroy them).
func (s *Sandboxes) RevokeUser(ctx context.Context, c Caller, req sandbox.UserRequest) (sandbox.User, error) {
	if err := requireAdmin(c, "revoke users"); err != nil {
		return sandbox.User{}, err
	}
	if req.Name == c.Name {
		return sandbox.User{}, sandbox.Errorf(sandbox.CodeInvalidRequest, "you cannot revoke yourself: ask another admin")
	}
	now := s.now()
	u, err := s.store.UpdateUser(ctx, req.Name, func(u *sandbox.User) error {
		if u.RevokedAt == nil {
			u.RevokedAt, u.RevokedBy = &now, c.Name
		}
		return nil
	})
	if err != nil {
		return u, err
	}
	if s.cfg.Account != nil {
		for _, k := range u.Keys {
			if err := s.cfg.Account.Revoke(ctx, k, now, untilOf(u.Expires)); err != nil {
				return u, err
			}
		}
		// The identity's credentials must be dead before this returns: the name may be
		// issued again at once, and an old credential must not act as the new identity.
		if err := s.cfg.Account.Flush(ctx); err != nil {
			return u, err
		}
	}
	s.auditChange(ctx, auditUsers, c.Name, "user-revoke", u)
	return u, nil
}

// untilOf is how long a revocation must stay: until the credential expires, or forever.
func untilOf(expires time.Time) time.Time {
	if expires.IsZero() {
		return time.Time{}
	}
	return expires.Add(credentialGrace)
}

// WhoAmI says who the mesh takes the caller for.
func (s *Sandboxes) WhoAmI(_ context.Context, c Caller, _ struct{}) (sandbox.WhoAmIResponse, error) {
	return sandbox.WhoAmIResponse{Name: c.Name, Role: c.Role}, nil
}

// auditChange records a change that concerns no sandbox under kind (auditUsers,
// auditGuilds), with what changed as JSON.
func (s *Sandboxes) auditChange(ctx context.Context, kind, actor, action string, v any) {
	b, _ := json.Marshal(v)
	s.auditEntry(ctx, jetstream.AuditEntry{Actor: actor, Action: action, SandboxID: kind, Detail: string(b)})
}

// The audit "ids" of changes that concern no sandbox: gaib.audit.users.<action> and
// gaib.audit.guilds.<action> (sandbox ids have 10 characters, so these never collide).
const (
	auditUsers  = "users"
	auditGuilds = "guilds"
)

// AddUserService registers one instance of the user micro service.
func AddUserService(ctx context.Context, nc *nats.Conn, sb *Sandboxes, log *slog.Logger) (micro.Service, error) {
	return addService(nc, sandbox.ServiceUser, "gaib identities: issue, list and revoke credentials",
		func(e *micro.NATSError) { log.Warn("user service", "subject", e.Subject, "err", e.Description) },
		append(sb.tokenEndpoints(ctx, log), endpoint{op: sandbox.OpUserAdd, handler: handle(ctx, log, sb.store, sb.AddUser),
			description: "Issue an identity and its credential (admins)", request: "UserAddRequest {name, role, ttl}", response: "UserAddResponse {user, credentials}"},
			endpoint{op: sandbox.OpUserList, handler: handle(ctx, log, sb.store, sb.ListUsers),
				description: "List identities (admins)", request: "{}", response: "[]User"},
			endpoint{op: sandbox.OpUserRevoke, handler: handle(ctx, log, sb.store, sb.RevokeUser),
				description: "Revoke an identity: its credentials stop working at once (admins)", request: "UserRequest {name}", response: "User"},
			endpoint{op: sandbox.OpWhoAmI, handler: handle(ctx, log, sb.store, sb.WhoAmI),
				description: "Who the mesh takes the caller for", request: "{}", response: "WhoAmIResponse {name, role}"})...,
	)
}
