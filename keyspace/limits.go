package keyspace

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/arrakis/gaib/sandbox"
)

// What one sandbox may hold of the shared server, and how the watchdog (watchdog.go)
// keeps it there.
const (
	// DefaultClientLimit is how many connections one sandbox's ACL user may hold.
	DefaultClientLimit = 50
	// DefaultReservedClients is how many of the server's maxclients MaxSandboxes leaves to
	// what is not a sandbox: gaib's own pools (adminPoolSize and the watchdog's connection
	// per instance), operators, and health checks.
	DefaultReservedClients = 100
	// DefaultMemoryBudget is a sandbox's memory budget when no share can be computed (the
	// server has no maxmemory).
	DefaultMemoryBudget int64 = 32 << 20
	// DefaultWatchInterval is the time between two watchdog passes.
	DefaultWatchInterval = time.Second
	// DefaultKeysPerPass bounds the keys one watchdog pass measures (see WithKeysPerPass).
	DefaultKeysPerPass = 10_000
	// DefaultTrimCooldown is how long a sandbox whose keys the watchdog trimmed stays
	// without writes (see WithTrimCooldown).
	DefaultTrimCooldown = time.Minute
	// adminPoolSize bounds the admin client's connections.
	adminPoolSize = 16
	// dataShare is the part of maxmemory the automatic budgets divide among sandboxes; the
	// rest is for client buffers (the managed server's maxmemory-clients is 25%) and the
	// server's own overhead.
	dataShare = 0.75
)

// Option configures Open.
type Option func(*options)

type options struct {
	clientLimit, reservedClients int
	memoryBudget                 int64
	maxSandboxes                 int
	watch                        time.Duration
	keysPerPass                  int
	cooldown                     time.Duration
}

// WithClientLimit sets how many connections one sandbox may hold (default
// DefaultClientLimit). The watchdog closes the newest beyond it.
func WithClientLimit(n int) Option { return func(o *options) { o.clientLimit = n } }

// WithReservedClients sets how many of the server's connections MaxSandboxes keeps for
// what is not a sandbox (default DefaultReservedClients).
func WithReservedClients(n int) Option { return func(o *options) { o.reservedClients = n } }

// WithMemoryBudget sets how many bytes of keys one sandbox may store (default 0:
// automatic, 3/4 of the server's maxmemory divided by the sandboxes the mesh holds (the
// lower of WithMaxSandboxes and MaxSandboxes), so that the budgets together never exceed
// the server; DefaultMemoryBudget when the server has no maxmemory).
func WithMemoryBudget(bytes int64) Option { return func(o *options) { o.memoryBudget = bytes } }

// WithMaxSandboxes tells the plane how many sandboxes the mesh holds at most, for the
// automatic memory budget (default 0: as many as MaxSandboxes).
func WithMaxSandboxes(n int) Option { return func(o *options) { o.maxSandboxes = n } }

// WithWatchdog runs the watchdog every interval from Open until Close (default 0: no
// watchdog, and no limit is enforced). Of several planes on one server (gaib instances),
// one runs it at a time.
func WithWatchdog(interval time.Duration) Option { return func(o *options) { o.watch = interval } }

// WithKeysPerPass bounds the keys one watchdog pass measures (default DefaultKeysPerPass):
// a keyspace larger than that is measured over several passes.
func WithKeysPerPass(n int) Option { return func(o *options) { o.keysPerPass = n } }

// WithTrimCooldown sets how long a sandbox whose keys were trimmed stays without writes
// (default DefaultTrimCooldown), so that a tenant refilling the server at once cannot make
// every other tenant's writes fail for more than one pass in that time.
func WithTrimCooldown(d time.Duration) Option { return func(o *options) { o.cooldown = d } }

func newOptions(opt []Option) (options, error) {
	o := options{clientLimit: DefaultClientLimit, reservedClients: DefaultReservedClients,
		keysPerPass: DefaultKeysPerPass, cooldown: DefaultTrimCooldown}
	for _, f := range opt {
		f(&o)
	}
	if o.clientLimit < 1 || o.reservedClients < 0 || o.memoryBudget < 0 || o.keysPerPass < 1 || o.watch < 0 || o.cooldown < 0 {
		return o, sandbox.Errorf(sandbox.CodeInvalidRequest,
			"redis: client limit %d, reserved clients %d, memory budget %d, keys per pass %d, watch interval %s, cooldown %s: must not be negative (limit and keys at least 1)",
			o.clientLimit, o.reservedClients, o.memoryBudget, o.keysPerPass, o.watch, o.cooldown)
	}
	return o, nil
}

// serverLimits reads the server's maxclients and maxmemory (INFO: CONFIG may be denied
// on a hosted Redis), and refuses a server older than 7.0: the limits need ACL DRYRUN,
// CLIENT NO-EVICT and maxmemory-clients.
func serverLimits(ctx context.Context, rdb *redis.Client) (maxClients int, maxMemory int64, err error) {
	info, err := rdb.Info(ctx, "server", "clients", "memory").Result()
	if err != nil {
		return 0, 0, fmt.Errorf("INFO: %w", err)
	}
	f := infoFields(info)
	major, _, _ := strings.Cut(f["redis_version"], ".")
	if n, err := strconv.Atoi(major); err != nil || n < 7 {
		return 0, 0, fmt.Errorf("redis %q: the Redis plane needs Redis 7.0 or newer", f["redis_version"])
	}
	if maxClients, err = strconv.Atoi(f["maxclients"]); err != nil {
		return 0, 0, fmt.Errorf("INFO clients: maxclients %q", f["maxclients"])
	}
	if maxMemory, err = strconv.ParseInt(f["maxmemory"], 10, 64); err != nil {
		return 0, 0, fmt.Errorf("INFO memory: maxmemory %q", f["maxmemory"])
	}
	return maxClients, maxMemory, nil
}

