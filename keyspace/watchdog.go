package keyspace

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/arrakis/gaib/sandbox"
)

// The watchdog holds every sandbox to its share of the server, in passes every interval:
//
//   - Connections: CLIENT LIST, grouped by ACL user; a sandbox holding more than its
//     client limit loses its newest connections (CLIENT KILL ID). A tenant can open
//     connections faster than one pass, so for up to one interval it may hold more;
//     MaxSandboxes keeps the sum of the limits under maxclients, and the watchdog's own
//     connection, opened before any tenant's, is never refused.
//   - Memory: the keys under sandbox:* are measured with SCAN + MEMORY USAGE, at most
//     keysPerPass keys a pass (a larger keyspace takes several passes: a cycle). A
//     sandbox over its budget loses its write commands but the freeing ones (ACL), until
//     a complete cycle finds it back under. Enforcement comes after the fact: a tenant
//     can write for up to one pass before it is stopped, which is enough to fill the
//     server. So when the server is near its maxmemory, a sandbox over budget also loses
//     its largest keys, down to its budget (the others keep every key: noeviction), and
//     stays without writes for the cooldown.
//
// Several gaib instances share a server: the one whose watchdog connection is the oldest
// runs the passes (the lease is the connection itself, so it needs no write, and works
// when the server is full). A watchdog connection idle for three intervals belongs to a
// hung instance and is closed, so another takes over.

// watchdogName is the client name of every watchdog connection.
const watchdogName = "gaib-keyspace-watchdog"

// scanCount is the COUNT of each SCAN step.
const scanCount = 1000

// pressure is the fraction of maxmemory above which over-budget sandboxes are trimmed.
const pressure = 0.9

type watchdog struct {
	r        *Redis
	c        *redis.Client // one connection, named watchdogName
	admin    string        // the ACL user gaib logs in as
	interval time.Duration
	log      *slog.Logger

	// Pass state, touched only by the loop.
	owner    bool
	complete bool             // a whole cycle was measured since this watchdog became owner
	cursor   uint64           // of the current cycle's SCAN
	partial  map[string]int64 // bytes per sandbox so far in the current cycle
	measured map[string]int64 // bytes per sandbox in the last complete cycle
	trimFrom map[string]uint64
	cooling  map[string]time.Time // trimmed sandboxes: no writes until then
	exact    bool                 // measure every element (the server is near full)
	lastErr  string

	cancel context.CancelFunc
	done   sync.WaitGroup
}

func startWatchdog(r *Redis, opt *redis.Options) (*watchdog, error) {
	w, err := newWatchdog(r, opt)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	w.cancel = cancel
	w.done.Add(1)
	go w.run(ctx)
	return w, nil
}

// newWatchdog connects the watchdog: now, before any tenant can fill maxclients on this
// start.
func newWatchdog(r *Redis, opt *redis.Options) (*watchdog, error) {
	// Exactly one connection, kept for ever, pipelines included: its id is the lease.
	o := *opt
	o.PoolSize, o.MinIdleConns, o.MaxIdleConns, o.PipelinePoolSize, o.ClientName = 1, 0, 1, -1, watchdogName
	o.ConnMaxIdleTime, o.ConnMaxLifetime = -1, -1
	w := &watchdog{r: r, c: redis.NewClient(&o), admin: cmp.Or(opt.Username, "default"), interval: r.opts.watch,
		log: slog.Default().With("plane", PlaneName, "part", "watchdog"), measured: map[string]int64{}, partial: map[string]int64{},
		trimFrom: map[string]uint64{}, cooling: map[string]time.Time{}}
	if err := w.c.Ping(context.Background()).Err(); err != nil {
		w.c.Close()
		return nil, fmt.Errorf("redis watchdog: %w", err)
	}
	return w, nil
}

// stop ends the loop, waits for the pass in progress and closes the connection.
func (w *watchdog) stop() {
	w.cancel()
	w.done.Wait()
	_ = w.c.Close()
}

