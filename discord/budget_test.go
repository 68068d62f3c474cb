package discord_test

import (
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/arrakis/gaib/discord"
)

func TestSandboxBudgetHoldsWhileProductionPasses(t *testing.T) {
	e := newEnv(t, func(c *discord.Config) { c.SandboxRPS = 5 })
	path := "/api/v10/guilds/" + g1 + "/roles"
	passed, limited := 0, 0
	for range 20 {
		r := e.do("GET", path, e.token(alphaID), "")
		switch r.Status {
		case 200:
			passed++
		case http.StatusTooManyRequests:
			limited++
			if _, _, gaib, retry := r.json(); gaib != "discord_rate_limited" || retry <= 0 || r.Header.Get("Retry-After") == "" {
				t.Fatalf("local 429 is not Discord-shaped: %v %s", r.Header, r.Body)
			}
		default:
			t.Fatalf("%d %s", r.Status, r.Body)
		}
	}
	if passed != 5 || limited != 15 || e.fake.count() != 5 {
		t.Fatalf("sandbox at 5 req/s sent 20 at once: %d passed, %d limited, Discord saw %d", passed, limited, e.fake.count())
	}
	for i := range 20 {
		if r := e.do("GET", "/api/v10/guilds/"+g2+"/roles", realToken, ""); r.Status != 200 {
			t.Fatalf("production request %d while the sandbox is limited: %d %s", i, r.Status, r.Body)
		}
	}
	e.clock.Advance(time.Second)
	if r := e.do("GET", path, e.token(alphaID), ""); r.Status != 200 {
		t.Fatalf("after a second the sandbox's budget is back: %d", r.Status)
	}
	u := e.proxy.Usage(alphaID)
	if u.Requests["forwarded"] != 6 || u.Requests["rate_limited"] != 15 || u.RPS != 5 {
		t.Fatalf("usage %+v", u)
	}
	if v := metric(t, e, "gaib_discord_requests_total", "caller", alphaID, "outcome", "rate_limited"); v != 15 {
		t.Fatalf("metric rate_limited = %v", v)
	}
}

// metric reads one series from the proxy's registry.
func metric(t *testing.T, e *env, name string, labels ...string) float64 {
	t.Helper()
	mfs, err := e.registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	metrics:
		for _, m := range mf.GetMetric() {
			got := map[string]string{}
			for _, l := range m.GetLabel() {
				got[l.GetName()] = l.GetValue()
			}
			for i := 0; i+1 < len(labels); i += 2 {
				if got[labels[i]] != labels[i+1] {
					continue metrics
				}
			}
			return m.GetCounter().GetValue() + m.GetGauge().GetValue()
		}
	}
	t.Fatalf("no series %s%v", name, labels)
	return 0
}

func TestSandboxesTogetherLeaveProductionItsShare(t *testing.T) {
	e := newEnv(t, func(c *discord.Config) { c.GlobalRPS, c.SandboxesRPS, c.SandboxRPS, c.MaxWait = 10, 4, 5, -1 })
	e.addSandbox(betaID, "beta", true, g9)
	passed := 0
	for _, s := range []struct{ id, guild string }{{alphaID, g1}, {betaID, g9}} {
		for range 5 {
			if r := e.do("GET", "/api/v10/guilds/"+s.guild+"/roles", e.token(s.id), ""); r.Status == 200 {
				passed++
			}
		}
	}
	if passed != 4 {
		t.Fatalf("two sandboxes of 5 req/s under a cap of 4: %d passed", passed)
	}
	for i := range 6 {
		if r := e.do("GET", "/api/v10/guilds/"+g2+"/roles", realToken, ""); r.Status != 200 {
			t.Fatalf("production request %d: %d %s", i, r.Status, r.Body)
		}
	}
	if r := e.do("GET", "/api/v10/guilds/"+g2+"/roles", realToken, ""); r.Status != http.StatusTooManyRequests {
		t.Fatalf("the global limit of 10 held nothing back: %d", r.Status)
	}
}

