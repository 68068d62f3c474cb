package integration

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/arrakis/gaib/auth/authtest"
	"github.com/arrakis/gaib/sandbox"
	"github.com/arrakis/gaib/services"
)

// meshUnderAttack is a running mesh the hostile-tenant suite attacks: the embedded
// operator-mode deployment of the test harness, or `gaib serve` joined to a separately
// started operator-mode server.
type meshUnderAttack struct {
	url string
	// admin runs the CLI as the mesh's admin.
	admin func(t *testing.T, args ...string) result
	// inspector is an unrestricted connection to check that the victims are untouched.
	inspector *nats.Conn
	dir       string
}

// developer issues an identity through `gaib user add` (the real path) and returns its
// credential file.
func (m *meshUnderAttack) developer(t *testing.T, name string) string {
	t.Helper()
	path := filepath.Join(m.dir, name+".creds")
	m.admin(t, "user", "add", name, "--save", path).must(t)
	return path
}

// as runs the CLI with a credential file.
func (m *meshUnderAttack) as(t *testing.T, creds string, args ...string) result {
	t.Helper()
	return runGaib(t, "", append([]string{"--server", m.url, "--creds", creds}, args...)...)
}

func embeddedMeshUnderAttack(t *testing.T) *meshUnderAttack {
	m := startMesh(t, services.MeshConfig{})
	return &meshUnderAttack{url: m.URL, admin: func(t *testing.T, args ...string) result { return m.gaib(t, args...) },
		inspector: m.Deployment.Mesh(t), dir: t.TempDir()}
}

func externalMeshUnderAttack(t *testing.T) *meshUnderAttack {
	d := authtest.Start(t, nil)
	mesh, sys, op := externalCredentials(t, d)
	url, _ := serveInProcess(t, "--server", d.URL, "--creds", mesh, "--operator-signing-key", op, "--system-creds", sys,
		"--data-dir", t.TempDir(), "--no-postgres", "--no-redis")
	return &meshUnderAttack{url: url, admin: func(t *testing.T, args ...string) result { return served(t, url, args...) },
		inspector: d.Mesh(t), dir: t.TempDir()}
}

func TestHostileTenantNATS(t *testing.T) {
	for _, mode := range []struct {
		name  string
		start func(*testing.T) *meshUnderAttack
	}{{"embedded", embeddedMeshUnderAttack}, {"external", externalMeshUnderAttack}} {
		t.Run(mode.name, func(t *testing.T) { hostileTenantNATS(t, mode.start(t)) })
	}
}

// permissionProbe connects with a credential and reports, per attempt, whether the server
// refused it: every permission violation the server sends names its subject.
type permissionProbe struct {
	nc       *nats.Conn
	mu       sync.Mutex
	violated map[string]bool
	errs     chan struct{}
}

func probeConn(t *testing.T, url, creds, inbox string) *permissionProbe {
	t.Helper()
	p := &permissionProbe{violated: map[string]bool{}, errs: make(chan struct{}, 256)}
	opts := []nats.Option{nats.UserCredentials(creds), nats.MaxReconnects(0),
		nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) {
			if !errors.Is(err, nats.ErrPermissionViolation) {
				return
			}
			p.mu.Lock()
			msg := err.Error()
			if i := strings.Index(msg, `"`); i >= 0 {
				p.violated[strings.Trim(msg[i:], `"`)] = true
			}
			p.mu.Unlock()
			p.errs <- struct{}{}
		})}
	if inbox != "" {
		opts = append(opts, nats.CustomInboxPrefix(inbox))
	}
	nc, err := nats.Connect(url, opts...)
	if err != nil {
		t.Fatalf("connect with %s: %v", creds, err)
	}
	t.Cleanup(nc.Close)
	p.nc = nc
	return p
}

// refused waits until the server has refused subject (or a second passes: allowed).
func (p *permissionProbe) refused(subject string) bool {
	deadline := time.After(2 * time.Second)
	for {
		p.mu.Lock()
		v := p.violated[subject]
		p.mu.Unlock()
		if v {
			return true
		}
		select {
		case <-p.errs:
		case <-deadline:
			return false
		}
	}
}

func (p *permissionProbe) cannotSubscribe(t *testing.T, subjects ...string) {
	t.Helper()
	for _, s := range subjects {
		sub, err := p.nc.SubscribeSync(s)
		if err != nil {
			continue
		}
		_ = p.nc.Flush()
		if !p.refused(s) {
			t.Errorf("could subscribe to %s", s)
		}
		_ = sub.Unsubscribe()
	}
}

