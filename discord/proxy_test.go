package discord_test

import (
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/arrakis/gaib/discord"
	"github.com/arrakis/gaib/sandbox"
)

// generous gives the sandbox a budget no policy test reaches.
func generous(c *discord.Config) { c.SandboxRPS, c.SandboxesRPS, c.GlobalRPS = 1000, 1000, 2000 }

// observeGuild feeds the proxy a raw GUILD_CREATE of guild with channels.
func observeGuild(p *discord.Proxy, guild string, channels ...string) {
	var cs []string
	for _, c := range channels {
		cs = append(cs, `{"id":"`+c+`","type":0}`)
	}
	p.Observe("gateway.events.guild.create",
		[]byte(`{"t":"GUILD_CREATE","s":1,"op":0,"d":{"id":"`+guild+`","name":"g","channels":[`+strings.Join(cs, ",")+`],"threads":[]}}`))
}

func TestAllowedRoutesForwardWithTheRealToken(t *testing.T) {
	e := newEnv(t, generous)
	observeGuild(e.proxy, g1, c1)
	tok := e.token(alphaID)
	for _, tc := range []struct{ method, path, body, upstream string }{
		{"GET", "/api/v10/guilds/" + g1 + "/roles", "", "/v10/guilds/" + g1 + "/roles"},
		{"PUT", "/api/v10/guilds/" + g1 + "/members/412345678901234567/roles/512345678901234567", "", "/v10/guilds/" + g1 + "/members/412345678901234567/roles/512345678901234567"},
		{"PUT", "/api/v10/applications/" + appID + "/guilds/" + g1 + "/commands", `[{"name":"ping"}]`, "/v10/applications/" + appID + "/guilds/" + g1 + "/commands"},
		{"POST", "/api/v10/channels/" + c1 + "/messages", `{"content":"hi"}`, "/v10/channels/" + c1 + "/messages"},
		{"PUT", "/api/v10/channels/" + c1 + "/messages/612345678901234567/reactions/%F0%9F%91%8D/@me", "", "/v10/channels/" + c1 + "/messages/612345678901234567/reactions/%F0%9F%91%8D/@me"},
		{"GET", "/api/v10/users/@me", "", "/v10/users/@me"},
		{"GET", "/api/v10/gateway", "", "/v10/gateway"},
		{"GET", "/api/v10/gateway/bot", "", "/v10/gateway/bot"},
	} {
		before := e.fake.count()
		r := e.do(tc.method, tc.path, tok, tc.body,
			"Cookie", "session=1", "X-Forwarded-For", "10.0.0.1", "Proxy-Authorization", "Basic eA==", "X-Custom", "1",
			"User-Agent", "DiscordBot (test, 1)", "X-Audit-Log-Reason", "testing")
		if r.Status != http.StatusOK {
			t.Fatalf("%s %s: %d %s", tc.method, tc.path, r.Status, r.Body)
		}
		got := e.fake.requests()
		if len(got) != before+1 {
			t.Fatalf("%s %s: fake saw %d requests, want 1", tc.method, tc.path, len(got)-before)
		}
		s := got[len(got)-1]
		if s.Method != tc.method || s.Path != tc.upstream || s.Auth != "Bot "+realToken || s.Body != tc.body {
			t.Errorf("%s %s reached Discord as %s %s auth=%q body=%q", tc.method, tc.path, s.Method, s.Path, s.Auth, s.Body)
		}
		for _, h := range []string{"Cookie", "X-Forwarded-For", "Proxy-Authorization", "X-Custom"} {
			if s.Header.Get(h) != "" {
				t.Errorf("%s %s: header %s passed to Discord", tc.method, tc.path, h)
			}
		}
		if s.Header.Get("User-Agent") != "DiscordBot (test, 1)" || s.Header.Get("X-Audit-Log-Reason") != "testing" {
			t.Errorf("%s %s: User-Agent/X-Audit-Log-Reason not passed: %v", tc.method, tc.path, s.Header)
		}
		if r.Header.Get("Set-Cookie") != "" || r.Header.Get("X-RateLimit-Bucket") == "" {
			t.Errorf("%s %s: answer headers %v (want rate-limit headers, no cookies)", tc.method, tc.path, r.Header)
		}
	}
	// The query is passed on, re-encoded.
	if r := e.do("GET", "/api/v10/guilds/"+g1+"/members?limit=10&after=0", tok, ""); r.Status != 200 {
		t.Fatal(r.Status, r.Body)
	}
	if last := e.fake.requests()[e.fake.count()-1]; last.Query != "after=0&limit=10" {
		t.Errorf("query reached Discord as %q", last.Query)
	}
	// Production (the real token) may do what the bot may, global routes included.
	if r := e.do("PUT", "/api/v10/applications/"+appID+"/commands", realToken, `[]`); r.Status != 200 {
		t.Fatalf("production's global commands: %d %s", r.Status, r.Body)
	}
	if last := e.fake.requests()[e.fake.count()-1]; last.Auth != "Bot "+realToken || last.Path != "/v10/applications/"+appID+"/commands" {
		t.Errorf("production request reached Discord as %+v", last)
	}
}

