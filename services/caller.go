package services

import (
	"context"
	"errors"

	"github.com/arrakis/gaib/sandbox"
)

// Caller is who sent a request, as NATS authenticated it: the last token of the request
// subject, which each identity's credential can only fill with its own name.
type Caller struct {
	Name string
	Role sandbox.Role
}

// Admin reports whether the caller may act on every sandbox and manage the mesh.
func (c Caller) Admin() bool { return c.Role == sandbox.RoleAdmin }

// meshCaller is the mesh acting on its own (its credential may publish any caller token;
// no identity may take the reserved names).
func meshCaller(name string) Caller { return Caller{Name: name, Role: sandbox.RoleAdmin} }

// Users is the identity registry the services resolve callers with.
type Users interface {
	User(ctx context.Context, name string) (sandbox.User, error)
}

// resolveCaller turns the caller token of a request subject into a Caller: the mesh's own
// names, or an active identity of the registry with a role that may use the control
// plane.
func resolveCaller(ctx context.Context, users Users, subject string) (Caller, error) {
	name, ok := sandbox.CallerOf(subject)
	if !ok {
		return Caller{}, sandbox.Errorf(sandbox.CodeUnauthenticated, "request subject %q names no caller", subject)
	}
	if name == sandbox.ActorMesh || name == sandbox.ActorCleanup {
		return meshCaller(name), nil
	}
	u, err := users.User(ctx, name)
	if errors.Is(err, sandbox.ErrNotFound) {
		return Caller{}, sandbox.Errorf(sandbox.CodeUnauthenticated, "identity %q is not registered: ask an admin for a credential (gaib user add)", name)
	}
	if err != nil {
		return Caller{}, err
	}
	if !u.Active() {
		return Caller{}, sandbox.Errorf(sandbox.CodeUnauthenticated, "identity %q was revoked by %s", name, u.RevokedBy)
	}
	if u.Role != sandbox.RoleAdmin && u.Role != sandbox.RoleDeveloper {
		return Caller{}, sandbox.Errorf(sandbox.CodeForbidden, "identity %q is a %s and may not use the control plane", name, u.Role)
	}
	return Caller{Name: u.Name, Role: u.Role}, nil
}

// requireAdmin refuses callers who are not admins.
func requireAdmin(c Caller, what string) error {
	if c.Admin() {
		return nil
	}
	return sandbox.Errorf(sandbox.CodeForbidden, "only an admin may %s (you are %s, a %s)", what, c.Name, c.Role)
}

// authorize lets the owner of a sandbox and admins act on it.
func authorize(c Caller, rec sandbox.Record, what string) error {
	if c.Admin() || c.Name == rec.Owner {
		return nil
	}
	return sandbox.Errorf(sandbox.CodeForbidden,
		"sandbox %q belongs to %s: only its owner or an admin may %s it", rec.Name, rec.Owner, what)
}
