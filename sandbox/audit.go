package sandbox

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// OpAudit is the sandbox service's endpoint that reads one sandbox's audit trail.
const OpAudit = "audit"

// Bounds of one audit read; a client pages with AuditRequest.After.
const (
	DefaultAuditLimit = 100
	MaxAuditLimit     = 200
)

// AuditEntry is one change, as stored in the audit stream at gaib.audit.<id>.<action>.
type AuditEntry struct {
	// Seq is the entry's sequence in the audit stream (set when read, not stored).
	Seq       uint64    `json:"seq,omitempty"`
	At        time.Time `json:"at"`
	Actor     string    `json:"actor"`
	Action    string    `json:"action"`
	SandboxID string    `json:"sandbox_id"`
	Before    *Record   `json:"before,omitempty"`
	After     *Record   `json:"after,omitempty"`
	Detail    string    `json:"detail,omitempty"`
	// Config is what a config change changed, secret values redacted.
	Config []ConfigChange `json:"config,omitempty"`
}

// AuditFilter is the subject filter of every audit entry of sandbox id: gaib.audit.<id>.>.
func AuditFilter(id string) string { return AuditPrefix + "." + id + ".>" }

// AuditRequest asks for the audit trail of a sandbox (by name, also after destroy, or by
// id), oldest first, from the entry after sequence After, at most Limit entries (default
// DefaultAuditLimit, at most MaxAuditLimit).
type AuditRequest struct {
	Sandbox string `json:"sandbox"`
	After   uint64 `json:"after,omitempty"`
	Limit   int    `json:"limit,omitempty"`
}

// AuditResponse is one page of a sandbox's audit trail; More says that entries follow
// (ask again with After set to the last entry's Seq).
type AuditResponse struct {
	SandboxID string       `json:"sandbox_id"`
	Entries   []AuditEntry `json:"entries"`
	More      bool         `json:"more,omitempty"`
}

// Changes says in a few words what an entry changed: the status, the expiry and the
// guilds added or removed (a creation: what it was created with).
func (e AuditEntry) Changes() []string {
	var out []string
	b, a := e.Before, e.After
	switch {
	case a == nil:
		return nil
	case b == nil:
		out = append(out, fmt.Sprintf("status %s", a.Status), fmt.Sprintf("owner %s", a.Owner),
			fmt.Sprintf("expires %s", a.ExpiresAt.UTC().Format(time.RFC3339)))
		if len(a.Guilds) > 0 {
			out = append(out, "guilds "+strings.Join(a.Guilds, ","))
		}
		return out
	}
	if b.Status != a.Status {
		out = append(out, fmt.Sprintf("status %s → %s", b.Status, a.Status))
	}
	if !b.ExpiresAt.Equal(a.ExpiresAt) {
		out = append(out, fmt.Sprintf("expires %s → %s", b.ExpiresAt.UTC().Format(time.RFC3339), a.ExpiresAt.UTC().Format(time.RFC3339)))
	}
	for _, g := range a.Guilds {
		if !slices.Contains(b.Guilds, g) {
			out = append(out, "+guild "+g)
		}
	}
	for _, g := range b.Guilds {
		if !slices.Contains(a.Guilds, g) {
			out = append(out, "-guild "+g)
		}
	}
	if a.Error != nil && (b.Error == nil || *b.Error != *a.Error) {
		out = append(out, fmt.Sprintf("error %s", a.Error.Code))
	}
	return out
}
