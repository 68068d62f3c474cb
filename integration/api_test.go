package integration

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/arrakis/gaib/client"
	"github.com/arrakis/gaib/router"
	"github.com/arrakis/gaib/sandbox"
	"github.com/arrakis/gaib/services"
)

const (
	apiGuild  = "223456789012345678"
	apiGuild2 = "323456789012345678"
)

// noPlanes runs serve without Postgres and Redis: what these tests check lives in NATS.
var noPlanes = []string{"--no-postgres", "--no-redis"}

// adminName is who the served mesh's local admin is.
func (s *apiServe) adminName(t *testing.T) string {
	t.Helper()
	var me sandbox.WhoAmIResponse
	decodeStrict(t, s.gaib(t, "--json", "user", "whoami").must(t).Stdout, &me)
	return me.Name
}

// TestAPILifecycle drives a sandbox through its whole life over HTTP, on a mesh with
// every plane, as a developer with a token, and reads its audit trail afterwards.
func TestAPILifecycle(t *testing.T) {
	s := serveAPI(t, "--data-dir", servableDir(t))
	s.developer(t, "alice")
	alice, admin := s.as(s.token(t, "alice")), s.as(s.token(t, s.adminName(t)))

	var allowed sandbox.AllowedGuild
	admin.do(t, http.MethodPut, "/v1/guilds/"+apiGuild, map[string]string{"note": "QA"}).ok(t, 200, &allowed)
	if allowed.Guild != apiGuild || allowed.Note != "QA" {
		t.Fatalf("allow: %+v", allowed)
	}

	var rec sandbox.Record
	r := alice.do(t, http.MethodPost, "/v1/sandboxes", map[string]any{"name": "ci-run", "ttl": "2h"}).ok(t, 201, &rec)
	if rec.Owner != "alice" || rec.Status != sandbox.StatusRunning || r.Header.Get("Location") != "/v1/sandboxes/ci-run" {
		t.Fatalf("create: %+v, Location %q", rec, r.Header.Get("Location"))
	}
	var st sandbox.StatusResponse
	alice.do(t, http.MethodGet, r.Header.Get("Location"), nil).ok(t, 200, &st)
	if st.ID != rec.ID || len(st.Health) != 3 {
		t.Fatalf("get: %+v", st)
	}
	for _, h := range st.Health {
		if !h.OK {
			t.Errorf("health %s: %s", h.Plane, h.Message)
		}
	}
	var list []sandbox.Record
	alice.do(t, http.MethodGet, "/v1/sandboxes?owner=alice", nil).ok(t, 200, &list)
	if len(list) != 1 || list[0].ID != rec.ID {
		t.Fatalf("list: %+v", list)
	}

	var g sandbox.GuildResponse
	alice.do(t, http.MethodPut, "/v1/sandboxes/ci-run/guilds/"+apiGuild, nil).ok(t, 200, &g)
	if len(g.Guilds) != 1 || g.Guilds[0] != apiGuild || g.Warning != "" {
		t.Fatalf("register: %+v", g)
	}
	var conn sandbox.ConnectResponse
	r = alice.do(t, http.MethodGet, "/v1/sandboxes/ci-run/connection", nil).ok(t, 200, &conn)
	env := map[string]string{}
	for _, e := range conn.Env {
		env[e.Name] = e.Value
	}
	if !strings.Contains(conn.Credentials, "NATS USER JWT") || env["DATABASE_URL"] == "" || env["REDIS_URL"] == "" ||
		env["SANDBOX_ID"] != rec.ID || r.Header.Get("Cache-Control") != "no-store" {
		t.Fatalf("connection: env %v, credentials %d bytes, Cache-Control %q", env, len(conn.Credentials), r.Header.Get("Cache-Control"))
	}
	var ext sandbox.Record
	alice.do(t, http.MethodPost, "/v1/sandboxes/ci-run/extend", map[string]string{"ttl": "1h"}).ok(t, 200, &ext)
	if d := ext.ExpiresAt.Sub(rec.ExpiresAt); d < time.Hour || d > time.Hour+time.Minute {
		t.Fatalf("extend moved the expiry by %s", d)
	}
	alice.do(t, http.MethodDelete, "/v1/sandboxes/ci-run/guilds/"+apiGuild, nil).ok(t, 200, &g)
	if len(g.Guilds) != 0 {
		t.Fatalf("unregister: %+v", g)
	}
	var gone sandbox.Record
	alice.do(t, http.MethodDelete, "/v1/sandboxes/ci-run", nil).ok(t, 200, &gone)
	if gone.Status != sandbox.StatusDestroyed {
		t.Fatalf("destroy: %+v", gone)
	}
	// Destroy is idempotent, by name and by id; the record stays readable by id.
	alice.do(t, http.MethodDelete, "/v1/sandboxes/ci-run", nil).ok(t, 200, &gone)
	alice.do(t, http.MethodGet, "/v1/sandboxes/"+rec.ID, nil).ok(t, 200, &st)
	if st.Status != sandbox.StatusDestroyed || gone.ID != rec.ID {
		t.Fatalf("after destroy: %+v / %+v", st, gone)
	}

	// The audit trail, by name after destroy, lists every step in order, by alice.
	want := []string{"create", "register-guild", "extend", "unregister-guild", "destroy-started", "destroy"}
	var trail sandbox.AuditResponse
	alice.do(t, http.MethodGet, "/v1/sandboxes/ci-run/audit", nil).ok(t, 200, &trail)
	checkTrail(t, trail, rec.ID, "alice", want)
	// The CLI reads the same trail.
	var cli sandbox.AuditResponse
	decodeStrict(t, s.gaib(t, "--json", "sandbox", "audit", "ci-run").must(t).Stdout, &cli)
	checkTrail(t, cli, rec.ID, "alice", want)
	human := s.gaib(t, "sandbox", "audit", rec.ID).must(t).Stdout
	for _, w := range []string{"TIME", "alice", "+guild " + apiGuild, "-guild " + apiGuild, "status running → destroyed", "expires "} {
		if !strings.Contains(human, w) {
			t.Errorf("sandbox audit does not show %q:\n%s", w, human)
		}
	}
}