func (w *watchdog) run(ctx context.Context) {
	defer w.done.Done()
	t := time.NewTicker(w.interval)
	defer t.Stop()
	for {
		err := w.pass(ctx)
		if ctx.Err() != nil {
			return
		}
		// Say each new trouble once, and when it is over.
		if msg := fmt.Sprint(err); err != nil && msg != w.lastErr {
			w.log.Warn("pass failed", "err", err)
			w.lastErr = msg
		} else if err == nil && w.lastErr != "" {
			w.log.Info("passes work again")
			w.lastErr = ""
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// client is one line of CLIENT LIST.
type client struct {
	id   int64
	name string
	user string
	idle int64 // seconds
}

func parseClients(list string) []client {
	var out []client
	for _, line := range strings.Split(list, "\n") {
		var c client
		for _, f := range strings.Fields(line) {
			k, v, _ := strings.Cut(f, "=")
			switch k {
			case "id":
				c.id, _ = strconv.ParseInt(v, 10, 64)
			case "name":
				c.name = v
			case "user":
				c.user = v
			case "idle":
				c.idle, _ = strconv.ParseInt(v, 10, 64)
			}
		}
		if c.id > 0 {
			out = append(out, c)
		}
	}
	return out
}

// pass is one round: ownership, connections, one memory step, and the ACLs that follow.
func (w *watchdog) pass(ctx context.Context) error {
	var idCmd *redis.IntCmd
	var listCmd *redis.StringCmd
	if _, err := w.c.Pipelined(ctx, func(p redis.Pipeliner) error {
		idCmd, listCmd = p.ClientID(ctx), p.ClientList(ctx)
		return nil
	}); err != nil {
		return fmt.Errorf("CLIENT LIST: %w", err)
	}
	clients := parseClients(listCmd.Val())
	if !w.own(ctx, idCmd.Val(), clients) {
		return nil
	}
	if err := w.limitClients(ctx, clients); err != nil {
		return err
	}
	return w.limitMemory(ctx)
}

// own says whether this watchdog runs the passes: its connection is the oldest of the
// admin's watchdog connections. A tenant may name its connections alike, but not log in
// as the admin. Watchdog connections idle for three intervals are closed.
func (w *watchdog) own(ctx context.Context, me int64, clients []client) bool {
	oldest := me
	stale := int64(max(3*time.Second, 3*w.interval) / time.Second)
	for _, c := range clients {
		if c.name != watchdogName || c.user != w.admin || c.id == me {
			continue
		}
		if c.idle >= stale {
			_ = w.c.Do(ctx, "CLIENT", "KILL", "ID", c.id).Err()
			continue
		}
		oldest = min(oldest, c.id)
	}
	if owner := oldest == me; owner != w.owner {
		w.owner = owner
		// A new owner measures from scratch: what it knew is stale.
		w.cursor, w.partial, w.measured, w.complete = 0, map[string]int64{}, map[string]int64{}, false
		w.log.Debug("watchdog ownership", "owner", owner)
	}
	return w.owner
}

// limitClients closes, for each sandbox user over the client limit, its newest
// connections beyond it (client ids grow with time).
func (w *watchdog) limitClients(ctx context.Context, clients []client) error {
	byUser := map[string][]int64{}
	for _, c := range clients {
		if _, ok := sandboxOfUser(c.user); ok {
			byUser[c.user] = append(byUser[c.user], c.id)
		}
	}
	limit := w.r.opts.clientLimit
	var kill []int64
	for user, ids := range byUser {
		if len(ids) <= limit {
			continue
		}
		slices.Sort(ids)
		kill = append(kill, ids[limit:]...)
		w.log.Warn("sandbox over its Redis client limit: closing its newest connections", "user", user, "clients", len(ids), "limit", limit)
	}
	if len(kill) == 0 {
		return nil
	}
	_, err := w.c.Pipelined(ctx, func(p redis.Pipeliner) error {
		for _, id := range kill {
			p.Do(ctx, "CLIENT", "KILL", "ID", id)
		}
		return nil
	})
	if err != nil && !strings.Contains(err.Error(), "No such client") {
		return fmt.Errorf("CLIENT KILL: %w", err)
	}
	return nil
}

// limitMemory measures one step of the keyspace, trims under pressure, and gives each
// sandbox the commands its usage allows.
func (w *watchdog) limitMemory(ctx context.Context) error {
	users, err := w.r.rdb.Do(ctx, "ACL", "USERS").StringSlice()
	if err != nil {
		return fmt.Errorf("ACL USERS: %w", err)
	}
	ids := map[string]bool{}
	for _, u := range users {
		if id, ok := sandboxOfUser(u); ok {
			ids[id] = true
		}
	}
	full, err := w.underPressure(ctx)
	if err != nil {
		return err
	}
	// MEMORY USAGE samples a collection's first few elements and scales them up, so a
	// collection whose first elements are small is counted far below its size (a tenant can
	// order its members that way). Counting every element costs as much as the collection,
	// so it is done when the server is near full: then the keys that fill it are found
	// whatever their shape, and trimmed.
	w.exact = full
	if err := w.measure(ctx); err != nil {
		return err
	}
	now := time.Now()
	want := map[string]bool{}
	used := map[string]int64{}
	for id := range ids {
		used[id] = max(w.measured[id], w.partial[id])
		if used[id] > w.r.budget && full {
			freed, err := w.trim(ctx, id, used[id]-w.r.budget)
			if err != nil {
				return err
			}
			used[id] -= freed
			w.measured[id] = max(0, w.measured[id]-freed)
			w.partial[id] = max(0, w.partial[id]-freed)
			w.cooling[id] = now.Add(w.r.opts.cooldown)
		}
		want[id] = used[id] > w.r.budget || now.Before(w.cooling[id])
	}
	changed, err := w.apply(ctx, want, used)
	if err != nil {
		return err
	}
	records := map[string]any{}
	for id := range ids {
		u := usage{bytes: used[id], restricted: want[id], at: now}
		if until := w.cooling[id]; now.Before(until) {
			u.until = until
		}
		records[id] = u.String()
	}
	for id, until := range w.cooling {
		if !ids[id] || now.After(until) {
			delete(w.cooling, id)
		}
	}
	if changed {
		if err := w.r.persist(ctx); err != nil {
			return err
		}
	}
	return w.record(ctx, ids, records)
}

// apply switches the command rules of every sandbox whose ACL does not say what want
// says (one pipeline of ACL DRYRUN to find them), and reports whether it changed any.
func (w *watchdog) apply(ctx context.Context, want map[string]bool, used map[string]int64) (bool, error) {
	cmds := map[string]*redis.Cmd{}
	_, _ = w.r.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for id := range want {
			cmds[id] = p.Do(ctx, dryRunWrite(sandbox.ResourcesFor(id))...)
		}
		return nil
	})
	changed := false
	for id, cmd := range cmds {
		res := sandbox.ResourcesFor(id)
		is, err := writeDenied(res, cmd)
		if err != nil {
			return changed, err
		}
		// Writes come back only on a whole cycle's word: a part of one proves no sandbox
		// under its budget.
		if is == want[id] || (is && !w.complete) {
			continue
		}
		if err := w.r.rdb.Do(ctx, switchCommands(res.RedisUser, want[id])...).Err(); err != nil {
			return changed, fmt.Errorf("ACL SETUSER %s: %w", res.RedisUser, err)
		}
		changed = true
		if want[id] {
			w.log.Warn("sandbox over its Redis memory budget: writes refused", "sandbox", id, "bytes", used[id], "budget", w.r.budget)
		} else {
			w.log.Info("sandbox back under its Redis memory budget: writes allowed", "sandbox", id, "bytes", used[id], "budget", w.r.budget)
		}
	}
	return changed, nil
}

// measure runs one bounded step of the cycle: at most keysPerPass/scanCount SCAN steps,
// each key's MEMORY USAGE in one pipeline per step.
func (w *watchdog) measure(ctx context.Context) error {
	match := sandbox.SandboxPrefix + ":*"
	for range max(1, w.r.opts.keysPerPass/scanCount) {
		keys, next, err := w.r.rdb.Scan(ctx, w.cursor, match, scanCount).Result()
		if err != nil {
			return fmt.Errorf("SCAN: %w", err)
		}
		sizes, err := w.sizes(ctx, keys)
		if err != nil {
			return err
		}
		// SCAN may return a key twice (while the table is resized): a sandbox may then
		// count a key twice in that cycle, never miss one.
		for i, k := range keys {
			if id, ok := sandboxOfKey(k); ok {
				w.partial[id] += sizes[i]
			}
		}
		if w.cursor = next; next == 0 {
			w.measured, w.partial, w.complete = w.partial, map[string]int64{}, true
			return nil
		}
	}
	return nil
}

// sizes is MEMORY USAGE of each key (0 for a key gone meanwhile).
func (w *watchdog) sizes(ctx context.Context, keys []string) ([]int64, error) {
	if len(keys) == 0 {
		return nil, nil
	}
	cmds := make([]*redis.IntCmd, len(keys))
	_, err := w.r.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, k := range keys {
			if w.exact {
				cmds[i] = p.MemoryUsage(ctx, k, 0) // SAMPLES 0: every element
			} else {
				cmds[i] = p.MemoryUsage(ctx, k)
			}
		}
		return nil
	})
	if err != nil && !errors.Is(err, redis.Nil) {
		return nil, fmt.Errorf("MEMORY USAGE: %w", err)
	}
	out := make([]int64, len(keys))
	for i, c := range cmds {
		out[i] = c.Val()
	}
	return out, nil
}

