// Package keyspace gives each sandbox its slice of Redis: the key and channel prefix
// sandbox:<id>: and an ACL user sandbox_<id> confined to it, denied every command that
// reaches across tenants (KEYS, SCAN, FLUSHALL, CONFIG, ACL, …). Destroy deletes the
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
func (r *Redis) rules(rec sandbox.Record) []any {
	pattern := rec.Resources.RedisPrefix + "*"
	args := []any{"ACL", "SETUSER", rec.Resources.RedisUser, "reset", "on",
		">" + r.secret.Password(PlaneName, rec.ID), "~" + pattern, "&" + pattern, "+@all"}
	for _, d := range denied {
		args = append(args, d)
	}
	return args
}

// Provision creates the sandbox's ACL user. It is one command: it either happens or not.
func (r *Redis) Provision(ctx context.Context, rec sandbox.Record) error {
	if err := r.rdb.Do(ctx, r.rules(rec)...).Err(); err != nil {
		return fmt.Errorf("ACL SETUSER %s: %w", rec.Resources.RedisUser, err)
	}
	return r.persist(ctx)
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
	user := rec.Resources.RedisUser
	if err := r.rdb.Do(ctx, "ACL", "DELUSER", user).Err(); err != nil {
		return fmt.Errorf("ACL DELUSER %s: %w", user, err)
	}
	if err := r.rdb.Do(ctx, "CLIENT", "KILL", "USER", user).Err(); err != nil && !strings.Contains(err.Error(), "No such user") {
		return fmt.Errorf("CLIENT KILL USER %s: %w", user, err)
	}
	if err := r.persist(ctx); err != nil {
		return err
	}
	_, err := r.DeleteKeys(ctx, rec.Resources.RedisPrefix)
	return err
}

// DeleteKeys unlinks every key starting with prefix and returns how many it removed.
func (r *Redis) DeleteKeys(ctx context.Context, prefix string) (int, error) {
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

// Check asks the server whether the sandbox's user exists, is enabled and is confined to
// the sandbox's prefix.
func (r *Redis) Check(ctx context.Context, rec sandbox.Record) error {
	res, err := r.rdb.Do(ctx, "ACL", "GETUSER", rec.Resources.RedisUser).Result()
	if errors.Is(err, redis.Nil) || res == nil {
		return fmt.Errorf("ACL user %s does not exist", rec.Resources.RedisUser)
	}
	if err != nil {
		return err
	}
	desc := fmt.Sprint(res)
	if !strings.Contains(desc, "on") || !strings.Contains(desc, "~"+rec.Resources.RedisPrefix+"*") {
		return fmt.Errorf("ACL user %s is not enabled or not confined to %s*: %s", rec.Resources.RedisUser, rec.Resources.RedisPrefix, desc)
	}
	return nil
}

// URL is the connection URL of the sandbox's ACL user.
func (r *Redis) URL(rec sandbox.Record) string {
	u := r.base
	u.User = url.UserPassword(rec.Resources.RedisUser, r.secret.Password(PlaneName, rec.ID))
	return u.String()
}

// Env is SANDBOX_REDIS_PREFIX and REDIS_URL.
func (r *Redis) Env(rec sandbox.Record) []sandbox.EnvVar {
	return []sandbox.EnvVar{
		{Name: "SANDBOX_REDIS_PREFIX", Value: rec.Resources.RedisPrefix},
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