func (p *permissionProbe) cannotPublish(t *testing.T, subjects ...string) {
	t.Helper()
	for _, s := range subjects {
		if err := p.nc.Publish(s, []byte(`{}`)); err != nil {
			continue
		}
		_ = p.nc.Flush()
		if !p.refused(s) {
			t.Errorf("could publish to %s", s)
		}
	}
}

// connectEnv runs `gaib sandbox connect` as creds and returns what a worker gets.
func connectEnvAs(t *testing.T, m *meshUnderAttack, creds, name string) map[string]string {
	t.Helper()
	var resp struct {
		Env map[string]string `json:"env"`
	}
	decodeStrict(t, m.as(t, creds, "--json", "sandbox", "connect", name).must(t).Stdout, &resp)
	return resp.Env
}

func hostileTenantNATS(t *testing.T, m *meshUnderAttack) {
	ctx := context.Background()
	alice, bob, carol := m.developer(t, "alice"), m.developer(t, "bob"), m.developer(t, "carol")
	ops := filepath.Join(m.dir, "ops.creds")
	m.admin(t, "user", "add", "ops", "--role", "admin", "--save", ops).must(t)
	m.admin(t, "guild", "allow", guildA, "--owner", "alice").must(t)
	m.admin(t, "guild", "allow", guildB, "--owner", "bob").must(t)
	attacker := m.as(t, alice, "--json", "sandbox", "create", "attacker", "--guild", guildA).must(t).record(t)
	victim := m.as(t, bob, "--json", "sandbox", "create", "victim", "--guild", guildB).must(t).record(t)
	env := connectEnvAs(t, m, alice, "attacker")
	if env["NATS_CREDS"] == "" || env["NATS_URL"] == "" || env["NATS_INBOX_PREFIX"] == "" {
		t.Fatalf("connect gave no NATS credential: %v", env)
	}
	if b, err := os.Stat(env["NATS_CREDS"]); err != nil || b.Mode().Perm() != 0o600 {
		t.Fatalf("the credential file is not 0600: %v %v", b, err)
	}

	// Events for both sandboxes and production, so there is something to steal.
	ijs, _ := jetstream.New(m.inspector)
	for i, g := range []string{guildA, guildB, "999999999999999999"} {
		publishGateway(t, ijs, "gateway.events.member.join", envelope(g, "member.join", i), nil)
	}
	waitCounts(t, ijs, map[string]uint64{sandbox.SandboxStream(attacker.ID): 1, sandbox.SandboxStream(victim.ID): 1})
	auditBefore := streamCount(t, ijs, sandbox.StreamAudit)

	// The worker holds exactly what connect printed.
	w := probeConn(t, env["NATS_URL"], env["NATS_CREDS"], env["NATS_INBOX_PREFIX"])
	w.cannotSubscribe(t, "events.>", "commands.>", "gateway.>", ">", "sandbox.>", sandbox.SandboxWildcard(victim.ID),
		"sandbox.*.events.>", "_INBOX.>", "_INBOX.user.>", "_INBOX.user.bob.>", sandbox.SandboxInbox(victim.ID)+".>",
		"gaib.>", "gaib.sandbox.connect.*", "gaib.sandbox.create.*", "$SRV.>", "$JS.>", "$KV.>", "$SYS.>", "$JS.ACK.>")
	w.cannotPublish(t,
		"gateway.events.member.join", "events.member.join", "commands.interaction",
		sandbox.SandboxSubject(victim.ID, "events.member.join"),
		sandbox.Request(sandbox.ServiceSandbox, sandbox.OpConnect, "bob"),
		sandbox.Request(sandbox.ServiceSandbox, sandbox.OpDestroy, "alice"),
		sandbox.Request(sandbox.ServiceSandbox, sandbox.OpCreate, attacker.ID),
		sandbox.AuditSubject(victim.ID, "destroy"),
		"$JS.API.STREAM.PURGE."+sandbox.StreamAudit, "$JS.API.STREAM.DELETE."+sandbox.StreamGateway,
		"$JS.API.STREAM.MSG.DELETE."+sandbox.StreamAudit, "$JS.API.CONSUMER.DELETE."+sandbox.StreamGateway+".router",
		"$JS.API.CONSUMER.CREATE."+sandbox.SandboxStream(attacker.ID),
		"$JS.API.CONSUMER.CREATE."+sandbox.SandboxStream(attacker.ID)+".spy."+sandbox.SandboxWildcard(victim.ID),
		"$JS.API.CONSUMER.DURABLE.CREATE."+sandbox.SandboxStream(attacker.ID)+".spy",
		"$JS.API.STREAM.UPDATE."+sandbox.SandboxStream(attacker.ID),
		"$JS.API.STREAM.INFO."+sandbox.SandboxStream(victim.ID),
		"$JS.API.CONSUMER.MSG.NEXT."+sandbox.SandboxStream(victim.ID)+"."+sandbox.SandboxConsumer,
		"$JS.API.DIRECT.GET."+sandbox.SandboxStream(victim.ID),
		"$JS.API.STREAM.MSG.GET.KV_"+sandbox.BucketSandboxes, "$JS.API.DIRECT.GET.KV_"+sandbox.BucketRoutes,
		"$KV."+sandbox.BucketRoutes+"."+guildB, "$JS.API.INFO", "$SRV.PING", "$SYS.REQ.ACCOUNT.PING.CONNZ",
		"_INBOX.user.bob.x", sandbox.SandboxInbox(victim.ID)+".x")
	// With the standard client, every JetStream read outside its own stream fails too (a
	// denied request is never answered: a short deadline is enough).
	wjs, _ := jetstream.New(w.nc)
	short, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
	defer cancel()
	for _, s := range []string{sandbox.StreamAudit, sandbox.StreamGateway, sandbox.StreamEvents, sandbox.SandboxStream(victim.ID), "KV_" + sandbox.BucketRoutes} {
		if _, err := wjs.Stream(short, s); err == nil {
			t.Errorf("the worker could read stream %s", s)
		}
	}
	if _, err := wjs.KeyValue(short, sandbox.BucketRoutes); err == nil {
		t.Error("the worker could open the routes bucket")
	}

	// It still does its job: its own routed event, through the durable gaib made, acked.
	cons, err := wjs.Consumer(ctx, sandbox.SandboxStream(attacker.ID), sandbox.SandboxConsumer)
	if err != nil {
		t.Fatalf("own durable: %v", err)
	}
	batch, err := cons.Fetch(1, jetstream.FetchMaxWait(5*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	got := 0
	for msg := range batch.Messages() {
		if !strings.Contains(string(msg.Data()), guildA) {
			t.Errorf("the worker got someone else's event: %s", msg.Data())
		}
		if err := msg.DoubleAck(ctx); err != nil {
			t.Fatalf("ack: %v", err)
		}
		got++
	}
	if got != 1 {
		t.Fatalf("the worker fetched %d of its events, want 1", got)
	}
	// ...and may talk within its own namespace.
	sub, err := w.nc.SubscribeSync(sandbox.SandboxSubject(attacker.ID, "work.ping"))
	if err != nil {
		t.Fatal(err)
	}
	if err := w.nc.Publish(sandbox.SandboxSubject(attacker.ID, "work.ping"), []byte("x")); err != nil {
		t.Fatal(err)
	}
	if _, err := sub.NextMsg(5 * time.Second); err != nil {
		t.Fatalf("own namespace: %v", err)
	}

	// A second developer holding her own credential: nothing but requests as herself.
	c := probeConn(t, m.url, carol, sandbox.UserInbox("carol"))
	c.cannotSubscribe(t, "_INBOX.>", "_INBOX.user.alice.>", "gaib.>", "events.>", "sandbox.>", "$KV.>", "$JS.>")
	c.cannotPublish(t, sandbox.Request(sandbox.ServiceSandbox, sandbox.OpConnect, "alice"),
		sandbox.Request(sandbox.ServiceSandbox, sandbox.OpDestroy, "gaib"), "gateway.events.member.join",
		sandbox.AuditSubject(victim.ID, "destroy"), "$JS.API.STREAM.PURGE."+sandbox.StreamAudit, "$KV."+sandbox.BucketRoutes+"."+guildA,
		"$JS.API.CONSUMER.DELETE."+sandbox.StreamGateway+".router", "$SRV.STATS", "$SRV.PING", "$SRV.INFO.sandbox")
	// Nor make the mesh publish for her, nor can the worker, through a forged reply subject.
	venv := connectEnvAs(t, m, bob, "victim")
	vw := probeConn(t, venv["NATS_URL"], venv["NATS_CREDS"], venv["NATS_INBOX_PREFIX"])
	attackReplySubjects(t, m.inspector, c, "carol", w, vw, probeConn(t, m.url, ops, sandbox.UserInbox("ops")), attacker.ID, victim.ID, guildB)
	// Through the CLI she cannot act on others' sandboxes either: forbidden, exit 6.
	for _, args := range [][]string{
		{"sandbox", "connect", "attacker"}, {"sandbox", "destroy", "victim", "--yes"}, {"sandbox", "extend", "victim", "--ttl", "1h"},
		{"sandbox", "unregister-guild", "victim", guildB}, {"sandbox", "register-guild", "victim", "123456789012345679"},
		{"events", "publish", "--sandbox", "victim"}, {"sandbox", "events", "victim"}, {"user", "add", "mallory"},
		{"guild", "allow", "123456789012345679"}, {"cleanup", "orphans", "--remove"},
	} {
		m.as(t, carol, append([]string{"--json"}, args...)...).errorCodeIs(t, sandbox.CodeForbidden)
	}
	// Nor publish into the gateway (the gateway's right, and admins').
	m.as(t, carol, "--json", "events", "publish", "--guild", guildA).errorCodeIs(t, sandbox.CodeForbidden)

	// The victims are untouched: both sandboxes run with their guilds and streams, the
	// router's consumer is there, and the audit trail only grew by the admin's guild changes.
	for _, name := range []string{"attacker", "victim"} {
		var st sandbox.StatusResponse
		decodeStrict(t, m.admin(t, "--json", "sandbox", "status", name).must(t).Stdout, &st)
		if st.Status != sandbox.StatusRunning || len(st.Guilds) != 1 {
			t.Errorf("%s after the attacks: %+v", name, st.Record)
		}
		for _, h := range st.Health {
			if !h.OK {
				t.Errorf("%s %s: %s", name, h.Plane, h.Message)
			}
		}
	}
	if n := streamCount(t, ijs, sandbox.SandboxStream(victim.ID)); n != 1 {
		t.Errorf("the victim's stream holds %d events, want 1", n)
	}
	if _, err := ijs.Consumer(ctx, sandbox.StreamGateway, "router"); err != nil {
		t.Errorf("the router's consumer: %v", err)
	}
	if n := streamCount(t, ijs, sandbox.StreamAudit); n != auditBefore {
		t.Errorf("the audit stream changed under attack: %d entries, was %d", n, auditBefore)
	}
	// Every audit entry names an authenticated actor.
	for _, msg := range readStream(t, ijs, sandbox.StreamAudit) {
		var e struct{ Actor string }
		if err := json.Unmarshal(msg.Data, &e); err != nil || (e.Actor != "alice" && e.Actor != "bob" && !strings.HasPrefix(msg.Subject, "gaib.audit.guilds.") && !strings.HasPrefix(msg.Subject, "gaib.audit.users.")) {
			t.Errorf("audit %s by %q", msg.Subject, e.Actor)
		}
	}

	// Destroy revokes the worker's credential: it is disconnected within seconds and cannot
	// come back.
	closed := make(chan struct{})
	w.nc.SetClosedHandler(func(*nats.Conn) { close(closed) })
	m.as(t, alice, "sandbox", "destroy", "attacker", "--yes").must(t)
	select {
	case <-closed:
	case <-time.After(10 * time.Second):
		t.Fatal("the destroyed sandbox's worker is still connected after 10s")
	}
	if nc, err := nats.Connect(m.url, nats.UserCredentials(env["NATS_CREDS"])); err == nil {
		nc.Close()
		t.Fatal("the destroyed sandbox's credential still connects")
	}

	// Revoking an identity disconnects its clients and refuses its credential.
	closed = make(chan struct{})
	c.nc.SetClosedHandler(func(*nats.Conn) { close(closed) })
	m.admin(t, "user", "revoke", "carol").must(t)
	select {
	case <-closed:
	case <-time.After(10 * time.Second):
		t.Fatal("carol is still connected 10s after her revocation")
	}
	m.as(t, carol, "--json", "sandbox", "list").errorCodeIs(t, sandbox.CodeUnauthenticated)
}