// checkTrail fails unless trail is id's entries with exactly these actions, in order, by
// actor, with increasing sequences.
func checkTrail(t *testing.T, trail sandbox.AuditResponse, id, actor string, actions []string) {
	t.Helper()
	var got []string
	var last uint64
	for _, e := range trail.Entries {
		got = append(got, e.Action)
		if e.Actor != actor || e.SandboxID != id || e.Seq <= last || e.After == nil {
			t.Errorf("entry %+v", e)
		}
		last = e.Seq
	}
	if strings.Join(got, ",") != strings.Join(actions, ",") || trail.SandboxID != id || trail.More {
		t.Fatalf("audit trail of %s: %v (more %v), want %v", id, got, trail.More, actions)
	}
}

// TestAPIErrors sends every kind of bad request and checks each is refused with its
// status and a problem carrying the CLI's code, and that nothing changed.
func TestAPIErrors(t *testing.T) {
	s := serveAPI(t, append(noPlanes, "--max-per-owner", "2", "--max-guilds-per-sandbox", "1")...)
	s.developer(t, "alice")
	alice, admin := s.as(s.token(t, "alice")), s.as(s.token(t, s.adminName(t)))
	alice.do(t, http.MethodPost, "/v1/sandboxes", map[string]string{"name": "mine"}).ok(t, 201, nil)
	admin.do(t, http.MethodPost, "/v1/sandboxes", map[string]any{"name": "theirs", "guilds": []string{apiGuild}}).ok(t, 201, nil)
	admin.do(t, http.MethodPost, "/v1/sandboxes", map[string]any{"name": "other"}).ok(t, 201, nil)
	before := s.gaib(t, "--json", "sandbox", "list", "--all").must(t).Stdout

	huge := `{"name":"big","ttl":"` + strings.Repeat("1", sandbox.MaxRequestBytes) + `"}`
	for _, c := range []struct {
		name         string
		cl           *apiClient
		method, path string
		body         any
		status       int
		code         sandbox.Code
	}{
		{"no token", s.as(""), http.MethodGet, "/v1/sandboxes", nil, 401, sandbox.CodeUnauthenticated},
		{"bad name", alice, http.MethodPost, "/v1/sandboxes", map[string]string{"name": "Bad_Name"}, 400, sandbox.CodeInvalidName},
		{"bad ttl", alice, http.MethodPost, "/v1/sandboxes", map[string]string{"name": "x1", "ttl": "forever"}, 400, sandbox.CodeInvalidTTL},
		{"bad guild", alice, http.MethodPut, "/v1/sandboxes/mine/guilds/12", nil, 400, sandbox.CodeInvalidGuild},
		{"unknown query parameter", alice, http.MethodGet, "/v1/sandboxes?ownr=alice", nil, 400, sandbox.CodeInvalidRequest},
		{"bad status filter", alice, http.MethodGet, "/v1/sandboxes?status=sleeping", nil, 400, sandbox.CodeInvalidRequest},
		{"unknown field", alice, http.MethodPost, "/v1/sandboxes", `{"name":"x2","colour":"red"}`, 400, sandbox.CodeInvalidRequest},
		{"malformed JSON", alice, http.MethodPost, "/v1/sandboxes", `{"name":"x3"`, 400, sandbox.CodeInvalidRequest},
		{"trailing data", alice, http.MethodPost, "/v1/sandboxes", `{"name":"x4"} {"name":"x5"}`, 400, sandbox.CodeInvalidRequest},
		{"wrong type", alice, http.MethodPost, "/v1/sandboxes", `{"name":5}`, 400, sandbox.CodeInvalidRequest},
		{"no body", alice, http.MethodPost, "/v1/sandboxes/mine/extend", "", 400, sandbox.CodeInvalidRequest},
		{"oversized body", alice, http.MethodPost, "/v1/sandboxes", huge, 413, sandbox.CodeTooLarge},
		{"unknown sandbox", alice, http.MethodGet, "/v1/sandboxes/nope", nil, 404, sandbox.CodeNotFound},
		{"unknown route", alice, http.MethodGet, "/v1/nothing", nil, 404, sandbox.CodeNotFound},
		{"name taken", alice, http.MethodPost, "/v1/sandboxes", map[string]string{"name": "theirs"}, 409, sandbox.CodeNameTaken},
		{"too many guilds", admin, http.MethodPut, "/v1/sandboxes/theirs/guilds/" + apiGuild2, nil, 409, sandbox.CodeTooManyGuilds},
		{"not an admin", alice, http.MethodGet, "/v1/users", nil, 403, sandbox.CodeForbidden},
		{"not the owner", alice, http.MethodDelete, "/v1/sandboxes/theirs", nil, 403, sandbox.CodeForbidden},
		{"guild not allowed", alice, http.MethodPut, "/v1/sandboxes/mine/guilds/" + apiGuild2, nil, 403, sandbox.CodeGuildNotAllowed},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := c.cl.do(t, c.method, c.path, c.body)
			p := r.problem(t, c.status, c.code)
			if c.status == 401 && r.Header.Get("WWW-Authenticate") == "" {
				t.Errorf("401 without WWW-Authenticate")
			}
			if c.code == sandbox.CodeInvalidRequest && c.body != nil && c.body != "" && len(p.Errors) == 0 && !strings.Contains(p.Detail, "status") {
				t.Errorf("refused body without saying where: %+v", p)
			}
		})
	}
	if after := s.gaib(t, "--json", "sandbox", "list", "--all").must(t).Stdout; after != before {
		t.Fatalf("bad requests changed the sandboxes:\nbefore %s\nafter %s", before, after)
	}
	// A guild held by another sandbox: refused, the guilds untouched (the service adds
	// the guild to the record before it claims the route and takes it out again, so the
	// record's revision and updated_at move).
	admin.do(t, http.MethodPut, "/v1/sandboxes/other/guilds/"+apiGuild, nil).problem(t, 409, sandbox.CodeGuildTaken)
	var other sandbox.StatusResponse
	admin.do(t, http.MethodGet, "/v1/sandboxes/other", nil).ok(t, 200, &other)
	if len(other.Guilds) != 0 {
		t.Fatalf("a refused registration left guilds %v", other.Guilds)
	}
	// Conflicts that need a change first: the quota, and a destroyed sandbox.
	alice.do(t, http.MethodPost, "/v1/sandboxes", map[string]string{"name": "mine2"}).ok(t, 201, nil)
	alice.do(t, http.MethodPost, "/v1/sandboxes", map[string]string{"name": "mine3"}).problem(t, 409, sandbox.CodeQuotaExceeded)
	var gone sandbox.Record
	alice.do(t, http.MethodDelete, "/v1/sandboxes/mine2", nil).ok(t, 200, &gone)
	alice.do(t, http.MethodPost, "/v1/sandboxes/"+gone.ID+"/extend", map[string]string{"ttl": "1h"}).problem(t, 409, sandbox.CodeWrongState)

	// 503: a mesh whose router and cleanup do not run is not ready, and router routes
	// say the router is unavailable.
	only := serveAPI(t, append(noPlanes, "--only", "sandbox")...)
	p := only.as("").do(t, http.MethodGet, "/readyz", nil).problem(t, 503, sandbox.CodeUnavailable)
	if !strings.Contains(p.Detail, "router") && !strings.Contains(p.Detail, "cleanup") {
		t.Errorf("readyz does not say what is missing: %s", p.Detail)
	}
	only.as(only.token(t, only.adminName(t))).do(t, http.MethodGet, "/v1/router/stats", nil).problem(t, 503, sandbox.CodeUnavailable)
	var ready struct {
		Status, NATS string
		Services     map[string]string
	}
	s.as("").do(t, http.MethodGet, "/readyz", nil).ok(t, 200, &ready)
	if ready.Status != "ready" || len(ready.Services) != len(sandbox.Services) {
		t.Fatalf("readyz: %+v", ready)
	}
}

