package sandbox

import (
	"slices"
	"time"
)

// Status is a sandbox's place in its lifecycle:
// provisioning → running → expired → destroying → destroyed.
type Status string

// The lifecycle states.
const (
	StatusProvisioning Status = "provisioning"
	StatusRunning      Status = "running"
	StatusExpired      Status = "expired"
	StatusDestroying   Status = "destroying"
	StatusDestroyed    Status = "destroyed"
)

// Statuses lists every status, in lifecycle order.
var Statuses = []Status{StatusProvisioning, StatusRunning, StatusExpired, StatusDestroying, StatusDestroyed}

// ValidStatus reports whether s names a status.
func ValidStatus(s string) bool { return slices.Contains(Statuses, Status(s)) }

// Active reports whether a sandbox in this status holds its name, its quota slot and its
// resources (everything but destroyed).
func (s Status) Active() bool { return s != StatusDestroyed }

// Record is one sandbox as stored in the sandboxes bucket under its id. It is the document
// every endpoint returns and `--json` prints.
type Record struct {
	ID        string    `json:"id"`
	Name      string    `json:"name"`
	Owner     string    `json:"owner"`
	Status    Status    `json:"status"`
	CreatedAt time.Time `json:"created_at"`
	ExpiresAt time.Time `json:"expires_at"`
	// TTL is the lifetime asked for at creation, as ParseTTL reads it.
	TTL    string   `json:"ttl"`
	Guilds []string `json:"guilds"`
	// Resources are the names derived from the id: what the mesh created for this sandbox.
	Resources Resources `json:"resources"`
	// MigrationVersion is the version of the schema migrations the sandbox was built with.
	MigrationVersion string     `json:"migration_version,omitempty"`
	UpdatedAt        time.Time  `json:"updated_at"`
	DestroyedAt      *time.Time `json:"destroyed_at,omitempty"`
	// Error is the last failure of a lifecycle step (create or destroy), kept for status.
	Error *Error `json:"error,omitempty"`
	// Lease names the instance creating or destroying the sandbox (nil: nobody is).
	Lease *Lease `json:"lease,omitempty"`
	// TornDown lists the planes a destroy in progress has already removed, so a resumed
	// destroy goes on with the others.
	TornDown []string `json:"torn_down,omitempty"`
	// Revision is the KV revision the record was read at; it is not stored.
	Revision uint64 `json:"revision,omitempty"`
}

// NewRecord returns a provisioning record for a new sandbox.
func NewRecord(id, name, owner string, ttl time.Duration, guilds []string, now time.Time) Record {
	if guilds == nil {
		guilds = []string{}
	}
	return Record{
		ID: id, Name: name, Owner: owner, Status: StatusProvisioning,
		CreatedAt: now, UpdatedAt: now, ExpiresAt: now.Add(ttl), TTL: FormatTTL(ttl),
		Guilds: guilds, Resources: ResourcesFor(id),
	}
}

// Expired reports whether the record's lifetime has run out at now.
func (r Record) Expired(now time.Time) bool { return !r.ExpiresAt.After(now) }
