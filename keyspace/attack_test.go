package keyspace_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/arrakis/gaib/embedded"
	"github.com/arrakis/gaib/embedded/embeddedtest"
)

// Every test here is an attack by a tenant that holds only its REDIS_URL. Each asserts
// that the attack failed and that the other sandboxes are untouched.

// An endless Lua script would hold the single-threaded server for every tenant: scripting
// is denied, in every form.
func TestAttackEndlessScript(t *testing.T) {
	p := sharedPlane(t)
	mallory, alice := p.create(t), p.create(t)
	m := p.tenant(t, mallory)
	key := mallory.Resources.RedisPrefix + "k"
	refused(t, m,
		[]any{"EVAL", "while true do end", "0"},
		[]any{"EVAL_RO", "while true do end", "1", key},
		[]any{"EVALSHA", "0000000000000000000000000000000000000000", "0"},
		[]any{"SCRIPT", "LOAD", "while true do end"},
		[]any{"FUNCTION", "LOAD", "#!lua name=x\nredis.register_function('f', function() while true do end end)"},
		[]any{"FCALL", "f", "0"},
		[]any{"FCALL_RO", "f", "0"},
	)
	p.unharmed(t, alice, "", "")
}

// Data moved to another database would escape destroy and orphan detection.
func TestAttackOtherDatabases(t *testing.T) {
	ctx := context.Background()
	p := sharedPlane(t)
	rec := p.create(t)
	c := p.tenant(t, rec)
	key := rec.Resources.RedisPrefix + "k"
	if err := c.Set(ctx, key, "v", 0).Err(); err != nil {
		t.Fatal(err)
	}
	refused(t, c,
		[]any{"COPY", key, key, "DB", "5"},
		[]any{"COPY", key, rec.Resources.RedisPrefix + "k2"},
		[]any{"SELECT", "1"},
		[]any{"MOVE", key, "1"},
		[]any{"SWAPDB", "0", "1"},
		[]any{"MIGRATE", "127.0.0.1", "1", key, "0", "1000"},
	)
	// The managed server has one database, so not even the admin can reach a second.
	for _, cmd := range [][]any{{"COPY", key, key, "DB", "5"}, {"MOVE", key, "1"}, {"SELECT", "1"}} {
		if err := p.admin.Do(ctx, cmd...).Err(); err == nil || !strings.Contains(err.Error(), "out of range") {
			t.Errorf("admin %v: %v", cmd, err)
		}
	}
	p.destroyed(t, rec)
}

// An edited record names another sandbox's user and a prefix of every sandbox: teardown
// still removes only what the record's own id derives.
func TestAttackTamperedRecord(t *testing.T) {
	ctx := context.Background()
	p := sharedPlane(t)
	alice, bob := p.create(t), p.create(t)
	a, b := p.tenant(t, alice), p.tenant(t, bob)
	if err := a.Set(ctx, alice.Resources.RedisPrefix+"k", "a", 0).Err(); err != nil {
		t.Fatal(err)
	}
	if err := b.Set(ctx, bob.Resources.RedisPrefix+"k", "b", 0).Err(); err != nil {
		t.Fatal(err)
	}
	for _, prefix := range []string{"sandbox:", "", "*", bob.Resources.RedisPrefix} {
		tampered := alice
		tampered.Resources.RedisUser = bob.Resources.RedisUser
		tampered.Resources.RedisPrefix = prefix
		if env := p.Env(tampered); env[0].Value != alice.Resources.RedisPrefix || !strings.Contains(env[1].Value, alice.Resources.RedisUser) {
			t.Fatalf("connect settings follow the record: %v", env)
		}
		if err := p.Teardown(ctx, tampered); err != nil {
			t.Fatal(err)
		}
	}
	if got := p.leftovers(t, alice.ID); len(got) != 0 {
		t.Fatalf("alice's left behind: %v", got)
	}
	if got := p.leftovers(t, bob.ID); len(got) != 2 {
		t.Fatalf("bob's after alice's tampered teardown: %v", got)
	}
	if v, err := b.Get(ctx, bob.Resources.RedisPrefix+"k").Result(); err != nil || v != "b" {
		t.Fatalf("bob's key: %q %v", v, err)
	}
	if err := p.Check(ctx, bob); err != nil {
		t.Fatalf("bob: %v", err)
	}
}