// TestAPIAuth attacks the API's authentication: no token, forged tokens, revoked tokens
// and identities, and another developer's valid token against alice's sandbox. Each
// attempt must fail and leave alice's sandbox as it was.
func TestAPIAuth(t *testing.T) {
	s := serveAPI(t, noPlanes...)
	aliceCreds := s.developer(t, "alice")
	s.developer(t, "bob")
	aliceToken, bobToken := s.token(t, "alice"), s.token(t, "bob")
	alice, bob, admin := s.as(aliceToken), s.as(bobToken), s.as(s.token(t, s.adminName(t)))
	admin.do(t, http.MethodPut, "/v1/guilds/"+apiGuild, map[string]string{}).ok(t, 200, nil)
	var rec sandbox.Record
	alice.do(t, http.MethodPost, "/v1/sandboxes", map[string]string{"name": "alice-box"}).ok(t, 201, &rec)

	forged := aliceToken[:len(aliceToken)-1] + string("0123456789abcdef"[(strings.IndexByte("0123456789abcdef", aliceToken[len(aliceToken)-1])+1)%16])
	unknown := "gaib_zzzzzzzzzzzz_" + strings.Repeat("ab", 32)
	for name, token := range map[string]string{"garbage": "letmein", "right id, wrong secret": forged, "unknown id": unknown} {
		r := s.as(token).do(t, http.MethodGet, "/v1/whoami", nil)
		if p := r.problem(t, 401, sandbox.CodeUnauthenticated); strings.Contains(p.Detail, token) {
			t.Errorf("%s: the problem echoes the token", name)
		}
	}
	var me sandbox.WhoAmIResponse
	alice.do(t, http.MethodGet, "/v1/whoami", nil).ok(t, 200, &me)
	if me.Name != "alice" || me.Role != sandbox.RoleDeveloper {
		t.Fatalf("whoami: %+v", me)
	}

	// bob's own token is valid, but not for alice's sandbox.
	for _, c := range []struct{ method, path string }{
		{http.MethodDelete, "/v1/sandboxes/alice-box"}, {http.MethodPost, "/v1/sandboxes/alice-box/extend"},
		{http.MethodGet, "/v1/sandboxes/alice-box/connection"}, {http.MethodPut, "/v1/sandboxes/alice-box/guilds/" + apiGuild},
		{http.MethodGet, "/v1/sandboxes/alice-box/audit"}, {http.MethodGet, "/v1/sandboxes/alice-box/events"},
		{http.MethodPost, "/v1/users/bob/tokens"}, {http.MethodPost, "/v1/users/alice/tokens"},
		{http.MethodDelete, "/v1/users/alice"}, {http.MethodPut, "/v1/guilds/" + apiGuild2},
	} {
		var body any
		if c.method == http.MethodPost || c.method == http.MethodPut {
			body = map[string]string{}
			if strings.HasSuffix(c.path, "/extend") {
				body = map[string]string{"ttl": "1h"}
			}
		}
		bob.do(t, c.method, c.path, body).problem(t, 403, sandbox.CodeForbidden)
	}
	var st sandbox.StatusResponse
	alice.do(t, http.MethodGet, "/v1/sandboxes/alice-box", nil).ok(t, 200, &st)
	if st.Status != sandbox.StatusRunning || !st.ExpiresAt.Equal(rec.ExpiresAt) || len(st.Guilds) != 0 || st.Revision != rec.Revision {
		t.Fatalf("bob changed alice's sandbox: %+v", st.Record)
	}
	var trail sandbox.AuditResponse
	alice.do(t, http.MethodGet, "/v1/sandboxes/alice-box/audit", nil).ok(t, 200, &trail)
	checkTrail(t, trail, rec.ID, "alice", []string{"create"})

	// A revoked token stops at once; the identity's other tokens keep working.
	var second sandbox.TokenIssueResponse
	admin.do(t, http.MethodPost, "/v1/users/alice/tokens", map[string]string{"note": "second", "ttl": "1d"}).ok(t, 201, &second)
	s.as(second.Token).do(t, http.MethodGet, "/v1/whoami", nil).ok(t, 200, nil)
	var listed []sandbox.Token
	r := admin.do(t, http.MethodGet, "/v1/users/alice/tokens", nil).ok(t, 200, &listed)
	if len(listed) != 2 || strings.Contains(string(r.Body), "hash") || strings.Contains(string(r.Body), aliceToken[18:]) {
		t.Fatalf("token list: %s", r.Body)
	}
	admin.do(t, http.MethodDelete, "/v1/users/alice/tokens/"+second.Info.ID, nil).ok(t, 200, nil)
	s.as(second.Token).do(t, http.MethodGet, "/v1/whoami", nil).problem(t, 401, sandbox.CodeUnauthenticated)
	alice.do(t, http.MethodGet, "/v1/whoami", nil).ok(t, 200, nil)
	admin.do(t, http.MethodDelete, "/v1/users/bob/tokens/"+second.Info.ID, nil).problem(t, 404, sandbox.CodeNotFound)

	// A revoked identity's tokens stop; issuing the identity again does not revive them.
	admin.do(t, http.MethodDelete, "/v1/users/bob", nil).ok(t, 200, nil)
	bob.do(t, http.MethodGet, "/v1/whoami", nil).problem(t, 401, sandbox.CodeUnauthenticated)
	admin.do(t, http.MethodPost, "/v1/users", map[string]string{"name": "bob"}).ok(t, 201, nil)
	bob.do(t, http.MethodGet, "/v1/sandboxes", nil).problem(t, 401, sandbox.CodeUnauthenticated)

	// Over NATS, a developer cannot use the token check to act as anyone: only the mesh
	// may ask it.
	nc, err := nats.Connect(s.NATS, nats.UserCredentials(aliceCreds), nats.CustomInboxPrefix(sandbox.UserInbox("alice")))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	_, err = client.Call[sandbox.AuthenticateResponse](context.Background(), client.NewClient(nc, "alice", 10*time.Second),
		sandbox.ServiceUser, sandbox.OpAuthenticate, sandbox.AuthenticateRequest{Token: aliceToken})
	if sandbox.AsError(err).Code != sandbox.CodeForbidden {
		t.Fatalf("a developer asked the token check: %v", err)
	}
	// And a developer cannot issue tokens with the CLI.
	r2 := runGaib(t, "", "--json", "--server", s.NATS, "--creds", aliceCreds, "user", "token", "alice")
	r2.errorCodeIs(t, sandbox.CodeForbidden)
}

