package discord_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/arrakis/gaib/discord"
)

// guardCallbacks returns the bodies of the callbacks Discord received for ix.
func guardCallbacks(e *env, ix interaction) []string {
	var out []string
	for _, s := range e.fake.requests() {
		if s.Method == "POST" && s.Path == upstreamCallback(ix) {
			out = append(out, s.Body)
		}
	}
	return out
}

func isGuardAnswer(t *testing.T, body, name string) bool {
	t.Helper()
	var v struct {
		Type int `json:"type"`
		Data struct {
			Content string `json:"content"`
			Flags   int    `json:"flags"`
		} `json:"data"`
	}
	if err := json.Unmarshal([]byte(body), &v); err != nil {
		t.Fatalf("callback body %q: %v", body, err)
	}
	return v.Type == 4 && v.Data.Flags == 64 &&
		v.Data.Content == fmt.Sprintf("sandbox `%s` did not answer in time — is its worker running?", name)
}

func TestTheGuardAnswersAnUnansweredInteractionOnce(t *testing.T) {
	e := newEnv(t, nil)
	second, _ := e.start(e.ctx) // another instance: it observes the interaction too
	ix := e.route(alphaID, false, 2)
	eventually(t, "both instances armed", func() bool { return e.clock.Pending() >= 2 })
	e.clock.Advance(2400 * time.Millisecond)
	e.clock.Settle()
	if n := len(guardCallbacks(e, ix)); n != 0 {
		t.Fatalf("the guard answered %d times before the deadline", n)
	}
	e.clock.Advance(100 * time.Millisecond)
	e.clock.Settle()
	got := guardCallbacks(e, ix)
	if len(got) != 1 || !isGuardAnswer(t, got[0], "alpha") {
		t.Fatalf("guard callbacks: %q", got)
	}
	for _, s := range e.fake.requests() {
		if s.Path == upstreamCallback(ix) && s.Auth != "" {
			t.Fatal("the guard sent the bot token with the callback")
		}
	}
	// The worker's late callback is refused as Discord would, and never sent.
	r := e.do("POST", callbackPath(ix), "", `{"type":4,"data":{"content":"late"}}`)
	if _, code, _, _ := r.json(); r.Status != http.StatusBadRequest || code != 40060 {
		t.Fatalf("late callback: %d %s", r.Status, r.Body)
	}
	e.clock.Advance(time.Minute)
	e.clock.Settle()
	if n := len(guardCallbacks(e, ix)); n != 1 {
		t.Fatalf("Discord got %d callbacks", n)
	}
	sent := e.proxy.Usage(alphaID).Guard["sent"] + second.Usage(alphaID).Guard["sent"]
	if sent != 1 {
		t.Fatalf("guard counted %d answers", sent)
	}
	if ix := e.proxy.Usage(alphaID).Interactions + second.Usage(alphaID).Interactions; ix != 1 {
		t.Fatalf("interactions counted %d times", ix)
	}
}

func TestTheGuardNeverAnswersAnAnsweredInteraction(t *testing.T) {
	e := newEnv(t, nil)
	for _, typ := range []int{2, 3, 5} {
		ix := e.route(alphaID, true, typ)
		e.clock.Advance(time.Second)
		if r := e.do("POST", callbackPath(ix), e.token(alphaID), `{"type":5}`); r.Status != 200 {
			t.Fatalf("worker's callback: %d %s", r.Status, r.Body)
		}
		e.clock.Advance(5 * time.Second)
		e.clock.Settle()
		if got := guardCallbacks(e, ix); len(got) != 1 || got[0] != `{"type":5}` {
			t.Fatalf("type %d: callbacks %q", typ, got)
		}
	}
	// Autocomplete needs a type 8 answer the guard cannot give: it leaves it alone.
	ac := e.route(alphaID, false, 4)
	e.clock.Advance(5 * time.Second)
	e.clock.Settle()
	if got := guardCallbacks(e, ac); len(got) != 0 {
		t.Fatalf("guard answered an autocomplete: %q", got)
	}
	if u := e.proxy.Usage(alphaID); u.Guard["sent"] != 0 {
		t.Fatalf("usage %+v", u)
	}
}

