package integration

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/arrakis/gaib/sandbox"
)

// workerEnv, when set, makes the test binary a stand-in bot worker (see discordWorker): the
// test runs it with `gaib sandbox run`, so it holds exactly what a worker holds.
const workerEnv = "GAIB_TEST_DISCORD_WORKER"

// discordWorker sends one request to the Discord API the way a bot library does, with what
// `gaib sandbox run` put in its environment, and prints the status. Its argument is
// "METHOD PATH [BODY]"; it authenticates with DISCORD_TOKEN unless PATH is an interaction
// callback.
func discordWorker() {
	parts := strings.SplitN(os.Getenv(workerEnv), " ", 3)
	var body io.Reader
	if len(parts) == 3 {
		body = strings.NewReader(parts[2])
	}
	req, err := http.NewRequest(parts[0], os.Getenv("DISCORD_API_BASE_URL")+parts[1], body)
	if err != nil {
		fmt.Println("error", err)
		os.Exit(1)
	}
	req.Header.Set("Content-Type", "application/json")
	if !strings.HasPrefix(parts[1], "/interactions/") {
		req.Header.Set("Authorization", "Bot "+os.Getenv("DISCORD_TOKEN"))
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		fmt.Println("error", err)
		os.Exit(1)
	}
	b, _ := io.ReadAll(resp.Body)
	fmt.Printf("%d %s", resp.StatusCode, b)
}

// fakeDiscord stands in for Discord's REST API (the one thing we stand in for): it records
// every request and answers 200/204.
type fakeDiscord struct {
	*httptest.Server
	mu  sync.Mutex
	got []string // "METHOD PATH AUTH BODY"
}