// TestAPIConcurrentCreates creates one name through HTTP and the CLI at the same time,
// several times: exactly one of each pair wins.
func TestAPIConcurrentCreates(t *testing.T) {
	s := serveAPI(t, append(noPlanes, "--max-per-owner", "20")...)
	creds := s.developer(t, "alice")
	alice := s.as(s.token(t, "alice"))
	for i := range 6 {
		name := fmt.Sprintf("race-%d", i)
		var wg sync.WaitGroup
		start := make(chan struct{})
		var httpReply reply
		var cliResult result
		wg.Go(func() {
			<-start
			httpReply = alice.do(t, http.MethodPost, "/v1/sandboxes", map[string]string{"name": name})
		})
		wg.Go(func() {
			<-start
			cliResult = runGaib(t, "", "--json", "--server", s.NATS, "--creds", creds, "sandbox", "create", name)
		})
		close(start)
		wg.Wait()
		httpWon, cliWon := httpReply.Status == 201, cliResult.Code == 0
		if httpWon == cliWon {
			t.Fatalf("%s: HTTP %d %s, CLI exit %d %s", name, httpReply.Status, httpReply.Body, cliResult.Code, cliResult.Stdout)
		}
		if httpWon {
			cliResult.errorCodeIs(t, sandbox.CodeNameTaken)
		} else {
			httpReply.problem(t, 409, sandbox.CodeNameTaken)
		}
	}
	var list []sandbox.Record
	alice.do(t, http.MethodGet, "/v1/sandboxes", nil).ok(t, 200, &list)
	if len(list) != 6 {
		t.Fatalf("%d sandboxes, want 6", len(list))
	}
}

