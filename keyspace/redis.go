// Package keyspace gives each sandbox its slice of Redis: the key and channel prefix
// sandbox:<id>: and an ACL user sandbox_<id> confined to it, denied every command that
// reaches across tenants (KEYS, SCAN, FLUSHALL, CONFIG, ACL, …), leaves its database
// (SELECT, MOVE, COPY … DB) or holds the single-threaded server for everyone (scripts,
// commands whose cost an argument chooses). A watchdog holds each sandbox to a client
// limit and a memory budget. Every name is derived from the sandbox id at the moment of
// use. Destroy deletes the prefix's keys in batches without blocking the server.
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

// deleteBatch is how many keys one SCAN step deletes with UNLINK.
const deleteBatch = 500

// Redis provisions sandbox ACL users on one Redis server.
type Redis struct {
	rdb        *redis.Client
	secret     sandbox.Secret
	base       url.URL // host, port, db and scheme for the sandboxes' URLs
	save       bool
	opts       options
	maxClients int   // the server's maxclients
	budget     int64 // each sandbox's memory budget in bytes
	dog        *watchdog
}

// Open connects to Redis at adminURL as a user allowed to manage ACLs. With saveACL, every
// change is persisted with ACL SAVE (servers started with an aclfile, like gaib's managed
// one); elsewhere (ElastiCache) that is left to the server. With WithWatchdog, the
// watchdog runs until Close.
func Open(ctx context.Context, adminURL string, secret sandbox.Secret, saveACL bool, opt ...Option) (*Redis, error) {
	o, err := newOptions(opt)
	if err != nil {
		return nil, err
	}
	ropt, err := redis.ParseURL(adminURL)
	if err != nil {
		return nil, fmt.Errorf("redis url: %w", err)
	}
	if ropt.PoolSize == 0 {
		ropt.PoolSize = adminPoolSize
	}
	// Pipelines share that pool: go-redis would otherwise open up to 10 more.
	ropt.PipelinePoolSize = -1
	// gaib's own connections are never the ones evicted when the clients' buffers exceed
	// maxmemory-clients. Best effort: should it fail, gaib's connection is merely evictable.
	ropt.OnConnect = func(ctx context.Context, cn *redis.Conn) error {
		_ = cn.Do(ctx, "CLIENT", "NO-EVICT", "on").Err()
		return nil
	}
	rdb := redis.NewClient(ropt)
	if err := rdb.Ping(ctx).Err(); err != nil {
		rdb.Close()
		return nil, fmt.Errorf("redis %s: %w", ropt.Addr, err)
	}
	maxClients, maxMemory, err := serverLimits(ctx, rdb)
	if err != nil {
		rdb.Close()
		return nil, fmt.Errorf("redis %s: %w", ropt.Addr, err)
	}
	u, _ := url.Parse(adminURL)
	base := url.URL{Scheme: u.Scheme, Host: ropt.Addr, Path: fmt.Sprintf("/%d", ropt.DB)}
	r := &Redis{rdb: rdb, secret: secret, base: base, save: saveACL, opts: o, maxClients: maxClients,
		budget: budgetFor(o, maxMemory, fitting(o, maxClients))}
	if o.watch > 0 {
		if r.dog, err = startWatchdog(r, ropt); err != nil {
			rdb.Close()
			return nil, err
		}
	}
	return r, nil
}

// Close stops the watchdog and closes the client.
func (r *Redis) Close() error {
	if r.dog != nil {
		r.dog.stop()
	}
	return r.rdb.Close()
}

// Name is "redis".
func (r *Redis) Name() string { return PlaneName }

// Version is empty: Redis has nothing to version.
func (r *Redis) Version() string { return "" }

// Provision creates the sandbox's ACL user. It is one command: it either happens or not.
// A sandbox the watchdog restricted for its memory stays restricted (see Repair).
func (r *Redis) Provision(ctx context.Context, rec sandbox.Record) error {
	res, err := sandbox.ResourcesOf(rec.ID)
	if err != nil {
		return err
	}
	restrict, err := r.keepRestricted(ctx, rec.ID, res)
	if err != nil {
		return err
	}
	if err := r.rdb.Do(ctx, r.rules(rec.ID, res, restrict)...).Err(); err != nil {
		return fmt.Errorf("ACL SETUSER %s: %w", res.RedisUser, err)
	}
	return r.persist(ctx)
}

// keepRestricted says whether a user being (re)made must stay without writes: its ACL
// says so now, or the watchdog's last record does (the user was lost while over budget).
func (r *Redis) keepRestricted(ctx context.Context, id string, res sandbox.Resources) (bool, error) {
	now, err := r.restricted(ctx, res)
	if err != nil || now {
		return now, err
	}
	u, ok, err := r.recordedUsage(ctx, id)
	if err != nil {
		return false, fmt.Errorf("HGET %s: %w", usageKey, err)
	}
	return ok && u.restricted, nil
}

// Repair sets the sandbox's ACL user again from the id alone (ACL SETUSER … reset): a lost
// user is re-created, a changed one gets its derived password, patterns and denials back;
// one over its memory budget stays without writes (the watchdog lifts that when it is
// back under). Its keys and open connections are left alone. It is idempotent.
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

// Teardown removes the user (ending its connections), deletes every key under the prefix
// with SCAN + UNLINK in batches, so the server never blocks on a large keyspace, and the
// watchdog's record. The user is deleted again at the end: a watchdog pass that listed it
// just before may have switched its commands after the first delete, which re-creates a
// user that is off, without password or key (see switchCommands).
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
	if _, err = r.deleteKeys(ctx, res.RedisPrefix); err != nil {
		return err
	}
	if err := r.rdb.HDel(ctx, usageKey, rec.ID).Err(); err != nil {
		return fmt.Errorf("HDEL %s: %w", usageKey, err)
	}
	n, err := r.rdb.Do(ctx, "ACL", "DELUSER", user).Int()
	if err != nil {
		return fmt.Errorf("ACL DELUSER %s: %w", user, err)
	}
	if n > 0 {
		return r.persist(ctx)
	}
	return nil
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
// enabled and confined to its prefix, a client logged in with the URL `connect` hands out
// gets an answer, and the user may write (else it is over its memory budget, and Check
// says so). Errors are the server's own (BUSY, WRONGPASS, timeouts), never guessed.
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
	restricted, err := r.restricted(ctx, res)
	if err != nil {
		return err
	}
	if restricted {
		return r.overBudget(ctx, rec.ID)
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
		if id, ok := sandboxOfUser(u); ok {
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
			if id, ok := sandboxOfKey(k); ok && !seen[id] {
				seen[id] = true
				out[id] = append(out[id], "keys")
			}
		}
		if cursor = next; cursor == 0 {
			return out, nil
		}
	}
}

// sandboxOfUser is the id of the sandbox whose ACL user is user, parsed exactly.
func sandboxOfUser(user string) (string, bool) {
	id, ok := sandbox.IDFromResource(user)
	return id, ok && user == sandbox.ResourcesFor(id).RedisUser
}

// sandboxOfKey is the id of the sandbox whose prefix key has, parsed exactly.
func sandboxOfKey(key string) (string, bool) {
	id, ok := sandbox.IDFromResource(key)
	return id, ok && strings.HasPrefix(key, sandbox.ResourcesFor(id).RedisPrefix)
}