func newFakeDiscord(t *testing.T) *fakeDiscord {
	f := &fakeDiscord{}
	f.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		f.mu.Lock()
		f.got = append(f.got, strings.Join([]string{r.Method, r.URL.Path, r.Header.Get("Authorization"), string(b)}, " "))
		f.mu.Unlock()
		w.Header().Set("X-RateLimit-Limit", "10")
		w.Header().Set("X-RateLimit-Remaining", "9")
		w.Header().Set("X-RateLimit-Reset-After", "1")
		w.Header().Set("X-RateLimit-Bucket", "b-"+strings.ReplaceAll(r.URL.Path, "/", "-"))
		if r.Method == http.MethodPut || strings.HasSuffix(r.URL.Path, "/callback") {
			w.WriteHeader(http.StatusNoContent)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"id":"1"}`))
	}))
	t.Cleanup(f.Close)
	return f
}

func (f *fakeDiscord) received() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.got...)
}

// snowflakeNow is a Discord id created now (interaction deadlines count from it).
func snowflakeNow() string {
	return strconv.FormatInt((time.Now().UnixMilli()-1420070400000)<<22, 10)
}

var proxyRe = regexp.MustCompile(`discord proxy on (http://[0-9.:]+)`)

func TestWorkerActsOnDiscordThroughTheProxyOnly(t *testing.T) {
	const (
		realToken = "MTIzNDU2Nzg5MDEyMzQ1Njc4OQ.REAL.production-bot-token"
		appID     = "423456789012345678"
		other     = "523456789012345678"
	)
	fake := newFakeDiscord(t)
	tokenFile := filepath.Join(t.TempDir(), "bot.token")
	if err := os.WriteFile(tokenFile, []byte(realToken+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	var out syncBuffer
	url, _ := serveInProcessOut(t, &out, "--data-dir", t.TempDir(), "--no-postgres", "--no-redis",
		"--discord-token-file", tokenFile, "--discord-api-url", fake.URL, "--discord-listen", "127.0.0.1:0",
		"--discord-application-id", appID, "--discord-deadline", "1s")
	if proxyRe.FindString(out.String()) == "" {
		t.Fatalf("serve does not say where the proxy is: %s", out.String())
	}
	served(t, url, "sandbox", "create", "bot", "--guild", guildA).must(t)
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	worker := func(request string) string {
		t.Helper()
		var out syncBuffer
		ctx := runGaibTo(&out, "--server", url, "--creds", credsOf(url), "sandbox", "run", "bot", "--",
			"env", workerEnv+"="+request, self, "-test.run=^$")
		if ctx != 0 {
			t.Fatalf("worker %q: exit %d: %s", request, ctx, out.String())
		}
		return out.String()
	}

	// Give a member a role in its own guild: forwarded with the real token.
	if got := worker("PUT /guilds/" + guildA + "/members/623456789012345678/roles/723456789012345678"); !strings.HasPrefix(got, "204") {
		t.Fatalf("role in its own guild: %s", got)
	}
	seen := fake.received()
	if len(seen) != 1 || !strings.Contains(seen[0], "/guilds/"+guildA+"/members/") || !strings.Contains(seen[0], "Bot "+realToken) {
		t.Fatalf("Discord received %q", seen)
	}
	// Another guild, global commands, DMs: refused at the proxy, Discord sees nothing.
	for _, req := range []string{
		"PUT /guilds/" + other + "/members/623456789012345678/roles/723456789012345678",
		"POST /applications/" + appID + "/commands {\"name\":\"x\"}",
		"POST /users/@me/channels {\"recipient_id\":\"623456789012345678\"}",
		"GET /guilds/" + guildA + "/../" + other,
	} {
		if got := worker(req); !strings.HasPrefix(got, "403") && !strings.HasPrefix(got, "400") && !strings.HasPrefix(got, "404") {
			t.Errorf("%s: %s", req, got)
		}
	}
	if n := len(fake.received()); n != 1 {
		t.Fatalf("refused requests reached Discord: %q", fake.received())
	}
	// The worker never holds the real token.
	if env := worker("GET /gateway"); strings.Contains(env, realToken) {
		t.Fatal("the real token reached the worker")
	}

	// A slash command routed to the sandbox: the worker answers it through the proxy,
	// without any token, as Discord expects.
	interaction := func() (id, token string) {
		id, token = snowflakeNow(), fmt.Sprintf("itoken-%d-abcdefghijklmnop", time.Now().UnixNano())
		data, _ := json.Marshal(map[string]any{"id": id, "application_id": appID, "token": token, "type": 2})
		served(t, url, "events", "publish", "--guild", guildA, "--type", "interaction", "--raw", "--data", string(data)).must(t)
		return id, token
	}
	id, token := interaction()
	eventually(t, "the proxy to learn the interaction", func() bool {
		return strings.HasPrefix(worker("POST /interactions/"+id+"/"+token+"/callback {\"type\":4,\"data\":{\"content\":\"pong\"}}"), "204")
	})
	var callback string
	for _, r := range fake.received() {
		if strings.Contains(r, "/interactions/"+id+"/") {
			callback = r
		}
	}
	if callback == "" || strings.Contains(callback, realToken) || !strings.Contains(callback, "pong") {
		t.Fatalf("the callback Discord received: %q", callback)
	}
	// An interaction nobody answers: the guard answers it once, ephemerally, naming the
	// sandbox.
	id, _ = interaction()
	eventually(t, "the deadline guard to answer", func() bool {
		for _, r := range fake.received() {
			if strings.Contains(r, "/interactions/"+id+"/") && strings.Contains(r, `bot`) && strings.Contains(r, `"flags":64`) {
				return true
			}
		}
		return false
	})
	time.Sleep(500 * time.Millisecond) // room for a second answer, which must not come
	answers := 0
	for _, r := range fake.received() {
		if strings.Contains(r, "/interactions/"+id+"/") {
			answers++
		}
	}
	if answers != 1 {
		t.Fatalf("the guard answered %d times", answers)
	}
	// status shows the sandbox's use of the proxy, as counted.
	var st sandbox.StatusResponse
	decodeStrict(t, served(t, url, "-o", "json", "sandbox", "status", "bot").must(t).Stdout, &st)
	detail := ""
	for _, h := range st.Health {
		if h.Plane == "discord" && h.OK {
			detail = h.Detail
		}
	}
	var forwarded int
	if _, err := fmt.Sscanf(detail, "%d forwarded", &forwarded); err != nil || forwarded < 2 ||
		!strings.Contains(detail, "1 answered by the guard") || !strings.Contains(detail, " 2 interactions") {
		t.Fatalf("status does not show the sandbox's use of the proxy: %+v", st.Health)
	}
}

// credsOf is the admin credential of a mesh served in-process.
func credsOf(url string) string {
	c, _ := servedCreds.Load(url)
	s, _ := c.(string)
	return s
}