// TestAPIEventStream tails a sandbox over SSE: an event routed after the stream began
// arrives, and the stream ends when the sandbox is destroyed.
func TestAPIEventStream(t *testing.T) {
	s := serveAPI(t, noPlanes...)
	s.developer(t, "alice")
	alice, admin := s.as(s.token(t, "alice")), s.as(s.token(t, s.adminName(t)))
	admin.do(t, http.MethodPut, "/v1/guilds/"+apiGuild, map[string]string{}).ok(t, 200, nil)
	var rec sandbox.Record
	alice.do(t, http.MethodPost, "/v1/sandboxes", map[string]any{"name": "tail", "guilds": []string{apiGuild}}).ok(t, 201, &rec)

	st := alice.stream(t, "/v1/sandboxes/tail/events")
	var start sandbox.Record
	ev := st.next(t)
	ev.decode(t, &start)
	if ev.Event != "start" || start.ID != rec.ID {
		t.Fatalf("first event %s: %s", ev.Event, ev.Data)
	}
	s.gaib(t, "events", "publish", "--guild", apiGuild, "--type", "member.join", "--data", `{"n":42}`).must(t)
	ev = st.next(t)
	var got client.Event
	ev.decode(t, &got)
	if ev.Event != "event" || got.Subject != sandbox.SandboxSubject(rec.ID, "events.member.join") || ev.ID != fmt.Sprint(got.Sequence) ||
		!strings.Contains(string(got.Data), `"n":42`) || !strings.Contains(string(got.Data), apiGuild) {
		t.Fatalf("routed event: %s %s", ev.Event, ev.Data)
	}
	alice.do(t, http.MethodDelete, "/v1/sandboxes/tail", nil).ok(t, 200, nil)
	ev = st.next(t)
	var end struct{ Reason string }
	ev.decode(t, &end)
	if ev.Event != "end" || end.Reason != "destroyed" {
		t.Fatalf("after destroy: %s %s", ev.Event, ev.Data)
	}
	st.ended(t)
	// A destroyed sandbox has no tail: a problem, not a stream.
	alice.do(t, http.MethodGet, "/v1/sandboxes/"+rec.ID+"/events", nil).problem(t, 409, sandbox.CodeWrongState)
}

