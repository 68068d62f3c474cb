package integration

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/jwt/v2"
	"github.com/nats-io/nats.go"

	"github.com/arrakis/gaib/sandbox"
	"github.com/arrakis/gaib/services"
)

func TestGuildAllowList(t *testing.T) {
	m := startMesh(t, services.MeshConfig{Sandbox: services.SandboxConfig{MaxGuilds: 2}})
	m.developer(t, "alice")
	m.developer(t, "bob")
	const (
		open     = "300000000000000001"
		reserved = "300000000000000002"
		never    = "300000000000000003"
		extra    = "300000000000000004"
	)
	m.gaib(t, "guild", "allow", open, "--note", "QA guild").must(t)
	m.gaib(t, "guild", "allow", reserved, "--owner", "bob").must(t)

	// A production (not allowed) guild: refused with guild_not_allowed, at create and later.
	m.as(t, "alice", "--json", "sandbox", "create", "a", "--guild", never).errorCodeIs(t, sandbox.CodeGuildNotAllowed)
	if r := m.as(t, "alice", "sandbox", "status", "a"); r.Code != sandbox.ExitNotFound {
		t.Fatalf("a refused create left a sandbox: exit %d", r.Code)
	}
	m.as(t, "alice", "sandbox", "create", "a").must(t)
	m.as(t, "alice", "--json", "sandbox", "link", "a", never).errorCodeIs(t, sandbox.CodeGuildNotAllowed)
	// A guild reserved to bob is bob's alone.
	m.as(t, "alice", "--json", "sandbox", "link", "a", reserved).errorCodeIs(t, sandbox.CodeGuildNotAllowed)
	m.as(t, "alice", "sandbox", "link", "a", open).must(t)
	m.as(t, "bob", "sandbox", "create", "b", "--guild", reserved).must(t)
	// The one who holds a guild is named in the conflict.
	if r := m.as(t, "bob", "--json", "sandbox", "link", "b", open); !strings.Contains(r.Stdout, `sandbox \"a\" of alice`) {
		t.Fatalf("conflict does not name the holder: %s", r.Stdout)
	}
	// Admins may route any guild, up to the per-sandbox limit.
	m.gaib(t, "sandbox", "link", "a", never).must(t)
	m.gaib(t, "--json", "sandbox", "link", "a", extra).errorCodeIs(t, sandbox.CodeTooManyGuilds)
	m.gaib(t, "--json", "sandbox", "create", "c", "--guild", extra, "--guild", "300000000000000005", "--guild", "300000000000000006").
		errorCodeIs(t, sandbox.CodeTooManyGuilds)
	// Developers see the list; only admins change it.
	var list []sandbox.AllowedGuild
	decodeStrict(t, m.as(t, "alice", "--json", "guild", "list").must(t).Stdout, &list)
	if len(list) != 2 || list[0].Guild != open || list[0].Note != "QA guild" || list[1].Owner != "bob" {
		t.Fatalf("allow-list: %+v", list)
	}
	m.as(t, "alice", "--json", "guild", "deny", open).errorCodeIs(t, sandbox.CodeForbidden)
	m.gaib(t, "guild", "deny", open).must(t)
	m.as(t, "alice", "sandbox", "unlink", "a", open).must(t)
	m.as(t, "alice", "--json", "sandbox", "link", "a", open).errorCodeIs(t, sandbox.CodeGuildNotAllowed)
}

