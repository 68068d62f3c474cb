package integration

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/arrakis/gaib/sandbox"
	"github.com/arrakis/gaib/services"
)

func TestLifecycleThroughCLI(t *testing.T) {
	m := startMesh(t, services.MeshConfig{})

	created := m.gaib(t, "--json", "sandbox", "create", "demo", "--ttl", "2d").must(t).record(t)
	if created.Name != "demo" || created.Owner != "tester" || created.Status != sandbox.StatusRunning {
		t.Fatalf("created = %+v", created)
	}
	if !sandbox.ValidID(created.ID) {
		t.Fatalf("id %q is not a sandbox id", created.ID)
	}
	if got := created.ExpiresAt.Sub(created.CreatedAt); got != 48*time.Hour {
		t.Fatalf("ttl 2d gave a lifetime of %s", got)
	}
	if created.Resources != sandbox.ResourcesFor(created.ID) {
		t.Fatalf("advertised resources %+v differ from the derived ones", created.Resources)
	}
	// The raw JSON has the documented keys.
	var raw map[string]any
	_ = json.Unmarshal([]byte(m.gaib(t, "--json", "sandbox", "status", "demo").must(t).Stdout), &raw)
	for _, k := range []string{"id", "name", "owner", "status", "created_at", "expires_at", "guilds"} {
		if _, ok := raw[k]; !ok {
			t.Errorf("status --json lacks %q: %v", k, raw)
		}
	}

	var list []sandbox.Record
	decodeStrict(t, m.gaib(t, "--json", "sandbox", "ls").must(t).Stdout, &list)
	if len(list) != 1 || list[0].ID != created.ID {
		t.Fatalf("list = %+v", list)
	}
	human := m.gaib(t, "sandbox", "list").must(t).Stdout
	if !strings.Contains(human, "demo") || !strings.Contains(human, created.ID) {
		t.Fatalf("list table lacks the sandbox:\n%s", human)
	}

	ext := m.gaib(t, "--json", "sandbox", "extend", "demo", "--ttl", "1d").must(t).record(t)
	if got := ext.ExpiresAt.Sub(created.ExpiresAt); got != 24*time.Hour {
		t.Fatalf("extend by 1d moved expiry by %s", got)
	}

	gone := m.gaib(t, "--json", "sandbox", "rm", "demo", "--yes").must(t).record(t)
	if gone.Status != sandbox.StatusDestroyed || gone.DestroyedAt == nil {
		t.Fatalf("destroy returned %+v", gone)
	}
	// A destroyed sandbox answers by its old name as by its id (until a new one takes it).
	if st := m.gaib(t, "--json", "sandbox", "status", "demo").must(t).record(t); st.ID != created.ID || st.Status != sandbox.StatusDestroyed {
		t.Fatalf("status of a destroyed name: %+v", st)
	}
	if r := m.gaib(t, "--json", "sandbox", "status", "never-was"); r.Code != sandbox.ExitNotFound || r.errorCode(t) != sandbox.CodeNotFound {
		t.Fatalf("status of an unknown name: exit %d %s", r.Code, r.Stdout)
	}
	// Still visible by id and to list --all, not to list.
	if st := m.gaib(t, "--json", "sandbox", "status", created.ID).must(t).record(t); st.Status != sandbox.StatusDestroyed {
		t.Fatalf("status by id after destroy: %s", st.Status)
	}
	decodeStrict(t, m.gaib(t, "--json", "sandbox", "list").must(t).Stdout, &list)
	if len(list) != 0 {
		t.Fatalf("list shows destroyed sandboxes: %+v", list)
	}
	decodeStrict(t, m.gaib(t, "--json", "sandbox", "list", "--all").must(t).Stdout, &list)
	if len(list) != 1 || list[0].Status != sandbox.StatusDestroyed {
		t.Fatalf("list --all = %+v", list)
	}
	// Destroy is idempotent by id, and extend of a destroyed sandbox is a conflict.
	m.gaib(t, "sandbox", "destroy", created.ID, "--yes").must(t)
	if r := m.gaib(t, "--json", "sandbox", "extend", created.ID, "--ttl", "1h"); r.Code != sandbox.ExitConflict || r.errorCode(t) != sandbox.CodeWrongState {
		t.Fatalf("extend destroyed: exit %d %s", r.Code, r.Stdout)
	}
}