func TestRoutesThatDoNotConcernTheSandboxNeverReachDiscord(t *testing.T) {
	e := newEnv(t, generous)
	e.addSandbox(betaID, "beta", true, g9)
	observeGuild(e.proxy, g1, c1)
	observeGuild(e.proxy, g2, c2) // production's guild: its channels are known, not the sandbox's
	tok := e.token(alphaID)
	for _, tc := range []struct{ method, path, body, reason string }{
		{"GET", "/api/v10/guilds/" + g2 + "/roles", "", "guild " + g2 + " is not registered"},
		{"DELETE", "/api/v10/guilds/" + g9, "", "is not registered"},
		{"PUT", "/api/v10/guilds/" + g2 + "/members/412345678901234567/roles/512345678901234567", "", "is not registered"},
		{"POST", "/api/v10/channels/" + c2 + "/messages", `{"content":"hi"}`, "channel " + c2 + " is not in a guild registered"},
		{"GET", "/api/v10/channels/" + c2, "", "is not in a guild registered"},
		{"PUT", "/api/v10/applications/" + appID + "/commands", `[]`, "global command registration"},
		{"POST", "/api/v10/applications/" + appID + "/commands", `{"name":"x"}`, "global command registration"},
		{"PUT", "/api/v10/applications/" + appID + "/guilds/" + g2 + "/commands", `[]`, "is not registered"},
		{"PUT", "/api/v10/applications/999999999999999998/guilds/" + g1 + "/commands", `[]`, "not this bot's application"},
		{"POST", "/api/v10/users/@me/channels", `{"recipient_id":"412345678901234567"}`, "opening DMs"},
		{"PATCH", "/api/v10/users/@me", `{"username":"pwned"}`, "not allowed for a sandbox"},
		{"DELETE", "/api/v10/users/@me/guilds/" + g1, "", "not allowed for a sandbox"},
		{"GET", "/api/v10/users/412345678901234567", "", "not allowed for a sandbox"},
		{"POST", "/api/v10/guilds", `{"name":"x"}`, "not allowed for a sandbox"},
		{"GET", "/api/v10/invites/abcdef", "", "not allowed for a sandbox"},
		{"POST", "/api/v10/stage-instances", `{"channel_id":"` + c2 + `"}`, "not allowed for a sandbox"},
		{"POST", "/api/v10/webhooks/712345678901234567/aRegularWebhookTokenThatIsLong", `{"content":"x"}`, "not routed to this sandbox"},
		{"POST", "/api/v10/interactions/712345678901234567/aW50ZXJhY3Rpb24tbm90LW91cnM/callback", `{"type":4}`, "not routed to this sandbox"},
		{"POST", "/api/v10/channels/" + c1 + "/messages", `{"content":"x","message_reference":{"type":1,"channel_id":"` + c2 + `","message_id":"812345678901234567"}}`, "is not in a guild registered"},
		{"POST", "/api/v10/channels/" + c1 + "/messages", `{"message_reference":{"channel_id":"` + c1 + `","message_id":"812345678901234567"},"message_reference":{"channel_id":"` + c2 + `"}}`, "duplicate key"},
		{"POST", "/api/v10/channels/" + c1 + "/messages", `{"content":"x","message_reference":{"channel_id":"` + c1 + `","guild_id":"` + g2 + `"}}`, "references guild " + g2},
		{"POST", "/api/v10/channels/" + c1 + "/followers", `{"webhook_channel_id":"` + c2 + `"}`, "is not in a guild registered"},
	} {
		r := e.do(tc.method, tc.path, tok, tc.body)
		msg, code, gaib, _ := r.json()
		if r.Status != http.StatusForbidden || !strings.Contains(msg, tc.reason) || code == 0 || gaib == "" {
			t.Errorf("%s %s: %d %s; want 403 naming %q", tc.method, tc.path, r.Status, r.Body, tc.reason)
		}
	}
	// Another sandbox's guild with the other sandbox's token is fine; with ours it is not.
	if r := e.do("GET", "/api/v10/guilds/"+g9+"/roles", e.token(betaID), ""); r.Status != 200 {
		t.Fatalf("beta on its own guild: %d %s", r.Status, r.Body)
	}
	for _, s := range e.fake.requests() {
		if s.Path != "/v10/guilds/"+g9+"/roles" {
			t.Errorf("a refused request reached Discord: %s %s", s.Method, s.Path)
		}
	}
}

