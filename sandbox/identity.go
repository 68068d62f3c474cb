package sandbox

import (
	"slices"
	"strings"
)

// Role is what an identity may do. Services read it from the users registry; NATS enforces
// the subjects each role's credential may use (see package auth).
type Role string

// The roles of gaib identities.
const (
	// RoleAdmin acts on every sandbox, manages users and the guild allow-list, and may
	// publish into the gateway (local use of `gaib events publish`).
	RoleAdmin Role = "admin"
	// RoleDeveloper acts on their own sandboxes only.
	RoleDeveloper Role = "developer"
	// RoleGateway is the Discord gateway: it may publish gateway events and nothing else.
	RoleGateway Role = "gateway"
)

// Roles lists the roles a user may be given.
var Roles = []Role{RoleAdmin, RoleDeveloper, RoleGateway}

// ValidRole reports whether r names a role.
func ValidRole(r string) bool { return slices.Contains(Roles, Role(r)) }

// MaxIdentityLen is the longest identity name accepted.
const MaxIdentityLen = 32

// Identities the mesh uses for its own actions in the audit trail; no user may take them.
const (
	// ActorMesh is the mesh acting on its own (bootstrap, repairs).
	ActorMesh = "gaib"
	// ActorCleanup is the cleanup service (expiry, resumed destroys, sweeps).
	ActorCleanup = "cleanup"
)

var reservedIdentities = []string{ActorMesh, ActorCleanup, "system", "sandbox", "all"}

// ValidateIdentity checks an identity name: 1 to 32 characters of [a-z0-9_-] starting with
// a letter. Identities go into NATS subjects and permission templates as one token, so
// nothing else is allowed (no '.', '*', '>' or spaces).
func ValidateIdentity(name string) error {
	if name == "" || len(name) > MaxIdentityLen || name[0] < 'a' || name[0] > 'z' {
		return Errorf(CodeInvalidOwner,
			"identity %.40q is not valid: use 1-%d characters of a-z, 0-9, '-' or '_', starting with a letter", name, MaxIdentityLen)
	}
	for i := 1; i < len(name); i++ {
		if c := name[i]; !isLowerAlnum(c) && c != '-' && c != '_' {
			return Errorf(CodeInvalidOwner,
				"identity %.40q is not valid: use 1-%d characters of a-z, 0-9, '-' or '_', starting with a letter", name, MaxIdentityLen)
		}
	}
	return nil
}

// ValidateNewIdentity is ValidateIdentity that also refuses the names the mesh keeps for
// itself.
func ValidateNewIdentity(name string) error {
	if err := ValidateIdentity(name); err != nil {
		return err
	}
	if slices.Contains(reservedIdentities, name) {
		return Errorf(CodeInvalidOwner, "identity %q is reserved for the mesh", name)
	}
	return nil
}

// FoldIdentity turns a login name (such as $USER) into a valid identity: lower case,
// other characters replaced by '-', at most 32 characters; "admin" when nothing is left.
func FoldIdentity(login string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(login) {
		switch {
		case b.Len() >= MaxIdentityLen:
		case r < 128 && (isLowerAlnum(byte(r)) || r == '_' || r == '-'):
			if b.Len() == 0 && (r < 'a' || r > 'z') {
				continue
			}
			b.WriteRune(r)
		case b.Len() > 0:
			b.WriteByte('-')
		}
	}
	name := strings.TrimRight(b.String(), "-_")
	if name == "" || slices.Contains(reservedIdentities, name) {
		return "admin"
	}
	return name
}