func TestUsersAreIssuedListedAndRevoked(t *testing.T) {
	m := startMesh(t, services.MeshConfig{})
	out := filepath.Join(t.TempDir(), "dana.creds")
	m.gaib(t, "user", "add", "dana", "--save", out, "--ttl", "30d").must(t)
	st, err := os.Stat(out)
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("credential file: %v %v", st, err)
	}
	b, _ := os.ReadFile(out)
	token, _ := jwt.ParseDecoratedJWT(b)
	uc, err := jwt.DecodeUserClaims(token)
	if err != nil || uc.Name != "dana" || uc.Expires == 0 || time.Until(time.Unix(uc.Expires, 0)) < 29*24*time.Hour {
		t.Fatalf("credential claims: %+v %v", uc, err)
	}
	if r := runGaib(t, "", "--server", m.URL, "--creds", out, "user", "whoami").must(t); !strings.HasPrefix(r.Stdout, "dana (developer)") {
		t.Fatalf("whoami: %q", r.Stdout)
	}
	// Names are one subject token and unique; the mesh's own names are reserved.
	for _, bad := range []string{"Dana", "a.b", "a*", "a>", "gaib", "cleanup", "x y", ""} {
		if r := m.gaib(t, "--json", "user", "add", bad); r.Code != sandbox.ExitUsage {
			t.Errorf("user add %q: exit %d %s", bad, r.Code, r.Stdout)
		}
	}
	m.gaib(t, "--json", "user", "add", "dana").errorCodeIs(t, sandbox.CodeNameTaken)
	// Developers cannot manage users, nor revoke an admin.
	m.developer(t, "eve")
	m.as(t, "eve", "--json", "user", "add", "mallory", "--admin").errorCodeIs(t, sandbox.CodeForbidden)
	m.as(t, "eve", "--json", "user", "revoke", tester).errorCodeIs(t, sandbox.CodeForbidden)
	m.as(t, "eve", "--json", "user", "list").errorCodeIs(t, sandbox.CodeForbidden)
	m.gaib(t, "--json", "user", "revoke", tester).errorCodeIs(t, sandbox.CodeInvalidRequest)

	m.gaib(t, "user", "revoke", "dana").must(t)
	if r := runGaib(t, "", "--json", "--server", m.URL, "--creds", out, "user", "whoami"); r.Code != sandbox.ExitForbidden {
		t.Fatalf("a revoked credential still works: exit %d %s", r.Code, r.Stdout)
	}
	var users []sandbox.User
	decodeStrict(t, m.gaib(t, "--json", "user", "list").must(t).Stdout, &users)
	var dana sandbox.User
	for _, u := range users {
		if u.Name == "dana" {
			dana = u
		}
	}
	if dana.Active() || dana.RevokedBy != tester {
		t.Fatalf("dana after revoke: %+v", dana)
	}
	// A new credential may be issued to a revoked name; the old one stays dead.
	out2 := filepath.Join(t.TempDir(), "dana2.creds")
	m.gaib(t, "user", "add", "dana", "--save", out2).must(t)
	runGaib(t, "", "--server", m.URL, "--creds", out2, "user", "whoami").must(t)
	if r := runGaib(t, "", "--server", m.URL, "--creds", out, "user", "whoami"); r.Code == 0 {
		t.Fatal("the first credential came back to life")
	}
}

func TestSandboxCredentialLivesAsLongAsTheSandbox(t *testing.T) {
	m := startMesh(t, services.MeshConfig{})
	m.developer(t, "alice")
	rec := m.as(t, "alice", "--json", "sandbox", "create", "short", "--ttl", "2h").must(t).record(t)
	expiry := func() time.Time {
		t.Helper()
		var resp struct {
			Env map[string]string `json:"env"`
		}
		decodeStrict(t, m.as(t, "alice", "--json", "sandbox", "connect", "short").must(t).Stdout, &resp)
		b, err := os.ReadFile(resp.Env["NATS_CREDS"])
		if err != nil {
			t.Fatal(err)
		}
		token, _ := jwt.ParseDecoratedJWT(b)
		uc, err := jwt.DecodeUserClaims(token)
		if err != nil || uc.Name != rec.ID {
			t.Fatalf("sandbox credential: %+v %v", uc, err)
		}
		return time.Unix(uc.Expires, 0)
	}
	if got := expiry(); !got.Equal(rec.ExpiresAt.Truncate(time.Second)) {
		t.Fatalf("credential expires %v, the sandbox %v", got, rec.ExpiresAt)
	}
	ext := m.as(t, "alice", "--json", "sandbox", "extend", "short", "--ttl", "1h").must(t).record(t)
	if got := expiry(); !got.Equal(ext.ExpiresAt.Truncate(time.Second)) {
		t.Fatalf("after extend the credential expires %v, the sandbox %v", got, ext.ExpiresAt)
	}
	// After destroy its account is revoked: the credential is refused, also once the record
	// is dropped (a revoked account JWT is never replaced by a live one).
	var resp struct {
		Env map[string]string `json:"env"`
	}
	decodeStrict(t, m.as(t, "alice", "--json", "sandbox", "connect", "short").must(t).Stdout, &resp)
	creds := resp.Env["NATS_CREDS"]
	if nc, err := nats.Connect(m.URL, nats.UserCredentials(creds)); err != nil {
		t.Fatalf("the live sandbox's credential is refused: %v", err)
	} else {
		nc.Close()
	}
	m.as(t, "alice", "sandbox", "destroy", "short", "--yes").must(t)
	ctx := context.Background()
	list := services.RevocationList{Store: m.Store}
	states, err := list.Sandboxes(ctx)
	if err != nil || states[rec.ID].IsZero() {
		t.Fatalf("the destroyed sandbox's account is not revoked: %v %v", states, err)
	}
	refused := func(when string) {
		t.Helper()
		if nc, err := nats.Connect(m.URL, nats.UserCredentials(creds)); err == nil {
			nc.Close()
			t.Fatalf("%s the sandbox's credential still connects", when)
		}
	}
	refused("after destroy")
	if rep, err := m.Mesh.Sandboxes.Sweep(ctx, -time.Second); err != nil || len(rep.Purged) != 1 {
		t.Fatalf("purge: %+v %v", rep, err)
	}
	refused("after the record was purged")
}
