// Package keyspace gives each sandbox its slice of Redis: the key and channel prefix
// sandbox:<id>: and an ACL user sandbox_<id> confined to it, denied every command that
// reaches across tenants (KEYS, SCAN, FLUSHALL, CONFIG, ACL, …), leaves its database
// (SELECT, MOVE, COPY … DB) or holds the single-threaded server for everyone (scripts).
// Every name is derived from the sandbox id at the moment of use. Destroy deletes the
// prefix's keys in batches without blocking the server.
package keyspace

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"

	"github.com/redis/go-redis/v9"

	"github.com/arrakis/gaib/sandbox"
)

// PlaneName is the name of the Redis plane in health checks and password derivation.
const PlaneName = "redis"

// denied are the commands a sandbox user may not run even on its own keys, because ACL key
// patterns do not confine them: they list, scan, flush or reconfigure the whole server.
var denied = []string{
	"-@admin", "-@dangerous", "-keys", "-scan", "-randomkey", "-dbsize", "-flushall", "-flushdb",
	"-config", "-acl", "-select", "-swapdb", "-move", "-migrate", "-monitor", "-debug", "-shutdown",
	"-client", "-info", "-pubsub", "-script", "-function", "-save", "-bgsave", "-bgrewriteaof",
	"-replicaof", "-slaveof", "-sync", "-psync", "-failover", "-cluster", "-readonly", "-readwrite",
	"-latency", "-memory", "-module", "-slowlog", "-lastsave", "-role", "-object",
	// A script runs alone on the server: `while true do end` answers BUSY to every tenant
	// until killed, and SCRIPT KILL cannot stop one that has written. Scripts are denied
	// rather than watched (EVAL*, FCALL*, FUNCTION, SCRIPT).
	"-@scripting",
	// COPY … DB n writes into another database, out of sight of destroy and orphan
	// detection (the managed server has one database; an external one may have 16).
	"-copy",
	// Client libraries introduce themselves on connect; that much CLIENT is harmless.
	"+client|setname", "+client|getname", "+client|id",
}

// deleteBatch is how many keys one SCAN step deletes with UNLINK.
const deleteBatch = 500

// Redis provisions sandbox ACL users on one Redis server.
type Redis struct {
	rdb    *redis.Client
	secret sandbox.Secret
	base   url.URL // host, port, db and scheme for the sandboxes' URLs
	save   bool
}

// Open connects to Redis at adminURL as a user allowed to manage ACLs. With saveACL, every
// change is persisted with ACL SAVE (servers started with an aclfile, like gaib's managed
// one); elsewhere (ElastiCache) that is left to the server.
func Open(ctx context.Context, adminURL string, secret sandbox.Secret, saveACL bool) (*Redis, error) {
	opt, err := redis.ParseURL(adminURL)
	if err != nil {
		return nil, fmt.Errorf("redis url: %w", err)
	}
	rdb := redis.NewClient(opt)
	if err := rdb.Ping(ctx).Err(); err != nil {
		rdb.Close()
		return nil, fmt.Errorf("redis %s: %w", opt.Addr, err)
	}
	u, _ := url.Parse(adminURL)
	base := url.URL{Scheme: u.Scheme, Host: opt.Addr, Path: fmt.Sprintf("/%d", opt.DB)}
	return &Redis{rdb: rdb, secret: secret, base: base, save: saveACL}, nil
}

// Close closes the client.
func (r *Redis) Close() error { return r.rdb.Close() }

// Name is "redis".
func (r *Redis) Name() string { return PlaneName }

// Version is empty: Redis has nothing to version.
func (r *Redis) Version() string { return "" }

// rules are the ACL SETUSER rules of a sandbox user: reset first, so re-provisioning is
// exact; then its password, its key and channel patterns, every command but the denied.
func (r *Redis) rules(id string, res sandbox.Resources) []any {
	pattern := res.RedisPrefix + "*"
	args := []any{"ACL", "SETUSER", res.RedisUser, "reset", "on",
		">" + r.secret.Password(PlaneName, id), "~" + pattern, "&" + pattern, "+@all"}
	for _, d := range denied {
		args = append(args, d)
	}
	return args
}