func TestNameIsFreeAgainAfterDestroy(t *testing.T) {
	m := startMesh(t, services.MeshConfig{})
	first := m.gaib(t, "--json", "sandbox", "create", "reuse").must(t).record(t)
	if r := m.gaib(t, "--json", "sandbox", "create", "reuse"); r.Code != sandbox.ExitConflict || r.errorCode(t) != sandbox.CodeNameTaken {
		t.Fatalf("second create of a live name: exit %d %s", r.Code, r.Stdout)
	}
	m.gaib(t, "sandbox", "destroy", "reuse", "--yes").must(t)
	second := m.gaib(t, "--json", "sandbox", "create", "reuse").must(t).record(t)
	if second.ID == first.ID {
		t.Fatal("the new sandbox reused the old id")
	}
	if st := m.gaib(t, "--json", "sandbox", "status", "reuse").must(t).record(t); st.ID != second.ID {
		t.Fatalf("name resolves to %s, want the new sandbox %s", st.ID, second.ID)
	}
}

func TestDefaultNameAndOwner(t *testing.T) {
	m := startMesh(t, services.MeshConfig{})
	m.developer(t, "jane_doe")
	rec := m.as(t, "jane_doe", "--json", "sandbox", "create").must(t).record(t)
	if rec.Owner != "jane_doe" || !strings.HasPrefix(rec.Name, "jane-doe-") {
		t.Fatalf("default name/owner: %+v", rec)
	}
	var mine, none []sandbox.Record
	decodeStrict(t, m.gaib(t, "--json", "sandbox", "ls", "--owner", "jane_doe").must(t).Stdout, &mine)
	decodeStrict(t, m.gaib(t, "--json", "sandbox", "ls", "--owner", "someone-else").must(t).Stdout, &none)
	if len(mine) != 1 || len(none) != 0 {
		t.Fatalf("list --owner: %+v / %+v", mine, none)
	}
	decodeStrict(t, m.as(t, "jane_doe", "--json", "sandbox", "ls", "--mine").must(t).Stdout, &mine)
	if len(mine) != 1 {
		t.Fatalf("--mine (jane_doe): %+v", mine)
	}
	var others []sandbox.Record
	decodeStrict(t, m.gaib(t, "--json", "sandbox", "ls", "--mine").must(t).Stdout, &others)
	if len(others) != 0 {
		t.Fatalf("--mine (tester) shows another owner's sandbox: %+v", others)
	}
}

func TestDryRunChangesNothing(t *testing.T) {
	m := startMesh(t, services.MeshConfig{})
	rec := m.gaib(t, "--json", "sandbox", "create", "dry", "--dry-run", "--ttl", "3h").must(t).record(t)
	if rec.Name != "dry" || rec.TTL != "3h" {
		t.Fatalf("dry run: %+v", rec)
	}
	if r := m.gaib(t, "sandbox", "status", "dry"); r.Code != sandbox.ExitNotFound {
		t.Fatalf("dry run created something: exit %d", r.Code)
	}
	m.gaib(t, "sandbox", "create", "dry").must(t)
	if r := m.gaib(t, "--json", "sandbox", "create", "dry", "--dry-run"); r.errorCode(t) != sandbox.CodeNameTaken {
		t.Fatalf("dry run of a taken name: %s", r.Stdout)
	}
}

func TestTTLBoundsAreEnforcedNotCapped(t *testing.T) {
	m := startMesh(t, services.MeshConfig{})
	for _, ttl := range []string{"30s", "8d", "2w", "-1h", "0", "soon", "1x"} {
		r := m.gaib(t, "--json", "sandbox", "create", "ttl-test", "--ttl="+ttl)
		if r.Code != sandbox.ExitUsage || r.errorCode(t) != sandbox.CodeInvalidTTL {
			t.Errorf("--ttl %s: exit %d %s", ttl, r.Code, r.Stdout)
		}
	}
	r := m.gaib(t, "sandbox", "create", "ttl-test", "--ttl", "9d")
	if !strings.Contains(r.Stderr, "between 1m and 7d") {
		t.Errorf("the message does not name the bounds: %q", r.Stderr)
	}
	for _, ttl := range []string{"90m", "48h", "2d", "1w"} {
		rec := m.gaib(t, "--json", "sandbox", "create", "ttl-"+strings.ToLower(ttl), "--ttl", ttl).must(t).record(t)
		want, _ := sandbox.ParseTTL(ttl)
		if got := rec.ExpiresAt.Sub(rec.CreatedAt); got != want {
			t.Errorf("--ttl %s gave %s", ttl, got)
		}
	}
	// extend may not push the time left past the maximum.
	if r := m.gaib(t, "--json", "sandbox", "extend", "ttl-1w", "--ttl", "1h"); r.errorCode(t) != sandbox.CodeInvalidTTL {
		t.Errorf("extend past max: %s", r.Stdout)
	}
}