// TestAPIWatchStream watches a sandbox's record over SSE through an extend and a destroy.
func TestAPIWatchStream(t *testing.T) {
	s := serveAPI(t, noPlanes...)
	s.developer(t, "alice")
	alice := s.as(s.token(t, "alice"))
	var rec sandbox.Record
	alice.do(t, http.MethodPost, "/v1/sandboxes", map[string]string{"name": "watched"}).ok(t, 201, &rec)
	alice.do(t, http.MethodGet, "/v1/sandboxes/nope/watch", nil).problem(t, 404, sandbox.CodeNotFound)

	st := alice.stream(t, "/v1/sandboxes/watched/watch")
	var cur sandbox.Record
	ev := st.next(t)
	ev.decode(t, &cur)
	if ev.Event != "record" || cur.ID != rec.ID || ev.ID != fmt.Sprint(cur.Revision) {
		t.Fatalf("first: %s %s", ev.Event, ev.Data)
	}
	var ext sandbox.Record
	alice.do(t, http.MethodPost, "/v1/sandboxes/watched/extend", map[string]string{"ttl": "1h"}).ok(t, 200, &ext)
	ev = st.next(t)
	ev.decode(t, &cur)
	if !cur.ExpiresAt.Equal(ext.ExpiresAt) || cur.Status != sandbox.StatusRunning {
		t.Fatalf("after extend: %s", ev.Data)
	}
	alice.do(t, http.MethodDelete, "/v1/sandboxes/watched", nil).ok(t, 200, nil)
	for cur.Status != sandbox.StatusDestroyed {
		ev = st.next(t)
		if ev.Event != "record" {
			t.Fatalf("event %s before the destroyed record: %s", ev.Event, ev.Data)
		}
		ev.decode(t, &cur)
	}
	if ev = st.next(t); ev.Event != "end" {
		t.Fatalf("after destroyed: %s %s", ev.Event, ev.Data)
	}
	st.ended(t)
}