// Provision creates the sandbox's ACL user. It is one command: it either happens or not.
func (r *Redis) Provision(ctx context.Context, rec sandbox.Record) error {
	res, err := sandbox.ResourcesOf(rec.ID)
	if err != nil {
		return err
	}
	if err := r.rdb.Do(ctx, r.rules(rec.ID, res)...).Err(); err != nil {
		return fmt.Errorf("ACL SETUSER %s: %w", res.RedisUser, err)
	}
	return r.persist(ctx)
}

// Repair sets the sandbox's ACL user again from the id alone (ACL SETUSER … reset): a lost
// user is re-created, a changed one gets its derived password, patterns and denials back.
// Its keys and open connections are left alone. It is idempotent.
func (r *Redis) Repair(ctx context.Context, rec sandbox.Record) error {
	return r.Provision(ctx, rec)
}

func (r *Redis) persist(ctx context.Context) error {
	if !r.save {
		return nil
	}
	if err := r.rdb.Do(ctx, "ACL", "SAVE").Err(); err != nil {
		return fmt.Errorf("ACL SAVE: %w", err)
	}
	return nil
}

// Teardown removes the user (ending its connections) and deletes every key under the
// prefix with SCAN + UNLINK in batches, so the server never blocks on a large keyspace.
func (r *Redis) Teardown(ctx context.Context, rec sandbox.Record) error {
	res, err := sandbox.ResourcesOf(rec.ID)
	if err != nil {
		return err
	}
	user := res.RedisUser
	if err := r.rdb.Do(ctx, "ACL", "DELUSER", user).Err(); err != nil {
		return fmt.Errorf("ACL DELUSER %s: %w", user, err)
	}
	if err := r.rdb.Do(ctx, "CLIENT", "KILL", "USER", user).Err(); err != nil && !strings.Contains(err.Error(), "No such user") {
		return fmt.Errorf("CLIENT KILL USER %s: %w", user, err)
	}
	if err := r.persist(ctx); err != nil {
		return err
	}
	_, err = r.deleteKeys(ctx, res.RedisPrefix)
	return err
}

// deleteKeys unlinks every key starting with prefix (a sandbox's derived prefix, never
// shorter than sandbox:<id>:) and returns how many it removed.
func (r *Redis) deleteKeys(ctx context.Context, prefix string) (int, error) {
	if id, ok := sandbox.IDFromResource(prefix); !ok || prefix != sandbox.ResourcesFor(id).RedisPrefix {
		return 0, fmt.Errorf("refusing to delete keys under %q: not a sandbox's prefix", prefix)
	}
	match := escapeGlob(prefix) + "*"
	n := 0
	var cursor uint64
	for {
		keys, next, err := r.rdb.Scan(ctx, cursor, match, deleteBatch).Result()
		if err != nil {
			return n, fmt.Errorf("SCAN %s: %w", match, err)
		}
		if len(keys) > 0 {
			if err := r.rdb.Unlink(ctx, keys...).Err(); err != nil {
				return n, fmt.Errorf("UNLINK: %w", err)
			}
			n += len(keys)
		}
		if cursor = next; cursor == 0 {
			return n, nil
		}
	}
}