func TestExpiryDestroysAndFreesTheName(t *testing.T) {
	var clock atomicClock
	clock.set(time.Now())
	m := startMesh(t, services.MeshConfig{Sandbox: services.SandboxConfig{Now: clock.now}})
	rec := m.gaib(t, "--json", "sandbox", "create", "short", "--ttl", "1m").must(t).record(t)
	rep, err := m.Mesh.Sandboxes.Sweep(context.Background(), time.Hour)
	if err != nil || len(rep.Expired) != 0 {
		t.Fatalf("sweep before expiry: %+v %v", rep, err)
	}
	clock.set(clock.now().Add(2 * time.Minute))
	var sweep services.SweepReport
	// The cleanup service's endpoint, as an operator would call it.
	msg := m.request(t, sandbox.ServiceCleanup, "run", tester, []byte("{}"))
	if err := json.Unmarshal(msg.Data, &sweep); err != nil || len(sweep.Expired) != 1 || sweep.Expired[0] != rec.ID {
		t.Fatalf("sweep after expiry: %s %v", msg.Data, err)
	}
	st := m.gaib(t, "--json", "sandbox", "status", rec.ID).must(t).record(t)
	if st.Status != sandbox.StatusDestroyed {
		t.Fatalf("expired sandbox is %s", st.Status)
	}
	m.gaib(t, "sandbox", "create", "short").must(t)
	// Destroyed records are dropped after the retention period.
	clock.set(clock.now().Add(2 * time.Hour))
	rep, err = m.Mesh.Sandboxes.Sweep(context.Background(), time.Hour)
	if err != nil || len(rep.Purged) != 1 || rep.Purged[0] != rec.ID {
		t.Fatalf("retention sweep: %+v %v", rep, err)
	}
	if r := m.gaib(t, "sandbox", "status", rec.ID); r.Code != sandbox.ExitNotFound {
		t.Fatalf("record kept past retention: exit %d", r.Code)
	}
}

func TestBackgroundSweeperExpiresSandboxes(t *testing.T) {
	var clock atomicClock
	clock.set(time.Now())
	m := startMesh(t, services.MeshConfig{SweepInterval: 20 * time.Millisecond, Sandbox: services.SandboxConfig{Now: clock.now}})
	rec := m.gaib(t, "--json", "sandbox", "create", "ephemeral", "--ttl", "1m").must(t).record(t)
	clock.set(clock.now().Add(time.Minute))
	eventually(t, "the sweeper to destroy the expired sandbox", func() bool {
		st, err := m.Store.Record(context.Background(), rec.ID)
		return err == nil && st.Status == sandbox.StatusDestroyed
	})
	m.gaib(t, "sandbox", "create", "ephemeral").must(t)
}

func TestEveryChangeIsAudited(t *testing.T) {
	m := startMesh(t, services.MeshConfig{})
	js, _ := jetstream.New(m.NC)
	m.developer(t, "alice")
	m.identity(t, "bob", sandbox.RoleAdmin)
	m.developer(t, "eve")
	m.gaib(t, "guild", "allow", guildA, "--owner", "alice").must(t)
	rec := m.as(t, "alice", "--json", "sandbox", "create", "audited").must(t).record(t)
	m.as(t, "bob", "sandbox", "extend", "audited", "--ttl", "1h").must(t)
	m.as(t, "alice", "sandbox", "link", "audited", guildA).must(t)
	m.as(t, "bob", "sandbox", "unlink", "audited", guildA).must(t)
	// Refused requests change nothing and are not audited.
	m.as(t, "eve", "sandbox", "extend", rec.ID, "--ttl", "1h").errorCodeIs(t, sandbox.CodeForbidden)
	m.as(t, "eve", "sandbox", "destroy", rec.ID, "--yes").errorCodeIs(t, sandbox.CodeForbidden)
	m.as(t, "alice", "sandbox", "destroy", "audited", "--yes").must(t)

	var got []string
	for _, msg := range readStream(t, js, sandbox.StreamAudit) {
		if !strings.HasPrefix(msg.Subject, sandbox.AuditSubject(rec.ID, "")) {
			continue // users and guilds
		}
		var e struct {
			Actor     string          `json:"actor"`
			Action    string          `json:"action"`
			SandboxID string          `json:"sandbox_id"`
			Before    *sandbox.Record `json:"before"`
			After     *sandbox.Record `json:"after"`
		}
		if err := json.Unmarshal(msg.Data, &e); err != nil {
			t.Fatal(err)
		}
		if e.SandboxID != rec.ID || msg.Subject != sandbox.AuditSubject(rec.ID, e.Action) || e.After == nil {
			t.Fatalf("audit entry %s: %+v", msg.Subject, e)
		}
		if e.Action != "create" && e.Before == nil {
			t.Fatalf("%s has no before", e.Action)
		}
		got = append(got, e.Actor+":"+e.Action)
	}
	want := []string{"alice:create", "bob:extend", "alice:register-guild", "bob:unregister-guild", "alice:destroy-started", "alice:destroy"}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Fatalf("audit = %v, want %v", got, want)
	}
}