// underPressure says whether the server's memory is near its maxmemory.
func (w *watchdog) underPressure(ctx context.Context) (bool, error) {
	info, err := w.r.rdb.Info(ctx, "memory").Result()
	if err != nil {
		return false, fmt.Errorf("INFO memory: %w", err)
	}
	f := infoFields(info)
	used, _ := strconv.ParseInt(f["used_memory"], 10, 64)
	limit, _ := strconv.ParseInt(f["maxmemory"], 10, 64)
	return limit > 0 && float64(used) >= pressure*float64(limit), nil
}

// trim unlinks the largest keys of sandbox id found in one bounded SCAN of its prefix
// (continued where the last trim of it stopped) until excess bytes are freed, and returns
// how many were.
func (w *watchdog) trim(ctx context.Context, id string, excess int64) (int64, error) {
	match := escapeGlob(sandbox.ResourcesFor(id).RedisPrefix) + "*"
	type sized struct {
		key  string
		size int64
	}
	var found []sized
	cursor := w.trimFrom[id]
	for range max(1, w.r.opts.keysPerPass/scanCount) {
		keys, next, err := w.r.rdb.Scan(ctx, cursor, match, scanCount).Result()
		if err != nil {
			return 0, fmt.Errorf("SCAN %s: %w", match, err)
		}
		sizes, err := w.sizes(ctx, keys)
		if err != nil {
			return 0, err
		}
		for i, k := range keys {
			found = append(found, sized{k, sizes[i]})
		}
		if cursor = next; cursor == 0 {
			break
		}
	}
	w.trimFrom[id] = cursor
	slices.SortFunc(found, func(a, b sized) int { return cmp.Compare(b.size, a.size) })
	var freed int64
	var unlink []string
	for _, k := range found {
		if freed >= excess {
			break
		}
		unlink, freed = append(unlink, k.key), freed+k.size
	}
	if len(unlink) == 0 {
		return 0, nil
	}
	if err := w.r.rdb.Unlink(ctx, unlink...).Err(); err != nil {
		return 0, fmt.Errorf("UNLINK: %w", err)
	}
	w.log.Warn("Redis is near its maxmemory: trimmed a sandbox over its memory budget", "sandbox", id,
		"keys", len(unlink), "bytes", freed, "budget", w.r.budget)
	return freed, nil
}

// record writes what was measured to usageKey and forgets sandboxes without a user. It
// is best effort: when the server is full, HSET is refused like any write, and Check and
// Repair fall back on the ACL itself.
func (w *watchdog) record(ctx context.Context, ids map[string]bool, records map[string]any) error {
	fields, err := w.r.rdb.HKeys(ctx, usageKey).Result()
	if err != nil {
		return fmt.Errorf("HKEYS %s: %w", usageKey, err)
	}
	var gone []string
	for _, f := range fields {
		if !ids[f] {
			gone = append(gone, f)
		}
	}
	_, err = w.r.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		if len(gone) > 0 {
			p.HDel(ctx, usageKey, gone...)
		}
		if len(records) > 0 {
			p.HSet(ctx, usageKey, records)
		}
		return nil
	})
	if err != nil && !strings.HasPrefix(err.Error(), "OOM") {
		return fmt.Errorf("record usage: %w", err)
	}
	return nil
}