// escapeGlob quotes the glob characters of s for SCAN MATCH.
func escapeGlob(s string) string {
	var b strings.Builder
	for _, c := range s {
		if strings.ContainsRune(`*?[]\`, c) {
			b.WriteByte('\\')
		}
		b.WriteRune(c)
	}
	return b.String()
}

// Check reports whether the sandbox works as `connect` says: the admin finds its user
// enabled and confined to its prefix, and a client logged in with the URL `connect` hands
// out gets an answer. Errors are the server's own (BUSY, WRONGPASS, timeouts), never
// guessed.
func (r *Redis) Check(ctx context.Context, rec sandbox.Record) error {
	res, err := sandbox.ResourcesOf(rec.ID)
	if err != nil {
		return err
	}
	desc, err := r.rdb.Do(ctx, "ACL", "GETUSER", res.RedisUser).Result()
	switch {
	case errors.Is(err, redis.Nil):
		return fmt.Errorf("ACL user %s does not exist", res.RedisUser)
	case err != nil:
		return fmt.Errorf("ACL GETUSER %s: %w", res.RedisUser, err)
	}
	fields := aclFields(desc)
	pattern := res.RedisPrefix + "*"
	if !strings.Contains(" "+fields["flags"]+" ", " on ") || fields["keys"] != "~"+pattern || fields["channels"] != "&"+pattern {
		return fmt.Errorf("ACL user %s is not enabled or not confined to %s: %v", res.RedisUser, pattern, desc)
	}
	opt, err := redis.ParseURL(r.URL(rec))
	if err != nil {
		return err
	}
	opt.MaxRetries, opt.PoolSize = -1, 1
	c := redis.NewClient(opt)
	defer c.Close()
	if err := c.Ping(ctx).Err(); err != nil {
		return fmt.Errorf("cannot use %s with the connect URL: %w", res.RedisUser, err)
	}
	return nil
}

// aclFields flattens an ACL GETUSER reply (RESP2 list or RESP3 map) to field → text.
func aclFields(desc any) map[string]string {
	out := map[string]string{}
	put := func(k, v any) {
		if list, ok := v.([]any); ok {
			parts := make([]string, len(list))
			for i, p := range list {
				parts[i] = fmt.Sprint(p)
			}
			v = strings.Join(parts, " ")
		}
		out[fmt.Sprint(k)] = fmt.Sprint(v)
	}
	switch d := desc.(type) {
	case []any:
		for i := 0; i+1 < len(d); i += 2 {
			put(d[i], d[i+1])
		}
	case map[any]any:
		for k, v := range d {
			put(k, v)
		}
	}
	return out
}

// URL is the connection URL of the sandbox's ACL user; empty for a record whose id is not
// an id.
func (r *Redis) URL(rec sandbox.Record) string {
	res, err := sandbox.ResourcesOf(rec.ID)
	if err != nil {
		return ""
	}
	u := r.base
	u.User = url.UserPassword(res.RedisUser, r.secret.Password(PlaneName, rec.ID))
	return u.String()
}

// Env is SANDBOX_REDIS_PREFIX and REDIS_URL; nothing for a record whose id is not an id.
func (r *Redis) Env(rec sandbox.Record) []sandbox.EnvVar {
	res, err := sandbox.ResourcesOf(rec.ID)
	if err != nil {
		return nil
	}
	return []sandbox.EnvVar{
		{Name: "SANDBOX_REDIS_PREFIX", Value: res.RedisPrefix},
		{Name: "REDIS_URL", Value: r.URL(rec)},
	}
}

// Inventory returns the ids of every sandbox that has an ACL user or keys here, with what
// it has ("user", "keys"), parsing names exactly.
func (r *Redis) Inventory(ctx context.Context) (map[string][]string, error) {
	out := map[string][]string{}
	users, err := r.rdb.Do(ctx, "ACL", "USERS").StringSlice()
	if err != nil {
		return nil, err
	}
	for _, u := range users {
		if id, ok := sandbox.IDFromResource(u); ok && u == sandbox.ResourcesFor(id).RedisUser {
			out[id] = append(out[id], "user")
		}
	}
	seen := map[string]bool{}
	var cursor uint64
	for {
		keys, next, err := r.rdb.Scan(ctx, cursor, sandbox.SandboxPrefix+":*", deleteBatch).Result()
		if err != nil {
			return nil, err
		}
		for _, k := range keys {
			if id, ok := sandbox.IDFromResource(k); ok && !seen[id] && strings.HasPrefix(k, sandbox.ResourcesFor(id).RedisPrefix) {
				seen[id] = true
				out[id] = append(out[id], "keys")
			}
		}
		if cursor = next; cursor == 0 {
			return out, nil
		}
	}
}