// A message forwarded (message_reference) from a foreign channel inside a multipart upload
// is refused too; a reply in the same channel passes.
func TestMessageReferencesInMultipartBodies(t *testing.T) {
	e := newEnv(t, generous)
	observeGuild(e.proxy, g1, c1)
	observeGuild(e.proxy, g2, c2)
	multipart := func(payload string) string {
		return "--XyZ\r\nContent-Disposition: form-data; name=\"files[0]\"; filename=\"a.txt\"\r\nContent-Type: text/plain\r\n\r\nhello\r\n" +
			"--XyZ\r\nContent-Disposition: form-data; name=\"payload_json\"\r\nContent-Type: application/json\r\n\r\n" + payload + "\r\n--XyZ--\r\n"
	}
	path := "/api/v10/channels/" + c1 + "/messages"
	foreign := multipart(`{"content":"x","message_reference":{"type":1,"channel_id":"` + c2 + `","message_id":"812345678901234567"}}`)
	r := e.do("POST", path, e.token(alphaID), foreign, "Content-Type", "multipart/form-data; boundary=XyZ")
	if r.Status != http.StatusForbidden {
		t.Fatalf("multipart forward from a foreign channel: %d %s", r.Status, r.Body)
	}
	if n := e.fake.count(); n != 0 {
		t.Fatalf("Discord saw %d requests", n)
	}
	own := multipart(`{"content":"x","message_reference":{"channel_id":"` + c1 + `","message_id":"812345678901234567"}}`)
	r = e.do("POST", path, e.token(alphaID), own, "Content-Type", "multipart/form-data; boundary=XyZ")
	if r.Status != 200 {
		t.Fatalf("multipart reply in the same channel: %d %s", r.Status, r.Body)
	}
	if got := e.fake.requests(); len(got) != 1 || got[0].Body != own {
		t.Fatalf("Discord got %+v", got)
	}
}

func TestPathTricksAreRefusedLocally(t *testing.T) {
	e := newEnv(t, generous)
	tok := e.token(alphaID)
	auth := "Authorization: Bot " + tok + "\r\n"
	for _, target := range []string{
		"/api/v10/guilds/" + g1 + "/../../users/@me/channels",
		"/api/v10/guilds/" + g1 + "/../" + g2 + "/roles",
		"/api/v10/guilds/" + g1 + "/%2e%2e/" + g2 + "/roles",
		"/api/v10/guilds/" + g1 + "/%2E%2E/%2E%2E/users/@me/channels",
		"/api/v10/guilds/" + g1 + "/.%2e/" + g2,
		"/api/v10/guilds/" + g1 + "/./roles",
		"/api/v10/guilds/" + g1 + "%2F..%2F" + g2 + "/roles",
		"/api/v10/guilds/" + g1 + "/%252e%252e/" + g2,
		"/api/v10//guilds/" + g1 + "/roles",
		"/api/v10/guilds/" + g1 + "//roles",
		"/api/v10/guilds/" + g1 + "/roles/",
		"/api/v10/guilds/" + g1 + ";/roles",
		"/api/v10/guilds/" + g1 + "/roles%3Fx=/../../../users/@me/channels",
		"/api/v10/guilds/" + g1 + "/roles%23frag",
		"/api/v10/guilds/" + g1 + "/roles%00",
		"/api/v10/guilds/" + g1 + "/roles?a=1;b=2",
		"/api/v10/guilds/" + g1 + "/roles?a=%zz",
		"/api/v10/guilds/" + g1 + "/roles?../../users=1",
		"/api/v10/guilds/" + g1 + "\\..\\" + g2,
		"/api/v9/guilds/" + g1 + "/roles",
		"/api/guilds/" + g1 + "/roles",
		"/api/v10",
		"/API/v10/guilds/" + g1 + "/roles",
		"/guilds/" + g1 + "/roles",
		"http://discord.com/api/v10/guilds/" + g1 + "/roles",
		"//discord.com/api/v10/guilds/" + g1 + "/roles",
		"*",
	} {
		r := e.raw("GET " + target + " HTTP/1.1\r\nHost: proxy\r\n" + auth + "Connection: close\r\n\r\n")
		if _, code, gaib, _ := r.json(); r.Status != http.StatusForbidden || code == 0 || gaib != "invalid_request" {
			t.Errorf("GET %s: %d %s, want a Discord-shaped 403", target, r.Status, r.Body)
		}
	}
	for _, m := range []string{"OPTIONS", "HEAD", "TRACE", "PROPFIND"} {
		r := e.raw(m + " /api/v10/guilds/" + g1 + "/roles HTTP/1.1\r\nHost: proxy\r\n" + auth + "Connection: close\r\n\r\n")
		if r.Status == http.StatusOK {
			t.Errorf("%s was forwarded", m)
		}
	}
	for _, h := range []string{"X-HTTP-Method-Override: DELETE", "X-HTTP-Method: DELETE", "X-Method-Override: DELETE"} {
		r := e.raw("GET /api/v10/guilds/" + g1 + "/roles HTTP/1.1\r\nHost: proxy\r\n" + auth + h + "\r\nConnection: close\r\n\r\n")
		if r.Status != http.StatusForbidden {
			t.Errorf("%s: %d", h, r.Status)
		}
	}
	// Two Authorization headers, or a Bearer one, are not a sandbox's.
	for _, h := range []string{auth + "Authorization: Bot " + realToken + "\r\n", "Authorization: Bearer " + tok + "\r\n", "Authorization: Bot " + tok + "x\r\n"} {
		r := e.raw("GET /api/v10/guilds/" + g1 + "/roles HTTP/1.1\r\nHost: proxy\r\n" + h + "Connection: close\r\n\r\n")
		if r.Status != http.StatusForbidden && r.Status != http.StatusUnauthorized {
			t.Errorf("%q: %d", h, r.Status)
		}
	}
	if n := e.fake.count(); n != 0 {
		t.Fatalf("Discord saw %d requests: %+v", n, e.fake.requests())
	}
	// The Host header chooses nothing: an allowed request still goes to the configured
	// upstream, whatever Host says.
	r := e.raw("GET /api/v10/guilds/" + g1 + "/roles HTTP/1.1\r\nHost: evil.example\r\nX-Forwarded-Host: evil.example\r\n" + auth + "Connection: close\r\n\r\n")
	if r.Status != 200 || e.fake.count() != 1 || e.fake.requests()[0].Header.Get("X-Forwarded-Host") != "" {
		t.Fatalf("allowed request with another Host: %d, fake saw %+v", r.Status, e.fake.requests())
	}
}