// infoFields parses an INFO reply into field → value.
func infoFields(info string) map[string]string {
	out := map[string]string{}
	for _, line := range strings.Split(info, "\n") {
		if k, v, ok := strings.Cut(strings.TrimSpace(line), ":"); ok {
			out[k] = v
		}
	}
	return out
}

// budgetFor is the per-sandbox memory budget for the options, the server's maxmemory and
// the sandboxes it has clients for.
func budgetFor(o options, maxMemory int64, fits int) int64 {
	n := o.maxSandboxes
	if n <= 0 || (fits > 0 && fits < n) {
		n = fits
	}
	switch {
	case o.memoryBudget > 0:
		return o.memoryBudget
	case maxMemory > 0 && n > 0:
		return max(1, int64(float64(maxMemory)*dataShare)/int64(n))
	}
	return DefaultMemoryBudget
}

// MaxSandboxes is how many sandboxes the server has connections for when each holds its
// client limit: (maxclients - reserved clients) / client limit, at least 0. The mesh caps
// its sandboxes at it (with Postgres' own), so one tenant can never hold the connections
// another needs, nor the sandboxes together all of them.
func (r *Redis) MaxSandboxes() int { return fitting(r.opts, r.maxClients) }

func fitting(o options, maxClients int) int {
	return max(0, (maxClients-o.reservedClients)/o.clientLimit)
}

// ClientLimit is how many connections one sandbox may hold.
func (r *Redis) ClientLimit() int { return r.opts.clientLimit }

// MemoryBudget is how many bytes of keys one sandbox may store.
func (r *Redis) MemoryBudget() int64 { return r.budget }

// usageKey is the admin-only hash where the watchdog records each sandbox's measured use
// (field: the id), for Check and Repair on every instance. Sandbox users cannot reach it
// (their keys are sandbox:<id>:*), and orphan detection does not see it.
const usageKey = "gaib:keyspace:usage"

// usage is what the watchdog last measured of a sandbox: its keys' bytes, whether it
// may write, and until when it may not because its keys were trimmed (zero: not).
type usage struct {
	bytes      int64
	restricted bool
	until, at  time.Time
}

func (u usage) String() string {
	r, until := 0, int64(0)
	if u.restricted {
		r = 1
	}
	if !u.until.IsZero() {
		until = u.until.UnixMilli()
	}
	return fmt.Sprintf("%d %d %d %d", u.bytes, r, until, u.at.UnixMilli())
}

func parseUsage(s string) (usage, bool) {
	f := strings.Fields(s)
	if len(f) != 4 {
		return usage{}, false
	}
	var n [3]int64
	for i, v := range []string{f[0], f[2], f[3]} {
		var err error
		if n[i], err = strconv.ParseInt(v, 10, 64); err != nil {
			return usage{}, false
		}
	}
	u := usage{bytes: n[0], restricted: f[1] == "1", at: time.UnixMilli(n[2])}
	if n[1] != 0 {
		u.until = time.UnixMilli(n[1])
	}
	return u, true
}

// recordedUsage is the watchdog's last record of id (ok false when there is none).
func (r *Redis) recordedUsage(ctx context.Context, id string) (usage, bool, error) {
	s, err := r.rdb.HGet(ctx, usageKey, id).Result()
	if errors.Is(err, redis.Nil) {
		return usage{}, false, nil
	}
	if err != nil {
		return usage{}, false, err
	}
	u, ok := parseUsage(s)
	return u, ok, nil
}

// restricted reports whether the sandbox's user may not write: the ACL itself says (ACL
// DRYRUN of a SET on its own prefix), whoever restricted it. A user that does not exist is
// not restricted.
func (r *Redis) restricted(ctx context.Context, res sandbox.Resources) (bool, error) {
	return writeDenied(res, r.rdb.Do(ctx, dryRunWrite(res)...))
}

// dryRunWrite asks whether the sandbox's user may SET a key of its own.
func dryRunWrite(res sandbox.Resources) []any {
	return []any{"ACL", "DRYRUN", res.RedisUser, "SET", res.RedisPrefix + "k", "v"}
}

// writeDenied reads dryRunWrite's answer.
func writeDenied(res sandbox.Resources, cmd *redis.Cmd) (bool, error) {
	s, err := cmd.Text()
	switch {
	case err != nil && strings.Contains(err.Error(), "not found"):
		return false, nil
	case err != nil:
		return false, fmt.Errorf("ACL DRYRUN %s: %w", res.RedisUser, err)
	}
	return s != "OK", nil
}

// overBudget is Check's message for a sandbox whose writes the watchdog took away.
func (r *Redis) overBudget(ctx context.Context, id string) error {
	msg := fmt.Sprintf("over its Redis memory budget of %s: writes are refused (reads, DEL, UNLINK, EXPIRE and pops work)", mib(r.budget))
	u, ok, err := r.recordedUsage(ctx, id)
	switch {
	case err != nil || !ok:
		msg += " until it deletes keys"
	case u.until.After(time.Now()):
		msg += fmt.Sprintf(" until %s: the server was full, and its largest keys were deleted down to its budget (%s of keys now)",
			u.until.UTC().Format(time.TimeOnly+" UTC"), mib(u.bytes))
	default:
		msg += fmt.Sprintf(" until it deletes keys: %s of keys, measured %s ago", mib(u.bytes), time.Since(u.at).Round(time.Second))
	}
	// quota_exceeded: the tenant's own doing, not damage the reconciler could repair.
	return sandbox.Errorf(sandbox.CodeQuotaExceeded, "%s", msg)
}

func mib(b int64) string { return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20)) }
