package sandbox

// Operation names of the sandbox service's endpoints (gaib.sandbox.<op>).
const (
	OpCreate     = "create"
	OpGet        = "get"
	OpList       = "list"
	OpDestroy    = "destroy"
	OpExtend     = "extend"
	OpConnect    = "connect"
	OpRegister   = "register-guild"
	OpUnregister = "unregister-guild"
)

// MaxRequestBytes bounds every control-plane request; larger ones are refused unread.
const MaxRequestBytes = 64 * 1024

// CreateRequest asks for a new sandbox. Empty Name means `<owner>-<4 chars>`, empty TTL the
// server's default.
type CreateRequest struct {
	Name   string   `json:"name,omitempty"`
	Owner  string   `json:"owner"`
	TTL    string   `json:"ttl,omitempty"`
	Guilds []string `json:"guilds,omitempty"`
	// DryRun validates everything and returns the record that would be created.
	DryRun bool `json:"dry_run,omitempty"`
}

// RefRequest names one sandbox by name or id.
type RefRequest struct {
	Sandbox string `json:"sandbox"`
	// Actor is who asks, for the audit log.
	Actor string `json:"actor,omitempty"`
}

// ListRequest filters the sandbox list. By default only sandboxes that are not destroyed.
type ListRequest struct {
	All    bool   `json:"all,omitempty"`
	Owner  string `json:"owner,omitempty"`
	Status string `json:"status,omitempty"`
}

// ExtendRequest adds TTL to a sandbox's expiry.
type ExtendRequest struct {
	Sandbox string `json:"sandbox"`
	TTL     string `json:"ttl"`
	Actor   string `json:"actor,omitempty"`
}

// GuildRequest registers or unregisters a guild.
type GuildRequest struct {
	Sandbox string `json:"sandbox"`
	Guild   string `json:"guild"`
	Actor   string `json:"actor,omitempty"`
}

// GuildResponse is the answer to register/unregister: the updated record, and a warning
// when not every router confirmed the change in time.
type GuildResponse struct {
	Record
	Warning string `json:"warning,omitempty"`
}

// EnvVar is one connection setting printed by `connect`.
type EnvVar struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

// ConnectResponse is what `connect` returns: the sandbox and its environment.
type ConnectResponse struct {
	Record Record   `json:"sandbox"`
	Env    []EnvVar `json:"env"`
}

// Health is the result of a live check of one plane of a sandbox.
type Health struct {
	Plane   string `json:"plane"`
	OK      bool   `json:"ok"`
	Message string `json:"message,omitempty"`
}

// StatusResponse is what `get` returns: the record plus a live health check per plane
// (only for running sandboxes).
type StatusResponse struct {
	Record
	Health []Health `json:"health,omitempty"`
}