// One tenant fills the server: with noeviction its writes fail, and no other tenant's key
// is evicted; one command cannot allocate past proto-max-bulk-len.
func TestAttackMemory(t *testing.T) {
	ctx := context.Background()
	rs, err := embedded.StartRedis(embedded.RedisOptions{Dir: embeddedtest.TempDir(t), Ephemeral: true, MaxMemory: "4mb"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(rs.Stop)
	p := openPlane(t, rs.URL())
	mallory, alice := p.create(t), p.create(t)
	a := p.tenant(t, alice)
	if err := a.Set(ctx, alice.Resources.RedisPrefix+"k", "precious", 0).Err(); err != nil {
		t.Fatal(err)
	}
	m := p.tenant(t, mallory)
	if err := m.SetRange(ctx, mallory.Resources.RedisPrefix+"big", 100<<20, "x").Err(); err == nil || !strings.Contains(err.Error(), "proto-max-bulk-len") {
		t.Fatalf("a 100 MB SETRANGE: %v", err)
	}
	value := strings.Repeat("x", 256<<10)
	var oom error
	for i := 0; i < 64 && oom == nil; i++ {
		oom = m.Set(ctx, mallory.Resources.RedisPrefix+"fill:"+string(rune('a'+i%26))+string(rune('a'+i/26)), value, 0).Err()
	}
	if oom == nil || !strings.HasPrefix(oom.Error(), "OOM") {
		t.Fatalf("16 MB into a 4 MB server: %v", oom)
	}
	if v, err := a.Get(ctx, alice.Resources.RedisPrefix+"k").Result(); err != nil || v != "precious" {
		t.Fatalf("the other tenant's key: %q %v", v, err)
	}
	// Destroying the greedy sandbox gives the memory back.
	if err := p.Teardown(ctx, mallory); err != nil {
		t.Fatal(err)
	}
	if err := a.Set(ctx, alice.Resources.RedisPrefix+"k2", "v", 0).Err(); err != nil {
		t.Fatalf("a write after the teardown: %v", err)
	}
}

// A blocking command blocks its own connection, not the server.
func TestBlockingCommandsBlockOnlyTheirClient(t *testing.T) {
	ctx := context.Background()
	p := sharedPlane(t)
	blocker, other := p.create(t), p.create(t)
	b := p.tenant(t, blocker)
	done := make(chan error, 1)
	go func() { done <- b.BLPop(ctx, 0, blocker.Resources.RedisPrefix+"q").Err() }()
	o := p.tenant(t, other)
	for i := range 20 {
		if err := o.Set(ctx, other.Resources.RedisPrefix+"k", i, 0).Err(); err != nil {
			t.Fatal(err)
		}
	}
	select {
	case err := <-done:
		t.Fatalf("BLPOP returned before anything was pushed: %v", err)
	default:
	}
	if err := p.tenant(t, blocker).RPush(ctx, blocker.Resources.RedisPrefix+"q", "x").Err(); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// Health reports what the server says. While a script holds the server the admin's
// answer is BUSY, not "ACL user does not exist".
func TestHealthSaysBusyAsItIs(t *testing.T) {
	ctx := context.Background()
	p := openPlane(t, embeddedtest.NewRedis(t).URL())
	rec := p.create(t)
	if err := p.admin.ConfigSet(ctx, "busy-reply-threshold", "50").Err(); err != nil {
		t.Fatal(err)
	}
	opt := p.admin.Options()
	opt.ReadTimeout = -1
	looper := redis.NewClient(opt)
	defer looper.Close()
	go func() { _ = looper.Eval(ctx, "while true do end", nil).Err() }()
	var err error
	for range 200 {
		if err = p.Check(ctx, rec); err != nil && strings.Contains(err.Error(), "BUSY") {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err == nil || !strings.Contains(err.Error(), "BUSY") || strings.Contains(err.Error(), "does not exist") {
		t.Fatalf("health while a script runs: %v", err)
	}
	for p.admin.Do(ctx, "SCRIPT", "KILL").Err() != nil {
		time.Sleep(20 * time.Millisecond)
	}
	for range 100 {
		if err = p.Check(ctx, rec); err == nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		t.Fatalf("health after the script was killed: %v", err)
	}
}

// A user lost (or disabled, or changed) behind gaib's back: health says so, Repair puts it
// back from the id, and the keys are still there.
func TestLostUserThenRepair(t *testing.T) {
	ctx := context.Background()
	p := sharedPlane(t)
	rec := p.create(t)
	if err := p.tenant(t, rec).Set(ctx, rec.Resources.RedisPrefix+"k", "v", 0).Err(); err != nil {
		t.Fatal(err)
	}
	for _, breakIt := range [][]any{
		{"ACL", "DELUSER", rec.Resources.RedisUser},
		{"ACL", "SETUSER", rec.Resources.RedisUser, "off"},
		{"ACL", "SETUSER", rec.Resources.RedisUser, "resetpass", ">other"},
		{"ACL", "SETUSER", rec.Resources.RedisUser, "~*"},
	} {
		if err := p.admin.Do(ctx, breakIt...).Err(); err != nil {
			t.Fatal(err)
		}
		if err := p.Check(ctx, rec); err == nil {
			t.Errorf("health after %v says ok", breakIt)
		}
		if err := p.Repair(ctx, rec); err != nil {
			t.Fatal(err)
		}
		if err := p.Check(ctx, rec); err != nil {
			t.Fatalf("health after repairing %v: %v", breakIt, err)
		}
	}
	if v, err := p.tenant(t, rec).Get(ctx, rec.Resources.RedisPrefix+"k").Result(); err != nil || v != "v" {
		t.Fatalf("key after repair: %q %v", v, err)
	}
}
