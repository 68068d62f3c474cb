package keyspace_test

import (
	"context"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/arrakis/gaib/embedded/embeddedtest"
	"github.com/arrakis/gaib/keyspace"
	"github.com/arrakis/gaib/sandbox"
)

func TestMain(m *testing.M) {
	code := m.Run()
	embeddedtest.StopAll()
	os.Exit(code)
}

// plane is a Redis plane on adminURL and an admin client of the same server.
type plane struct {
	*keyspace.Redis
	admin *redis.Client
}

func openPlane(t *testing.T, adminURL string, opts ...keyspace.Option) *plane {
	t.Helper()
	r, err := keyspace.Open(context.Background(), adminURL, sandbox.NewSecret(), false, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = r.Close() })
	return &plane{Redis: r, admin: client(t, adminURL)}
}

// sharedPlane is a plane on the package's shared managed redis-server.
func sharedPlane(t *testing.T) *plane {
	t.Helper()
	return openPlane(t, embeddedtest.Redis(t).URL())
}

func client(t *testing.T, url string) *redis.Client {
	t.Helper()
	opt, err := redis.ParseURL(url)
	if err != nil {
		t.Fatal(err)
	}
	c := redis.NewClient(opt)
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func (p *plane) create(t *testing.T) sandbox.Record {
	t.Helper()
	rec := sandbox.NewRecord(sandbox.NewID(), "t", "tester", time.Hour, nil, time.Now())
	if err := p.Provision(context.Background(), rec); err != nil {
		t.Fatal(err)
	}
	return rec
}

// tenant is what the sandbox's worker holds: a client with the URL connect hands out.
func (p *plane) tenant(t *testing.T, rec sandbox.Record) *redis.Client {
	t.Helper()
	return client(t, p.URL(rec))
}

// leftovers lists what exists of sandbox id: its user and its keys.
func (p *plane) leftovers(t *testing.T, id string) []string {
	t.Helper()
	ctx := context.Background()
	res := sandbox.ResourcesFor(id)
	var out []string
	users, err := p.admin.Do(ctx, "ACL", "USERS").StringSlice()
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range users {
		if u == res.RedisUser {
			out = append(out, "user")
		}
	}
	keys, err := p.admin.Keys(ctx, res.RedisPrefix+"*").Result()
	if err != nil {
		t.Fatal(err)
	}
	return append(out, keys...)
}

// unharmed fails unless the sandbox rec, another tenant's victim, can write, still reads
// want at its key (when want is not empty), and is healthy.
func (p *plane) unharmed(t *testing.T, rec sandbox.Record, key, want string) {
	t.Helper()
	ctx := context.Background()
	c := p.tenant(t, rec)
	if want != "" {
		if v, err := c.Get(ctx, rec.Resources.RedisPrefix+key).Result(); err != nil || v != want {
			t.Fatalf("the other tenant's key: %q %v", v, err)
		}
	}
	if err := c.Set(ctx, rec.Resources.RedisPrefix+"unharmed", "v", 0).Err(); err != nil {
		t.Fatalf("the other tenant's write: %v", err)
	}
	if err := p.Check(ctx, rec); err != nil {
		t.Fatalf("the other tenant's health: %v", err)
	}
}

// destroyed tears rec down and fails unless nothing of it is left.
func (p *plane) destroyed(t *testing.T, rec sandbox.Record) {
	t.Helper()
	if err := p.Teardown(context.Background(), rec); err != nil {
		t.Fatal(err)
	}
	if got := p.leftovers(t, rec.ID); len(got) != 0 {
		t.Fatalf("left behind: %v", got)
	}
}

// refused runs each command as c and fails the test unless the ACL refused it.
func refused(t *testing.T, c *redis.Client, cmds ...[]any) {
	t.Helper()
	for _, cmd := range cmds {
		if err := c.Do(context.Background(), cmd...).Err(); err == nil || !strings.HasPrefix(err.Error(), "NOPERM") {
			t.Errorf("%v: %v", cmd, err)
		}
	}
}

func TestProvisionCheckTeardown(t *testing.T) {
	ctx := context.Background()
	p := sharedPlane(t)
	rec := p.create(t)
	if err := p.Check(ctx, rec); err != nil {
		t.Fatal(err)
	}
	c := p.tenant(t, rec)
	if err := c.Set(ctx, rec.Resources.RedisPrefix+"k", "v", 0).Err(); err != nil {
		t.Fatal(err)
	}
	if got := p.leftovers(t, rec.ID); len(got) != 2 {
		t.Fatalf("after provision: %v", got)
	}
	for range 2 {
		if err := p.Teardown(ctx, rec); err != nil {
			t.Fatal(err)
		}
	}
	if got := p.leftovers(t, rec.ID); len(got) != 0 {
		t.Fatalf("left behind: %v", got)
	}
	if err := c.Ping(ctx).Err(); err == nil {
		t.Error("the tenant's connection survived teardown")
	}
	if err := p.Check(ctx, rec); err == nil || err.Error() != "ACL user "+rec.Resources.RedisUser+" does not exist" {
		t.Fatalf("check after teardown: %v", err)
	}
}

func TestInvalidIDsAreRefused(t *testing.T) {
	ctx := context.Background()
	p := sharedPlane(t)
	for _, id := range []string{"", "*", "sandbox", "Abcdefghij", "abcdefghij:x", "abcdefghi*"} {
		rec := sandbox.Record{ID: id, Resources: sandbox.Resources{RedisPrefix: "", RedisUser: "default"}}
		for name, op := range map[string]func(context.Context, sandbox.Record) error{
			"provision": p.Provision, "teardown": p.Teardown, "check": p.Check, "repair": p.Repair,
		} {
			if err := op(ctx, rec); !errors.Is(err, &sandbox.Error{Code: sandbox.CodeInvalidID}) {
				t.Errorf("%s(%q) = %v", name, id, err)
			}
		}
		if p.URL(rec) != "" || p.Env(rec) != nil {
			t.Errorf("connect settings for id %q: %v", id, p.Env(rec))
		}
	}
	if err := p.admin.Ping(ctx).Err(); err != nil {
		t.Fatalf("the admin user: %v", err)
	}
}
