package sandbox

// Resources are the names of everything a sandbox owns, all derived from its id by
// ResourcesFor, so what the mesh advertises is exactly what it created.
type Resources struct {
	// Schema is the Postgres schema holding the sandbox's tables.
	Schema string `json:"schema"`
	// Role is the Postgres login role confined to Schema.
	Role string `json:"role"`
	// RedisPrefix prefixes every Redis key and channel the sandbox may touch.
	RedisPrefix string `json:"redis_prefix"`
	// RedisUser is the Redis ACL user confined to RedisPrefix.
	RedisUser string `json:"redis_user"`
	// NATSPrefix is the subject namespace of the sandbox's routed events.
	NATSPrefix string `json:"nats_prefix"`
}

// ResourcesFor derives every resource name from a sandbox id. It is the only place those
// names are built. The id alphabet ([a-z0-9]) keeps them valid unquoted identifiers, NATS
// tokens and Redis key parts; callers still quote them.
func ResourcesFor(id string) Resources {
	return Resources{
		Schema:      "sandbox_" + id,
		Role:        "sandbox_" + id,
		RedisPrefix: "sandbox:" + id + ":",
		RedisUser:   "sandbox_" + id,
		NATSPrefix:  SandboxPrefix + "." + id + ".",
	}
}

// IDFromResource returns the id inside a derived name ("sandbox_<id>", "sandbox:<id>:...",
// "sandbox.<id>.…") and whether the name had that shape. Orphan detection uses it instead
// of pattern matching, so that only exact derived names are ever considered.
func IDFromResource(name string) (string, bool) {
	const p = "sandbox"
	if len(name) < len(p)+1+idLen || name[:len(p)] != p {
		return "", false
	}
	sep := name[len(p)]
	if sep != '_' && sep != ':' && sep != '.' {
		return "", false
	}
	id := name[len(p)+1 : len(p)+1+idLen]
	rest := name[len(p)+1+idLen:]
	if !ValidID(id) {
		return "", false
	}
	switch {
	case sep == '_' && rest == "":
	case sep == ':' && len(rest) > 0 && rest[0] == ':':
	case sep == '.' && (rest == "" || rest[0] == '.'):
	default:
		return "", false
	}
	return id, true
}

// ResourcesOf is ResourcesFor for an id that must be valid: what a plane calls before it
// touches anything, so that names come from the id at the moment of use (never from a
// record's stored Resources, which whoever can write the KV bucket can edit) and a
// malformed id is refused instead of turned into a name.
func ResourcesOf(id string) (Resources, error) {
	if !ValidID(id) {
		return Resources{}, Errorf(CodeInvalidID, "%.40q is not a sandbox id: refusing to derive resource names from it", id)
	}
	return ResourcesFor(id), nil
}
