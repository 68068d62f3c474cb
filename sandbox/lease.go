package sandbox

import "time"

// Lease says which gaib instance is working on a sandbox's record: a create in progress or a
// destroy. Only the holder works on it while the holder is alive (its heartbeat is in the
// instances bucket); the work of a holder that died is finished or undone by the recovery.
type Lease struct {
	// Holder is the instance id (see services.Sandboxes.Instance): the lease is abandoned
	// when that instance stops heartbeating.
	Holder string `json:"holder"`
	// Token names the operation holding it: two operations of one instance never share a
	// lease.
	Token string `json:"token"`
	// Op is what the holder does: "create" or "destroy".
	Op string `json:"op"`
	// Actor is who asked for it (the authenticated identity).
	Actor string    `json:"actor"`
	Since time.Time `json:"since"`
}

// Lease operations.
const (
	LeaseCreate  = "create"
	LeaseDestroy = "destroy"
)

// pendingRoute marks a route claimed by a create in progress: it reserves the guild, but
// routers treat it as no route (the guild's events stay in production) until the sandbox
// runs and the route is activated.
const pendingRoute = "pending:"

// RouteValue is the value of a guild's key in the routes bucket: the sandbox id, or for a
// route not yet active "pending:<id>".
func RouteValue(id string, pending bool) string {
	if pending {
		return pendingRoute + id
	}
	return id
}

// ParseRouteValue reads a routes-bucket value: the sandbox id it reserves the guild for,
// whether the route is active (events go to the sandbox), and whether it is a route value.
func ParseRouteValue(v string) (id string, active, ok bool) {
	if rest, pending := cutPrefix(v, pendingRoute); pending {
		return rest, false, ValidID(rest)
	}
	return v, true, ValidID(v)
}

func cutPrefix(s, prefix string) (string, bool) {
	if len(s) >= len(prefix) && s[:len(prefix)] == prefix {
		return s[len(prefix):], true
	}
	return s, false
}

// Headers of control-plane requests, set by the client and read by the services.
const (
	// HeaderIdempotencyKey makes a mutating request safe to repeat: the services answer a
	// repeated key (for the same caller and operation) with the first outcome.
	HeaderIdempotencyKey = "Gaib-Idempotency-Key"
	// HeaderDeadline is when the caller stops waiting (RFC 3339): the services bound their
	// work by it, so nothing goes on after the caller was told there was no answer.
	HeaderDeadline = "Gaib-Deadline"
)

// Names of the buckets of issue 9's reliability state.
const (
	// BucketInstances holds one key per live gaib instance, refreshed by its heartbeat and
	// dropped by the bucket's age limit when the instance dies.
	BucketInstances = "gaib_instances"
	// BucketRequests holds the outcome of each mutating request by idempotency key.
	BucketRequests = "gaib_requests"
	// BucketMesh holds mesh-wide facts (the secret's fingerprint).
	BucketMesh = "gaib_mesh"
)
