package keyspace_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/arrakis/gaib/embedded"
	"github.com/arrakis/gaib/embedded/embeddedtest"
	"github.com/arrakis/gaib/keyspace"
	"github.com/arrakis/gaib/sandbox"
)

// Attacks on what the sandboxes share: the server's CPU, its connections and its memory.
// Each gives the attacker only its REDIS_URL, and asserts that the attack failed and
// that the other sandbox still works.

// watch is the watchdog interval of these tests.
const watch = 50 * time.Millisecond

// ownServer starts a managed redis-server for this test alone, with maxMemory.
func ownServer(t *testing.T, maxMemory string) *embedded.Redis {
	t.Helper()
	rs, err := embedded.StartRedis(embedded.RedisOptions{Dir: embeddedtest.TempDir(t), Ephemeral: true, MaxMemory: maxMemory})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(rs.Stop)
	return rs
}

// eventually retries f until it returns nil, failing the test after 10 s.
func eventually(t *testing.T, what string, f func() error) {
	t.Helper()
	var err error
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if err = f(); err == nil {
			return
		}
	}
	t.Fatalf("%s: %v", what, err)
}

// rawLogin opens a connection with the sandbox's credentials, outside any pool.
func rawLogin(p *plane, rec sandbox.Record) (net.Conn, error) {
	opt, err := redis.ParseURL(p.URL(rec))
	if err != nil {
		return nil, err
	}
	c, err := net.Dial("tcp", opt.Addr)
	if err != nil {
		return nil, err
	}
	if err := send(c, "AUTH", opt.Username, opt.Password); err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

// send writes a command and returns an error unless its reply is +OK or +PONG.
func send(c net.Conn, args ...string) error {
	var b strings.Builder
	fmt.Fprintf(&b, "*%d\r\n", len(args))
	for _, a := range args {
		fmt.Fprintf(&b, "$%d\r\n%s\r\n", len(a), a)
	}
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Write([]byte(b.String())); err != nil {
		return err
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return err
	}
	if line != "+OK\r\n" && line != "+PONG\r\n" {
		return fmt.Errorf("%q", strings.TrimSpace(line))
	}
	return nil
}

// clientsOf counts the connections of the sandbox's user.
func (p *plane) clientsOf(t *testing.T, rec sandbox.Record) int {
	t.Helper()
	list, err := p.admin.ClientList(context.Background()).Result()
	if err != nil {
		t.Fatal(err)
	}
	return strings.Count(list, " user="+rec.Resources.RedisUser+" ")
}

// stored is the MEMORY USAGE of the sandbox's keys together.
func (p *plane) stored(t *testing.T, rec sandbox.Record) int64 {
	t.Helper()
	ctx := context.Background()
	keys, err := p.admin.Keys(ctx, rec.Resources.RedisPrefix+"*").Result()
	if err != nil {
		t.Fatal(err)
	}
	var n int64
	for _, k := range keys {
		n += p.admin.MemoryUsage(ctx, k, 0).Val() // every element, not a sample
	}
	return n
}

// repeat is key n times.
func repeat(n int, keys ...string) []any {
	out := make([]any, 0, n*len(keys))
	for range n {
		for _, k := range keys {
			out = append(out, k)
		}
	}
	return out
}

func cmd(head []any, tail ...[]any) []any {
	for _, t := range tail {
		head = append(head, t...)
	}
	return head
}

// Commands whose cost an argument chooses hold the single-threaded server for every
// tenant (SRANDMEMBER -300000000 on a 3-member set: 0.4 s; a set named 20,000 times in
// SUNION: 1 s): they are refused, and what bots use instead works.
func TestAttackCostlyCommands(t *testing.T) {
	ctx := context.Background()
	p := sharedPlane(t)
	mallory, alice := p.create(t), p.create(t)
	m := p.tenant(t, mallory)
	k := func(s string) string { return mallory.Resources.RedisPrefix + s }
	// The keys exist, so that a refusal is the ACL's and not an empty key's.
	for _, c := range []redis.Cmder{
		m.SAdd(ctx, k("s"), "a", "b", "c"), m.SAdd(ctx, k("t"), "b", "c", "d"),
		m.HSet(ctx, k("h"), "a", 1, "b", 2), m.ZAdd(ctx, k("z"), redis.Z{Score: 1, Member: "a"}),
		m.PFAdd(ctx, k("hll"), "a", "b"), m.Set(ctx, k("str"), "xyz", 0), m.RPush(ctx, k("l"), 3, 1, 2),
		m.XAdd(ctx, &redis.XAddArgs{Stream: k("x"), Values: []any{"f", "v"}}),
	} {
		if err := c.Err(); err != nil {
			t.Fatal(err)
		}
	}
	const n = 1000
	refused(t, m,
		[]any{"SRANDMEMBER", k("s"), "-300000000"},
		[]any{"HRANDFIELD", k("h"), "-300000000", "WITHVALUES"},
		[]any{"ZRANDMEMBER", k("z"), "-300000000", "WITHSCORES"},
		cmd([]any{"SUNION"}, repeat(n, k("s"))),
		cmd([]any{"SUNIONSTORE", k("d")}, repeat(n, k("s"))),
		cmd([]any{"SINTER"}, repeat(n, k("s"), k("t"))),
		cmd([]any{"SINTERSTORE", k("d")}, repeat(n, k("s"), k("t"))),
		cmd([]any{"SINTERCARD", 2 * n}, repeat(n, k("s"), k("t"))),
		cmd([]any{"SDIFF"}, repeat(n, k("s"), k("t"))),
		cmd([]any{"SDIFFSTORE", k("d")}, repeat(n, k("s"), k("t"))),
		cmd([]any{"ZUNION", n}, repeat(n, k("z"))),
		cmd([]any{"ZUNIONSTORE", k("d"), n}, repeat(n, k("z"))),
		cmd([]any{"ZINTER", n}, repeat(n, k("z"))),
		cmd([]any{"ZINTERSTORE", k("d"), n}, repeat(n, k("z"))),
		cmd([]any{"ZINTERCARD", n}, repeat(n, k("z"))),
		cmd([]any{"ZDIFF", n}, repeat(n, k("z"))),
		cmd([]any{"ZDIFFSTORE", k("d"), n}, repeat(n, k("z"))),
		cmd([]any{"BITOP", "AND", k("d")}, repeat(n, k("str"))),
		cmd([]any{"PFCOUNT"}, repeat(n, k("hll"))),
		cmd([]any{"PFMERGE", k("d")}, repeat(n, k("hll"))),
		cmd([]any{"SORT", k("l")}, repeat(n, "GET", "#")),
		cmd([]any{"SORT_RO", k("l")}, repeat(n, "GET", "#")),
	)
	// What a bot uses instead, and the stream reads consumers need, work.
	for _, c := range []redis.Cmder{
		m.SMIsMember(ctx, k("s"), "a", "z"), m.SScan(ctx, k("s"), 0, "", 10), m.SMembers(ctx, k("s")),
		m.HGetAll(ctx, k("h")), m.ZRange(ctx, k("z"), 0, -1), m.LRange(ctx, k("l"), 0, -1), m.PFAdd(ctx, k("hll"), "c"),
		m.XRead(ctx, &redis.XReadArgs{Streams: []string{k("x"), "0"}, Count: 10}),
		m.BitCount(ctx, k("str"), nil), m.SPop(ctx, k("t")),
	} {
		if err := c.Err(); err != nil {
			t.Errorf("%v: %v", c.Args(), err)
		}
	}
	p.unharmed(t, alice, "", "")
}

// One sandbox opens connections until the server refuses any more (the red team held
// 9,999 and every tenant, and gaib's health checks, got "max number of clients
// reached"). The watchdog closes its newest beyond its limit; its oldest keep working,
// the other tenant connects again, and health works.
func TestAttackConnectionFlood(t *testing.T) {
	ctx := context.Background()
	rs := ownServer(t, "")
	admin := client(t, rs.URL())
	if err := admin.ConfigSet(ctx, "maxclients", "120").Err(); err != nil {
		t.Fatal(err)
	}
	const limit = 5
	p := openPlane(t, rs.URL(), keyspace.WithClientLimit(limit), keyspace.WithReservedClients(20), keyspace.WithWatchdog(watch))
	if got := p.MaxSandboxes(); got != (120-20)/limit {
		t.Fatalf("MaxSandboxes = %d with maxclients 120, 20 reserved, limit %d", got, limit)
	}
	mallory, alice := p.create(t), p.create(t)
	if err := p.admin.Ping(ctx).Err(); err != nil { // connected before the flood
		t.Fatal(err)
	}
	var conns []net.Conn
	t.Cleanup(func() {
		for _, c := range conns {
			c.Close()
		}
	})
	var refusedErr error
	for range 300 {
		c, err := rawLogin(p, mallory)
		if err != nil {
			refusedErr = err
			break
		}
		conns = append(conns, c)
	}
	if refusedErr == nil {
		t.Fatalf("300 connections and the server never refused one")
	}
	t.Logf("mallory held %d connections before the server refused: %v", len(conns), refusedErr)
	eventually(t, "mallory's connections down to its limit", func() error {
		if n := p.clientsOf(t, mallory); n > limit {
			return fmt.Errorf("%d connections", n)
		}
		return nil
	})
	for i, c := range conns[:limit] {
		if err := send(c, "PING"); err != nil {
			t.Errorf("mallory's connection %d (of its oldest %d): %v", i, limit, err)
		}
	}
	if err := send(conns[len(conns)-1], "PING"); err == nil {
		t.Error("mallory's newest connection still works")
	}
	p.unharmed(t, alice, "", "")
}

// One sandbox stores more than its budget on a server with room: it loses its writes
// (not its reads, nor DEL) and status says why; repair, even of a lost user, keeps it
// so; deleting gives the writes back; destroy removes everything.
func TestAttackMemoryBudget(t *testing.T) {
	ctx := context.Background()
	rs := ownServer(t, "64mb")
	const budget = 1 << 20
	p := openPlane(t, rs.URL(), keyspace.WithMemoryBudget(budget), keyspace.WithWatchdog(watch))
	if p.MemoryBudget() != budget {
		t.Fatalf("budget %d", p.MemoryBudget())
	}
	mallory, alice := p.create(t), p.create(t)
	m := p.tenant(t, mallory)
	k := func(i int) string { return fmt.Sprintf("%sbig%d", mallory.Resources.RedisPrefix, i) }
	for i := range 3 {
		if err := m.SetRange(ctx, k(i), 999_999, "x").Err(); err != nil {
			t.Fatal(err)
		}
	}
	eventually(t, "mallory's writes refused", func() error {
		if err := m.Set(ctx, k(9), "x", 0).Err(); err == nil || !strings.HasPrefix(err.Error(), "NOPERM") {
			return fmt.Errorf("SET: %v", err)
		}
		return nil
	})
	if err := m.Get(ctx, k(0)).Err(); err != nil {
		t.Fatalf("a read over budget: %v", err)
	}
	if err := p.Check(ctx, mallory); err == nil || !strings.Contains(err.Error(), "over its Redis memory budget of 1.0 MiB") {
		t.Fatalf("health over budget: %v", err)
	}
	p.unharmed(t, alice, "", "")
	// Repair makes the user from the id again; lost or not, it stays without writes.
	for _, lose := range []bool{false, true} {
		if lose {
			if err := p.admin.Do(ctx, "ACL", "DELUSER", mallory.Resources.RedisUser).Err(); err != nil {
				t.Fatal(err)
			}
		}
		if err := p.Repair(ctx, mallory); err != nil {
			t.Fatal(err)
		}
		if err := m.Set(ctx, k(9), "x", 0).Err(); err == nil || !strings.HasPrefix(err.Error(), "NOPERM") {
			t.Fatalf("a write right after repair (user lost: %v): %v", lose, err)
		}
		if err := p.Check(ctx, mallory); err == nil || !strings.Contains(err.Error(), "over its Redis memory budget") {
			t.Fatalf("health after repair (user lost: %v): %v", lose, err)
		}
	}
	if err := m.Del(ctx, k(0), k(1), k(2)).Err(); err != nil {
		t.Fatalf("DEL over budget: %v", err)
	}
	eventually(t, "mallory's writes back under budget", func() error { return m.Set(ctx, k(9), "x", 0).Err() })
	if err := p.Check(ctx, mallory); err != nil {
		t.Fatalf("health back under budget: %v", err)
	}
	p.destroyed(t, mallory)
	if ok, err := p.admin.HExists(ctx, "gaib:keyspace:usage", mallory.ID).Result(); err != nil || ok {
		t.Fatalf("the watchdog's record of the destroyed sandbox: %v %v", ok, err)
	}
}

// The red team's reproduction: one sandbox fills the whole server with 1 MB SETRANGEs
// faster than any pass (noeviction: every tenant's writes fail with OOM). The watchdog
// deletes its largest keys down to its budget and keeps it without writes for the
// cooldown; the other tenant writes again and keeps every key.
func TestAttackFillTheServer(t *testing.T) {
	ctx := context.Background()
	rs := ownServer(t, "16mb")
	p := openPlane(t, rs.URL(), keyspace.WithMaxSandboxes(4), keyspace.WithWatchdog(watch), keyspace.WithTrimCooldown(time.Hour))
	budget := p.MemoryBudget()
	if budget != 16<<20*3/4/4 {
		t.Fatalf("automatic budget %d for maxmemory 16mb and 4 sandboxes", budget)
	}
	mallory, alice := p.create(t), p.create(t)
	m, a := p.tenant(t, mallory), p.tenant(t, alice)
	if err := a.Set(ctx, alice.Resources.RedisPrefix+"k", "precious", 0).Err(); err != nil {
		t.Fatal(err)
	}
	var err error
	for i := 0; i < 30 && err == nil; i++ {
		err = m.SetRange(ctx, fmt.Sprintf("%sbig%d", mallory.Resources.RedisPrefix, i), 999_999, "x").Err()
	}
	if err == nil {
		t.Fatal("30 MB into a 16 MB server")
	}
	t.Logf("mallory stopped by: %v", err)
	eventually(t, "the other tenant's writes", func() error { return a.Set(ctx, alice.Resources.RedisPrefix+"k2", "v", 0).Err() })
	if got := p.stored(t, mallory); got > budget {
		t.Errorf("mallory still stores %d bytes, budget %d", got, budget)
	}
	if err := m.Set(ctx, mallory.Resources.RedisPrefix+"again", "x", 0).Err(); err == nil || !strings.HasPrefix(err.Error(), "NOPERM") {
		t.Fatalf("mallory's write in the cooldown: %v", err)
	}
	if err := p.Check(ctx, mallory); err == nil || !strings.Contains(err.Error(), "largest keys were deleted") {
		t.Fatalf("mallory's health: %v", err)
	}
	p.unharmed(t, alice, "k", "precious")
	p.destroyed(t, mallory)
}

// The same with collections shaped to fool sampling: MEMORY USAGE looks at a collection's
// first elements only, so a sorted set whose lowest members are tiny and the rest large is
// counted far below its size. Near full, the watchdog counts every element, finds it and
// trims it; the other tenant writes again.
func TestAttackFillTheServerWithSkewedCollections(t *testing.T) {
	ctx := context.Background()
	rs := ownServer(t, "16mb")
	p := openPlane(t, rs.URL(), keyspace.WithMaxSandboxes(4), keyspace.WithWatchdog(watch), keyspace.WithTrimCooldown(time.Hour))
	budget := p.MemoryBudget()
	mallory, alice := p.create(t), p.create(t)
	m, a := p.tenant(t, mallory), p.tenant(t, alice)
	if err := a.Set(ctx, alice.Resources.RedisPrefix+"k", "precious", 0).Err(); err != nil {
		t.Fatal(err)
	}
	big := strings.Repeat("y", 10<<10)
	var err error
	for k := 0; k < 10 && err == nil; k++ {
		key := fmt.Sprintf("%szz%d", mallory.Resources.RedisPrefix, k)
		for i := range 5 {
			if err = m.ZAdd(ctx, key, redis.Z{Score: 0, Member: fmt.Sprint("s", i)}).Err(); err != nil {
				break
			}
		}
		for i := 0; i < 300 && err == nil; i++ {
			err = m.ZAdd(ctx, key, redis.Z{Score: 1, Member: fmt.Sprintf("m%05d%s", i, big)}).Err()
		}
	}
	if err == nil {
		t.Fatal("30 MB of sorted sets into a 16 MB server")
	}
	t.Logf("mallory stopped by: %v", err)
	eventually(t, "mallory trimmed to its budget", func() error {
		if got := p.stored(t, mallory); got > budget {
			return fmt.Errorf("mallory stores %d bytes, budget %d", got, budget)
		}
		return nil
	})
	eventually(t, "the other tenant's writes", func() error { return a.Set(ctx, alice.Resources.RedisPrefix+"k2", "v", 0).Err() })
	p.unharmed(t, alice, "k", "precious")
}

// Memory outside any key: connections that announce a large argument and send it
// slowly make the server allocate it at once (query buffers count in used_memory).
// maxmemory-clients disconnects them; the other tenant keeps writing.
func TestAttackClientBuffers(t *testing.T) {
	ctx := context.Background()
	rs := ownServer(t, "16mb")
	p := openPlane(t, rs.URL())
	mallory, alice := p.create(t), p.create(t)
	a := p.tenant(t, alice)
	if err := a.Set(ctx, alice.Resources.RedisPrefix+"k", "precious", 0).Err(); err != nil {
		t.Fatal(err)
	}
	key := mallory.Resources.RedisPrefix + "k"
	var conns []net.Conn
	t.Cleanup(func() {
		for _, c := range conns {
			c.Close()
		}
	})
	for range 6 {
		c, err := rawLogin(p, mallory)
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
		head := fmt.Sprintf("*3\r\n$3\r\nSET\r\n$%d\r\n%s\r\n$%d\r\n", len(key), key, 8<<20)
		_, _ = c.Write(append([]byte(head), make([]byte, 64<<10)...))
	}
	for i, c := range conns {
		_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
		if _, err := c.Read(make([]byte, 1)); err == nil || isTimeout(err) {
			t.Errorf("mallory's connection %d holding a 8 MB argument is still open: %v", i, err)
		}
	}
	p.unharmed(t, alice, "k", "precious")
}

func isTimeout(err error) bool {
	ne, ok := err.(net.Error)
	return ok && ne.Timeout()
}

// Bad limits are refused with a stable code.
func TestInvalidLimitsAreRefused(t *testing.T) {
	url := embeddedtest.Redis(t).URL()
	for _, o := range []keyspace.Option{keyspace.WithClientLimit(0), keyspace.WithReservedClients(-1),
		keyspace.WithMemoryBudget(-1), keyspace.WithKeysPerPass(0), keyspace.WithWatchdog(-time.Second), keyspace.WithTrimCooldown(-1)} {
		if _, err := keyspace.Open(context.Background(), url, sandbox.NewSecret(), false, o); !errors.Is(err, &sandbox.Error{Code: sandbox.CodeInvalidRequest}) {
			t.Errorf("%v", err)
		}
	}
}

// gaib instances share the server: one watchdog runs at a time, a tenant naming its
// connections like the watchdog's does not stop it, and when the running one stops,
// another takes over.
func TestAttackWatchdogImpostorThenTakeover(t *testing.T) {
	ctx := context.Background()
	rs := ownServer(t, "")
	secret := sandbox.NewSecret()
	open := func(opts ...keyspace.Option) *keyspace.Redis {
		t.Helper()
		r, err := keyspace.Open(ctx, rs.URL(), secret, false, opts...)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = r.Close() })
		return r
	}
	p := &plane{Redis: open(), admin: client(t, rs.URL())}
	mallory := p.create(t)
	// The impostor connects before any watchdog, so its connection is the oldest so named,
	// and is never idle.
	impostor := p.tenant(t, mallory)
	if err := impostor.Do(ctx, "CLIENT", "SETNAME", "gaib-keyspace-watchdog").Err(); err != nil {
		t.Fatal(err)
	}
	busy, stop := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(busy)
		for {
			select {
			case <-stop:
				return
			case <-time.After(20 * time.Millisecond):
				_ = impostor.Ping(ctx).Err()
			}
		}
	}()
	defer func() { close(stop); <-busy }()
	opts := []keyspace.Option{keyspace.WithClientLimit(2), keyspace.WithWatchdog(watch)}
	first := open(opts...)
	open(opts...)
	flood := func() {
		t.Helper()
		var conns []net.Conn
		defer func() {
			for _, c := range conns {
				c.Close()
			}
		}()
		for range 10 {
			c, err := rawLogin(p, mallory)
			if err != nil {
				t.Fatal(err)
			}
			conns = append(conns, c)
		}
		eventually(t, "mallory's connections down to its limit", func() error {
			if n := p.clientsOf(t, mallory); n > 2 {
				return fmt.Errorf("%d connections", n)
			}
			return nil
		})
	}
	flood()
	// The first plane's watchdog is the oldest: stopping it leaves the second's.
	if err := first.Close(); err != nil {
		t.Fatal(err)
	}
	flood()
}