func TestInvalidRequestBreaker(t *testing.T) {
	e := newEnv(t, func(c *discord.Config) { generous(c); c.InvalidLimit, c.InvalidWindow = 3, 10*time.Minute })
	e.fake.setRespond(func(r *http.Request, _ []byte) (int, http.Header, string, bool) {
		if strings.HasSuffix(r.URL.Path, "/bans") {
			return 403, nil, `{"message":"Missing Permissions","code":50013}`, true
		}
		if strings.HasSuffix(r.URL.Path, "/emojis") {
			return 429, http.Header{"X-RateLimit-Scope": {"shared"}}, `{"message":"limited","retry_after":0.001,"global":false}`, true
		}
		return 0, nil, "", false
	})
	tok := e.token(alphaID)
	// 429s of a shared resource are not the sandbox's fault, and Discord does not count them.
	for range 5 {
		e.do("GET", "/api/v10/guilds/"+g1+"/emojis", tok, "")
		e.clock.Advance(10 * time.Millisecond)
	}
	for i := range 3 {
		if r := e.do("GET", "/api/v10/guilds/"+g1+"/bans", tok, ""); r.Status != http.StatusForbidden {
			t.Fatalf("invalid request %d: %d", i, r.Status)
		}
	}
	seen := e.fake.count()
	r := e.do("GET", "/api/v10/guilds/"+g1+"/roles", tok, "")
	if msg, _, _, retry := r.json(); r.Status != http.StatusTooManyRequests || !strings.Contains(msg, "3 invalid requests") || retry < 590 {
		t.Fatalf("after 3 invalid requests: %d %s", r.Status, r.Body)
	}
	if e.fake.count() != seen {
		t.Fatal("a request of a sandbox whose breaker is open reached Discord")
	}
	if r := e.do("GET", "/api/v10/guilds/"+g2+"/bans", realToken, ""); r.Status != http.StatusForbidden || e.fake.count() != seen+1 {
		t.Fatalf("production is not behind the sandbox's breaker: %d", r.Status)
	}
	u := e.proxy.Usage(alphaID)
	if u.Invalid != 3 || u.InvalidInWindow != 3 || u.BreakerOpenUntil == nil || u.Requests["breaker_open"] != 1 {
		t.Fatalf("usage %+v", u)
	}
	if v := metric(t, e, "gaib_discord_breaker_open", "caller", alphaID); v != 1 {
		t.Fatalf("breaker gauge = %v", v)
	}
	e.clock.Advance(10 * time.Minute)
	if r := e.do("GET", "/api/v10/guilds/"+g1+"/roles", tok, ""); r.Status != 200 {
		t.Fatalf("after the window: %d %s", r.Status, r.Body)
	}
}

func TestA429PausesTheBucketForEveryone(t *testing.T) {
	e := newEnv(t, func(c *discord.Config) { generous(c); c.MaxWait = -1 })
	limited := "/v10/guilds/" + g1 + "/roles"
	var answered atomic.Bool
	e.fake.setRespond(func(r *http.Request, _ []byte) (int, http.Header, string, bool) {
		if r.URL.Path == limited && answered.CompareAndSwap(false, true) {
			return 429, http.Header{"Retry-After": {"2"}, "X-RateLimit-Remaining": {"0"}, "X-RateLimit-Reset-After": {"2"}},
				`{"message":"You are being rate limited.","retry_after":2.0,"global":false}`, true
		}
		return 0, nil, "", false
	})
	if r := e.do("GET", "/api/v10/guilds/"+g1+"/roles", e.token(alphaID), ""); r.Status != 429 {
		t.Fatalf("first request: %d", r.Status)
	}
	// Production's request of the same bucket waits out the pause too, locally.
	r := e.do("GET", "/api/v10/guilds/"+g1+"/roles", realToken, "")
	if _, _, _, retry := r.json(); r.Status != 429 || retry < 1.9 || e.fake.countPath("GET", limited) != 1 {
		t.Fatalf("production in the paused bucket: %d %s, Discord saw %d", r.Status, r.Body, e.fake.countPath("GET", limited))
	}
	// Other buckets (another guild: another major parameter) are not paused.
	if r := e.do("GET", "/api/v10/guilds/"+g2+"/roles", realToken, ""); r.Status != 200 {
		t.Fatalf("another guild: %d", r.Status)
	}
	e.clock.Advance(2 * time.Second)
	if r := e.do("GET", "/api/v10/guilds/"+g1+"/roles", realToken, ""); r.Status != 200 {
		t.Fatalf("after retry_after: %d %s", r.Status, r.Body)
	}
}

func TestAGlobal429PausesEverythingButInteractions(t *testing.T) {
	e := newEnv(t, func(c *discord.Config) { generous(c); c.MaxWait = 5 * time.Second })
	var answered atomic.Bool
	e.fake.setRespond(func(r *http.Request, _ []byte) (int, http.Header, string, bool) {
		if answered.CompareAndSwap(false, true) {
			return 429, http.Header{"X-RateLimit-Global": {"true"}, "X-RateLimit-Scope": {"global"}, "Retry-After": {"1"}},
				`{"message":"You are being rate limited.","retry_after":1.5,"global":true}`, true
		}
		return 0, nil, "", false
	})
	e.do("GET", "/api/v10/guilds/"+g1+"/roles", e.token(alphaID), "")
	// An interaction callback is not bound by the global limit.
	ix := e.route(alphaID, false, 2)
	if r := e.do("POST", callbackPath(ix), "", `{"type":4,"data":{"content":"x"}}`); r.Status != 200 {
		t.Fatalf("callback during a global pause: %d %s", r.Status, r.Body)
	}
	// Anything else waits (MaxWait 5s) until the pause is over.
	done := make(chan reply, 1)
	go func() { done <- e.do("GET", "/api/v10/guilds/"+g2+"/channels", realToken, "") }()
	eventually(t, "production waiting", func() bool { return e.clock.Pending() > 0 })
	select {
	case r := <-done:
		t.Fatalf("production did not wait for the global pause: %d", r.Status)
	case <-time.After(50 * time.Millisecond):
	}
	if e.fake.countPath("GET", "/v10/guilds/"+g2+"/channels") != 0 {
		t.Fatal("a request went out during the global pause")
	}
	e.clock.Advance(1500 * time.Millisecond)
	if r := <-done; r.Status != 200 {
		t.Fatalf("after the pause: %d %s", r.Status, r.Body)
	}
}