func TestTokensAndSandboxState(t *testing.T) {
	e := newEnv(t, generous)
	e.addSandbox(betaID, "beta", false, g9)
	path := "/api/v10/guilds/" + g1 + "/roles"
	other := sandbox.Secret("another-secret").DiscordToken(alphaID)
	forged := betaID + "." + strings.SplitN(e.token(alphaID), ".", 2)[1] // alpha's mac on beta's id
	for _, tc := range []struct {
		name, token string
		status      int
	}{
		{"no token", "", 401},
		{"the token of another secret", other, 401},
		{"alpha's mac with beta's id", forged, 401},
		{"a destroyed sandbox", e.token("gone000003"), 401},
		{"a sandbox that is not running", e.token(betaID), 403},
		{"garbage", "x", 401},
	} {
		if r := e.do("GET", path, tc.token, ""); r.Status != tc.status {
			t.Errorf("%s: %d %s, want %d", tc.name, r.Status, r.Body, tc.status)
		}
	}
	if r := e.do("POST", "/api/v10/channels/"+c1+"/messages", e.token(alphaID), strings.Repeat("x", 100), "Content-Length", "100"); r.Status == 200 {
		t.Fatal("unknown channel passed")
	}
	if n := e.fake.countPath("POST", "/v10/channels/"+c1+"/messages"); n != 0 {
		t.Fatalf("Discord saw %d refused requests", n)
	}
	env := e.proxy.Env(alphaID)
	if len(env) != 2 || env[0].Value != "http://proxy.test:8090/api/v10" || env[1].Value != e.token(alphaID) || strings.Contains(env[1].Value, realToken) {
		t.Fatalf("Env = %+v", env)
	}
}

func TestBodyLimit(t *testing.T) {
	e := newEnv(t, func(c *discord.Config) { generous(c); c.MaxBody = 1000 })
	observeGuild(e.proxy, g1, c1)
	r := e.do("POST", "/api/v10/channels/"+c1+"/messages", e.token(alphaID), `{"content":"`+strings.Repeat("x", 2000)+`"}`)
	if _, code, _, _ := r.json(); r.Status != http.StatusRequestEntityTooLarge || code != 40005 {
		t.Fatalf("oversized body: %d %s", r.Status, r.Body)
	}
	if e.fake.count() != 0 {
		t.Fatal("oversized body reached Discord")
	}
}

// A chunked body (no Content-Length) is cut at the limit too.
func TestChunkedBodyLimit(t *testing.T) {
	e := newEnv(t, func(c *discord.Config) { generous(c); c.MaxBody = 1000 })
	req, _ := http.NewRequest("PATCH", e.srv.URL+"/api/v10/guilds/"+g1, io.MultiReader(strings.NewReader(strings.Repeat("x", 5000))))
	req.Header.Set("Authorization", "Bot "+e.token(alphaID))
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestEntityTooLarge {
		t.Fatalf("chunked oversized body: %d", resp.StatusCode)
	}
	for _, s := range e.fake.requests() {
		if len(s.Body) > 1000 {
			t.Fatalf("Discord received %d bytes", len(s.Body))
		}
	}
}