// The worker's callback and the deadline race, on two instances: every interaction is
// answered exactly once, by whichever won, and the loser is told so.
func TestGuardAndWorkerRace(t *testing.T) {
	e := newEnv(t, func(c *discord.Config) { generous(c); c.Deadline = time.Second })
	second, _ := e.start(e.ctx)
	secondSrv := newServer(t, second)
	const n = 10 // the interactions a sandbox may have recorded at once
	ixs := make([]interaction, n)
	for i := range ixs {
		ixs[i] = e.route(alphaID, i%2 == 0, 2)
	}
	eventually(t, "guards armed", func() bool { return e.clock.Pending() >= 2*n })
	statuses := make([]int, n)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i, ix := range ixs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			// Spread the callbacks around the moment the deadline falls.
			time.Sleep(time.Duration(i) * 300 * time.Microsecond)
			base := e.srv.URL
			if i%2 == 1 {
				base = secondSrv
			}
			statuses[i] = e.doURL(base, "POST", callbackPath(ix), "", `{"type":4,"data":{"content":"worker"}}`).Status
		}()
	}
	close(start)
	time.Sleep(time.Duration(n) * 150 * time.Microsecond)
	e.clock.Advance(time.Second)
	wg.Wait()
	e.clock.Settle()
	guard, worker := 0, 0
	for i, ix := range ixs {
		got := guardCallbacks(e, ix)
		if len(got) != 1 {
			t.Fatalf("interaction %d: Discord got %d callbacks: %q", i, len(got), got)
		}
		switch {
		case statuses[i] == 200 && strings.Contains(got[0], `"worker"`):
			worker++
		case statuses[i] == http.StatusBadRequest && isGuardAnswer(t, got[0], "alpha"):
			guard++
		default:
			t.Fatalf("interaction %d: worker got %d, Discord got %q", i, statuses[i], got[0])
		}
	}
	t.Logf("worker won %d, guard won %d", worker, guard)
	sent := e.proxy.Usage(alphaID).Guard["sent"] + second.Usage(alphaID).Guard["sent"]
	if int(sent) != guard {
		t.Fatalf("guard counted %d answers, sent %d", sent, guard)
	}
}

func newServer(t *testing.T, h http.Handler) string {
	srv := newHTTPServer(h)
	t.Cleanup(srv.Close)
	return srv.URL
}

// A worker can publish on its own commands subjects, so it can forge interactions. They
// cost it, not the shared token: at most 10 a second are recorded, and the guard's answers
// to them are charged to its budget and breaker, so a flood of bogus callbacks cannot get
// the proxy's IP banned.
func TestForgedInteractionsCannotBurnTheSharedToken(t *testing.T) {
	e := newEnv(t, func(c *discord.Config) { generous(c); c.InvalidLimit = 5 })
	e.fake.setRespond(func(r *http.Request, _ []byte) (int, http.Header, string, bool) {
		if strings.HasPrefix(r.URL.Path, "/v10/interactions/") {
			return 401, nil, `{"message":"Invalid Webhook Token","code":50027}`, true
		}
		return 0, nil, "", false
	})
	forge := func(n int) {
		for i := range n {
			seq := int(ixSeq.Add(1))
			b, _ := json.Marshal(map[string]any{"op": 0, "t": "INTERACTION_CREATE", "d": map[string]any{
				"id": snowflakeAt(e.clock.Now(), seq), "application_id": appID, "type": 2,
				"token": fmt.Sprintf("Zm9yZ2VkLXRva2VuLWZvcmdlZA%06d", seq), "guild_id": g1}})
			if err := e.nc.Publish("sandbox."+alphaID+".commands.forged"+fmt.Sprint(i%3), b); err != nil {
				t.Fatal(err)
			}
		}
		if err := e.nc.Flush(); err != nil {
			t.Fatal(err)
		}
	}
	forge(100)
	eventually(t, "the flood observed", func() bool {
		u := e.proxy.Usage(alphaID)
		return u.Interactions+u.InteractionsDropped == 100
	})
	if u := e.proxy.Usage(alphaID); u.Interactions != 10 {
		t.Fatalf("recorded %d forged interactions at once, want 10", u.Interactions)
	}
	e.clock.Advance(2500 * time.Millisecond)
	e.clock.Settle()
	firstWave := e.fake.count()
	if firstWave == 0 || firstWave > 10 {
		t.Fatalf("first wave: Discord saw %d callbacks", firstWave)
	}
	// The breaker is open now: the next wave costs Discord nothing.
	e.clock.Advance(time.Second)
	forge(10)
	eventually(t, "the second wave observed", func() bool {
		u := e.proxy.Usage(alphaID)
		return u.Interactions+u.InteractionsDropped == 110
	})
	e.clock.Advance(2500 * time.Millisecond)
	e.clock.Settle()
	if n := e.fake.count(); n != firstWave {
		t.Fatalf("second wave reached Discord: %d callbacks", n-firstWave)
	}
	if u := e.proxy.Usage(alphaID); u.Guard["refused"] == 0 || u.Guard["sent"] != 0 || u.Invalid != uint64(firstWave) {
		t.Fatalf("usage %+v", u)
	}
	if r := e.do("GET", "/api/v10/guilds/"+g2+"/roles", realToken, ""); r.Status != 200 {
		t.Fatalf("production after the flood: %d", r.Status)
	}
}
