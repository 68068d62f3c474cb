package services

import (
	"context"
	"crypto/subtle"
	"errors"
	"log/slog"
	"time"

	"github.com/arrakis/gaib/sandbox"
)

// IssueToken issues a bearer token for an active admin or developer (admins only). The
// token is in the answer only; gaib keeps a hash of its secret. It acts exactly as its
// identity does, and dies with it.
func (s *Sandboxes) IssueToken(ctx context.Context, c Caller, req sandbox.TokenIssueRequest) (sandbox.TokenIssueResponse, error) {
	if err := requireAdmin(c, "issue API tokens"); err != nil {
		return sandbox.TokenIssueResponse{}, err
	}
	if len(req.Note) > maxNoteLen {
		return sandbox.TokenIssueResponse{}, sandbox.Errorf(sandbox.CodeInvalidRequest, "note is longer than %d bytes", maxNoteLen)
	}
	u, err := s.activeUser(ctx, req.Name)
	if err != nil {
		return sandbox.TokenIssueResponse{}, err
	}
	if u.Role != sandbox.RoleAdmin && u.Role != sandbox.RoleDeveloper {
		return sandbox.TokenIssueResponse{}, sandbox.Errorf(sandbox.CodeInvalidRequest, "identity %q is a %s: API tokens are for admins and developers", u.Name, u.Role)
	}
	now := s.now()
	var expires time.Time
	if req.TTL != "" {
		ttl, err := sandbox.ParseTTL(req.TTL)
		if err != nil {
			return sandbox.TokenIssueResponse{}, err
		}
		expires = now.Add(ttl)
	}
	id, secret, token := sandbox.NewToken()
	t := sandbox.Token{ID: id, Identity: u.Name, IdentityCreated: u.CreatedAt, Hash: sandbox.TokenHash(id, secret),
		CreatedAt: now, CreatedBy: c.Name, Expires: expires, Note: req.Note}
	if err := s.store.CreateToken(ctx, t); err != nil {
		return sandbox.TokenIssueResponse{}, err
	}
	s.auditChange(ctx, auditUsers, c.Name, "token-issue", t.Public())
	return sandbox.TokenIssueResponse{Info: t.Public(), Token: token}, nil
}

// ListTokens returns an identity's tokens without their hashes (admins only).
func (s *Sandboxes) ListTokens(ctx context.Context, c Caller, req sandbox.UserRequest) ([]sandbox.Token, error) {
	if err := requireAdmin(c, "list API tokens"); err != nil {
		return nil, err
	}
	if _, err := s.store.User(ctx, req.Name); err != nil {
		return nil, err
	}
	ts, err := s.store.Tokens(ctx, req.Name)
	for i := range ts {
		ts[i] = ts[i].Public()
	}
	return ts, err
}

// RevokeToken deletes one token of an identity (admins only): it stops working at once.
func (s *Sandboxes) RevokeToken(ctx context.Context, c Caller, req sandbox.TokenRevokeRequest) (sandbox.Token, error) {
	if err := requireAdmin(c, "revoke API tokens"); err != nil {
		return sandbox.Token{}, err
	}
	t, err := s.store.Token(ctx, req.ID)
	if err == nil && t.Identity != req.Name {
		err = sandbox.Errorf(sandbox.CodeNotFound, "identity %q has no token %q", req.Name, req.ID)
	}
	if err != nil {
		return sandbox.Token{}, err
	}
	if err := s.store.DeleteToken(ctx, t.ID); err != nil {
		return sandbox.Token{}, err
	}
	s.auditChange(ctx, auditUsers, c.Name, "token-revoke", t.Public())
	return t.Public(), nil
}

// Authenticate verifies a bearer token for the mesh (only the mesh may ask: the REST API)
// and returns the identity it acts as. Every failure is unauthenticated: a malformed,
// unknown, revoked or expired token, a wrong secret (compared in constant time), and an
// identity that was revoked or issued again since.
func (s *Sandboxes) Authenticate(ctx context.Context, c Caller, req sandbox.AuthenticateRequest) (sandbox.AuthenticateResponse, error) {
	if c.Name != sandbox.ActorMesh {
		return sandbox.AuthenticateResponse{}, sandbox.Errorf(sandbox.CodeForbidden, "only the mesh verifies API tokens")
	}
	invalid := sandbox.Errorf(sandbox.CodeUnauthenticated, "the bearer token is not valid (unknown, revoked or expired): ask an admin for one (gaib user token NAME)")
	id, secret, err := sandbox.ParseToken(req.Token)
	if err != nil {
		return sandbox.AuthenticateResponse{}, err
	}
	t, err := s.store.Token(ctx, id)
	if errors.Is(err, sandbox.ErrNotFound) {
		return sandbox.AuthenticateResponse{}, invalid
	}
	if err != nil {
		return sandbox.AuthenticateResponse{}, err
	}
	if subtle.ConstantTimeCompare([]byte(sandbox.TokenHash(id, secret)), []byte(t.Hash)) != 1 || t.Expired(s.now()) {
		return sandbox.AuthenticateResponse{}, invalid
	}
	u, err := s.store.User(ctx, t.Identity)
	switch {
	case errors.Is(err, sandbox.ErrNotFound):
		return sandbox.AuthenticateResponse{}, invalid
	case err != nil:
		return sandbox.AuthenticateResponse{}, err
	case !u.Active():
		return sandbox.AuthenticateResponse{}, sandbox.Errorf(sandbox.CodeUnauthenticated, "identity %q was revoked by %s, and its tokens with it", u.Name, u.RevokedBy)
	case !u.CreatedAt.Equal(t.IdentityCreated):
		return sandbox.AuthenticateResponse{}, invalid
	}
	return sandbox.AuthenticateResponse{Name: u.Name, Role: u.Role, TokenID: t.ID}, nil
}

// activeUser returns an identity that exists and is not revoked.
func (s *Sandboxes) activeUser(ctx context.Context, name string) (sandbox.User, error) {
	u, err := s.store.User(ctx, name)
	if err != nil {
		return u, err
	}
	if !u.Active() {
		return u, sandbox.Errorf(sandbox.CodeWrongState, "identity %q was revoked", name)
	}
	return u, nil
}

// tokenEndpoints are the user service's bearer-token endpoints.
func (s *Sandboxes) tokenEndpoints(ctx context.Context, log *slog.Logger) []endpoint {
	return []endpoint{
		{op: sandbox.OpTokenIssue, handler: handle(ctx, log, s.store, s.IssueToken),
			description: "Issue a REST API bearer token for an identity; shown once, stored hashed (admins)", request: "TokenIssueRequest {name, ttl, note}", response: "TokenIssueResponse {info, token}"},
		{op: sandbox.OpTokenList, handler: handle(ctx, log, s.store, s.ListTokens),
			description: "An identity's API tokens, without secrets (admins)", request: "UserRequest {name}", response: "[]Token"},
		{op: sandbox.OpTokenRevoke, handler: handle(ctx, log, s.store, s.RevokeToken),
			description: "Revoke one API token (admins)", request: "TokenRevokeRequest {name, id}", response: "Token"},
		{op: sandbox.OpAuthenticate, handler: handle(ctx, log, s.store, s.Authenticate),
			description: "Verify an API bearer token (the mesh only)", request: "AuthenticateRequest {token}", response: "AuthenticateResponse {name, role, token_id}"},
	}
}