// TestAPIInsecure checks --http-insecure: requests without a token act as the local admin,
// only for a loopback Host, and serve refuses it on any other address.
func TestAPIInsecure(t *testing.T) {
	s := serveAPI(t, append(noPlanes, "--http-insecure")...)
	var me sandbox.WhoAmIResponse
	s.as("").do(t, http.MethodGet, "/v1/whoami", nil).ok(t, 200, &me)
	if me.Name != s.adminName(t) || me.Role != sandbox.RoleAdmin {
		t.Fatalf("insecure whoami: %+v", me)
	}
	// A page that reached the port through DNS rebinding carries its own Host.
	req, _ := http.NewRequest(http.MethodGet, s.HTTP+"/v1/whoami", nil)
	req.Host = "evil.example:80"
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 403 {
		t.Fatalf("insecure mode answered Host evil.example with %d", resp.StatusCode)
	}
	// A token still acts as its identity.
	s.developer(t, "alice")
	s.as(s.token(t, "alice")).do(t, http.MethodGet, "/v1/whoami", nil).ok(t, 200, &me)
	if me.Name != "alice" {
		t.Fatalf("token in insecure mode acted as %s", me.Name)
	}

	r := runGaib(t, "", append([]string{"--json", "serve", "--data-dir", t.TempDir(), "--listen", "127.0.0.1:0", "--metrics-listen", "",
		"--admin-creds", filepath.Join(t.TempDir(), "admin.creds"), "--http", "0.0.0.0:0", "--http-insecure"}, noPlanes...)...)
	if r.Code != sandbox.ExitUsage || !strings.Contains(r.Stdout, "loopback") {
		t.Fatalf("serve --http 0.0.0.0:0 --http-insecure: exit %d %s %s", r.Code, r.Stdout, r.Stderr)
	}
}

// TestAPIDocumentedRoutesExist calls every operation of the served document without a
// token: each one exists (it asks for a token, or answers when public).
func TestAPIDocumentedRoutesExist(t *testing.T) {
	s := serveAPI(t, noPlanes...)
	var doc struct {
		OpenAPI string                               `json:"openapi"`
		Paths   map[string]map[string]map[string]any `json:"paths"`
	}
	r := s.as("").do(t, http.MethodGet, "/v1/openapi.json", nil)
	if err := json.Unmarshal(r.Body, &doc); err != nil || doc.OpenAPI != "3.1.0" {
		t.Fatalf("document: %v %s", err, r.Body[:min(200, len(r.Body))])
	}
	param := regexp.MustCompile(`\{[a-z_]+\}`)
	n := 0
	for path, ops := range doc.Paths {
		for method, op := range ops {
			n++
			url := param.ReplaceAllString(path, "x")
			r := s.as("").do(t, strings.ToUpper(method), url, nil)
			if _, secured := op["security"]; secured {
				r.problem(t, 401, sandbox.CodeUnauthenticated)
			} else if r.Status != 200 {
				t.Errorf("%s %s: %d %s", method, path, r.Status, r.Body)
			}
		}
	}
	if n < 25 {
		t.Fatalf("only %d operations", n)
	}
}

// TestAuditAfterPurge reads a sandbox's trail after its record is gone (past the
// retention): admins and its owner by id, nobody else.
func TestAuditAfterPurge(t *testing.T) {
	s := serveAPI(t, append(noPlanes, "--retention", "1s")...)
	aliceCreds := s.developer(t, "alice")
	bobCreds := s.developer(t, "bob")
	as := func(creds string, args ...string) result {
		return runGaib(t, "", append([]string{"--server", s.NATS, "--creds", creds}, args...)...)
	}
	rec := as(aliceCreds, "--json", "sandbox", "create", "short").must(t).record(t)
	as(aliceCreds, "sandbox", "destroy", "short", "--yes").must(t)
	eventually(t, "the destroyed record to be purged", func() bool {
		s.gaib(t, "cleanup", "run").must(t)
		return s.gaib(t, "--json", "sandbox", "status", rec.ID).Code == sandbox.ExitNotFound
	})
	var trail sandbox.AuditResponse
	decodeStrict(t, s.gaib(t, "--json", "sandbox", "audit", rec.ID).must(t).Stdout, &trail)
	checkTrail(t, trail, rec.ID, "alice", []string{"create", "destroy-started", "destroy"})
	decodeStrict(t, as(aliceCreds, "--json", "sandbox", "audit", rec.ID).must(t).Stdout, &trail)
	as(bobCreds, "--json", "sandbox", "audit", rec.ID).errorCodeIs(t, sandbox.CodeForbidden)
	s.gaib(t, "--json", "sandbox", "audit", "zzzzzzzzzz").errorCodeIs(t, sandbox.CodeNotFound)
	// The CLI's token commands: list and revoke.
	tok := s.token(t, "alice")
	id := strings.Split(tok, "_")[1]
	if out := s.gaib(t, "user", "token", "alice", "--list").must(t).Stdout; !strings.Contains(out, id) || strings.Contains(out, tok) {
		t.Fatalf("token list: %s", out)
	}
	s.gaib(t, "user", "token", "alice", "--revoke", id).must(t)
	s.as(tok).do(t, http.MethodGet, "/v1/whoami", nil).problem(t, 401, sandbox.CodeUnauthenticated)
}

