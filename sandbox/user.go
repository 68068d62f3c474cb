package sandbox

import "time"

// User is one identity in the users registry (gaib_users, key: name).
type User struct {
	Name string `json:"name"`
	Role Role   `json:"role"`
	// Keys are the NATS user public keys issued to this identity; revoking the identity
	// revokes them all.
	Keys      []string   `json:"keys"`
	CreatedAt time.Time  `json:"created_at"`
	CreatedBy string     `json:"created_by"`
	RevokedAt *time.Time `json:"revoked_at,omitempty"`
	RevokedBy string     `json:"revoked_by,omitempty"`
	// Expires is when the identity's latest credential expires (zero: never).
	Expires time.Time `json:"expires,omitzero"`
}

// Active reports whether the identity may act (it exists and is not revoked).
func (u User) Active() bool { return u.RevokedAt == nil }

// Operation names of the user service (gaib.user.<op>.<caller>).
const (
	OpUserAdd    = "add"
	OpUserList   = "list"
	OpUserRevoke = "revoke"
	OpWhoAmI     = "whoami"
)

// UserAddRequest asks for a new identity (admins only). Role defaults to developer; TTL
// (e.g. "90d") bounds the credential's life, empty for no expiry.
type UserAddRequest struct {
	Name string `json:"name"`
	Role Role   `json:"role,omitempty"`
	TTL  string `json:"ttl,omitempty"`
}

// UserAddResponse is the new identity and its credential, a standard .creds document. It
// is sent once, to the admin's private inbox, and stored nowhere.
type UserAddResponse struct {
	User        User   `json:"user"`
	Credentials string `json:"credentials"`
}

// UserRequest names one identity.
type UserRequest struct {
	Name string `json:"name"`
}

// WhoAmIResponse says who the mesh takes the caller for.
type WhoAmIResponse struct {
	Name string `json:"name"`
	Role Role   `json:"role"`
}

// AllowedGuild is one entry of the guild allow-list (gaib_guilds, key: guild id): a test
// guild that may be routed to sandboxes.
type AllowedGuild struct {
	Guild string `json:"guild"`
	// Owner, when set, is the only developer who may register the guild; empty: anyone.
	Owner   string    `json:"owner,omitempty"`
	Note    string    `json:"note,omitempty"`
	AddedBy string    `json:"added_by"`
	AddedAt time.Time `json:"added_at"`
}

// Operation names of the guild service (gaib.guild.<op>.<caller>).
const (
	OpGuildAllow = "allow"
	OpGuildDeny  = "deny"
	OpGuildList  = "list"
)

// GuildAllowRequest adds (or replaces) an allow-list entry (admins only).
type GuildAllowRequest struct {
	Guild string `json:"guild"`
	Owner string `json:"owner,omitempty"`
	Note  string `json:"note,omitempty"`
}

// GuildRef names one guild.
type GuildRef struct {
	Guild string `json:"guild"`
}
