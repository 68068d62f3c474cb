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
// server's default. The owner is the caller (from the request subject); Owner names another
// identity and only admins may set it ("act as").
type CreateRequest struct {
	Name   string   `json:"name,omitempty"`
	Owner  string   `json:"owner,omitempty"`
	TTL    string   `json:"ttl,omitempty"`
	Guilds []string `json:"guilds,omitempty"`
	// Config is the sandbox's initial config (see ConfigSetRequest).
	Config []ConfigVar `json:"config,omitempty"`
	// DryRun validates everything and returns the record that would be created.
	DryRun bool `json:"dry_run,omitempty"`
}

// RefRequest names one sandbox by name or id.
type RefRequest struct {
	Sandbox string `json:"sandbox"`
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
}

// GuildRequest registers or unregisters a guild.
type GuildRequest struct {
	Sandbox string `json:"sandbox"`
	Guild   string `json:"guild"`
}

// GuildResponse is the answer to register/unregister: the updated record, a warning when
// not every router confirmed the change in time, and a note when there was nothing to do
// (the guild already routed there, or already did not).
type GuildResponse struct {
	Record
	Warning string `json:"warning,omitempty"`
	Note    string `json:"note,omitempty"`
}

// EnvVar is one connection setting printed by `connect`.
type EnvVar struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

// ConnectResponse is what `connect` returns: the sandbox, its environment, and its own NATS
// credential (a standard .creds document) when the mesh runs with authentication. The
// client writes Credentials to a 0600 file and adds NATS_CREDS with its path to Env.
type ConnectResponse struct {
	Record      Record   `json:"sandbox"`
	Env         []EnvVar `json:"env"`
	Credentials string   `json:"credentials,omitempty"`
	// Config is the sandbox's config for its worker, values in clear; the CLI adds it to
	// Env after checking each key as the mesh does.
	Config []EnvVar `json:"config,omitempty"`
}

// Health is the result of a live check of one plane of a sandbox.
type Health struct {
	Plane   string `json:"plane"`
	OK      bool   `json:"ok"`
	Message string `json:"message,omitempty"`
	// Detail is what a healthy plane reports of the sandbox's use of it (the Discord
	// proxy: requests by outcome, invalid requests, interactions).
	Detail string `json:"detail,omitempty"`
}

// StatusResponse is what `get` returns: the record plus a live health check per plane
// (only for running sandboxes).
type StatusResponse struct {
	Record
	Health []Health `json:"health,omitempty"`
}

// OpWatch is the sandbox service's long-poll watch endpoint.
const OpWatch = "watch"

// WatchRequest waits until sandbox's record is newer than Revision (or Wait passes, at
// most MaxWatchWait) and returns it: a client loops on it to follow a sandbox, and rides
// out a mesh restart by asking again.
type WatchRequest struct {
	Sandbox  string `json:"sandbox"`
	Revision uint64 `json:"revision,omitempty"`
	// Wait is how long to wait for a change, as a Go duration (default and maximum 25s).
	Wait string `json:"wait,omitempty"`
}

// EnvNames are the variables `connect` may hand a worker. The CLI prints nothing else, so
// a compromised answer cannot smuggle PATH, LD_PRELOAD or a shell function into `eval`.
var EnvNames = []string{
	"SANDBOX_ID", "SANDBOX_NAME", "SANDBOX_GUILD_IDS", "SANDBOX_NATS_PREFIX", "SANDBOX_STREAM", "SANDBOX_CONSUMER",
	"SANDBOX_SCHEMA", "SANDBOX_REDIS_PREFIX", "NATS_URL", "NATS_CREDS", "NATS_INBOX_PREFIX",
	"DATABASE_URL", "REDIS_URL", "DISCORD_API_BASE_URL", "DISCORD_TOKEN",
}