// TestAPIPublishesTestEventsAndReconciles: what `gaib events publish` and `gaib cleanup
// reconcile` do, over HTTP, with the same rights: only admins (and the gateway) publish into
// the gateway — the API holds the mesh's credential, so it checks the role itself —, a
// developer publishes only into her own sandbox, and only admins reconcile. Every refusal
// stores nothing.
func TestAPIPublishesTestEventsAndReconciles(t *testing.T) {
	s := serveAPI(t, append([]string{"--data-dir", t.TempDir()}, noPlanes...)...)
	s.developer(t, "alice")
	s.developer(t, "bob")
	alice, bob, admin := s.as(s.token(t, "alice")), s.as(s.token(t, "bob")), s.as(s.token(t, s.adminName(t)))
	admin.do(t, http.MethodPut, "/v1/guilds/"+apiGuild, map[string]string{"owner": "alice"}).ok(t, 200, nil)
	var rec sandbox.Record
	alice.do(t, http.MethodPost, "/v1/sandboxes", map[string]any{"name": "pub", "guilds": []string{apiGuild}}).ok(t, 201, &rec)

	// The admin, as the gateway: routed to alice's sandbox, and said so.
	var pub client.Published
	admin.do(t, http.MethodPost, "/v1/events", map[string]any{"guild": apiGuild, "type": "member.join", "count": 3}).ok(t, 200, &pub)
	if pub.Count != 3 || pub.Subject != "gateway.events.member.join" || pub.Route == nil || pub.Route.SandboxID != rec.ID {
		t.Fatalf("gateway publish: %+v", pub)
	}
	// A developer may not, nor with a forged type or a bad body.
	alice.do(t, http.MethodPost, "/v1/events", map[string]any{"guild": apiGuild}).problem(t, 403, sandbox.CodeForbidden)
	admin.do(t, http.MethodPost, "/v1/events", map[string]any{"type": "member.>"}).problem(t, 400, sandbox.CodeInvalidRequest)
	admin.do(t, http.MethodPost, "/v1/events", map[string]any{"data": "[1]"}).problem(t, 400, sandbox.CodeInvalidRequest)
	admin.do(t, http.MethodPost, "/v1/events", map[string]any{"count": 2000000}).problem(t, 400, sandbox.CodeInvalidRequest)
	admin.do(t, http.MethodPost, "/v1/events", map[string]any{"guild": "12"}).problem(t, 400, sandbox.CodeInvalidGuild)
	// Into her own sandbox, with its credential; not into another's.
	alice.do(t, http.MethodPost, "/v1/sandboxes/pub/events", map[string]any{"type": "message.create", "data": map[string]string{"content": "hi"}}).ok(t, 200, &pub)
	if pub.Subject != sandbox.SandboxSubject(rec.ID, "events.message.create") || pub.LastSequence == 0 {
		t.Fatalf("sandbox publish: %+v", pub)
	}
	bob.do(t, http.MethodPost, "/v1/sandboxes/pub/events", map[string]any{}).problem(t, 403, sandbox.CodeForbidden)
	// The sandbox's stream holds the 3 routed events and its own, in order; the gateway saw
	// only the admin's 3.
	var events []client.Event
	for _, line := range strings.Split(strings.TrimSpace(s.gaib(t, "-o", "json", "sandbox", "events", "pub", "--all", "--count", "4").must(t).Stdout), "\n") {
		var ev client.Event
		decodeStrict(t, line, &ev)
		events = append(events, ev)
	}
	if len(events) != 4 || events[3].Subject != sandbox.SandboxSubject(rec.ID, "events.message.create") {
		t.Fatalf("the sandbox's events: %+v", events)
	}
	var stats []router.Stats
	decodeStrict(t, s.gaib(t, "-o", "json", "router", "stats").must(t).Stdout, &stats)
	if len(stats) != 1 || stats[0].EventsIn != 3 || stats[0].ToSandbox != 3 {
		t.Fatalf("router stats after the publishes: %+v", stats)
	}

	var rep services.ReconcileReport
	admin.do(t, http.MethodPost, "/v1/cleanup/reconcile", nil).ok(t, 200, &rep)
	if len(rep.Failed) != 0 {
		t.Fatalf("reconcile: %+v", rep)
	}
	alice.do(t, http.MethodPost, "/v1/cleanup/reconcile", nil).problem(t, 403, sandbox.CodeForbidden)
}
