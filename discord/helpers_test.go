package discord_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/arrakis/gaib/discord"
	"github.com/arrakis/gaib/embedded/embeddedtest"
	"github.com/arrakis/gaib/sandbox"
)

// Ids used across the tests: G1 is the sandbox's guild, G2 production's; C1 is a channel of
// G1, C2 one of G2.
const (
	realToken = "MTIzNDU2Nzg5MDEyMzQ1Njc4OQ.REAL.bot-token-never-shown"
	appID     = "223456789012345678"
	g1        = "111111111111111111"
	g2        = "222222222222222222"
	g9        = "999999999999999999"
	c1        = "311111111111111111"
	c2        = "322222222222222222"
)

// fakeDiscord stands in for Discord's REST API: it records every request and answers 200
// with rate-limit headers, or what the test's respond hook says.
type fakeDiscord struct {
	*httptest.Server
	mu       sync.Mutex
	got      []seen
	channels map[string]string // channel → guild for GET /v10/channels/{id}
	// forget: record nothing (benchmarks, whose live heap would otherwise grow)
	forget  bool
	respond func(r *http.Request, body []byte) (int, http.Header, string, bool)
}

// seen is one request the fake received.
type seen struct {
	Method, Path, Query, Auth string
	Header                    http.Header
	Body                      string
}

func newFakeDiscord(t testing.TB) *fakeDiscord {
	f := &fakeDiscord{channels: map[string]string{}}
	f.Server = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.Close)
	return f
}

func (f *fakeDiscord) serve(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	f.mu.Lock()
	if !f.forget {
		f.got = append(f.got, seen{Method: r.Method, Path: r.URL.EscapedPath(), Query: r.URL.RawQuery,
			Auth: r.Header.Get("Authorization"), Header: r.Header.Clone(), Body: string(b)})
	}
	respond := f.respond
	f.mu.Unlock()
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Set-Cookie", "__dcfduid=secret-cookie")
	h.Set("X-RateLimit-Bucket", "bucket-"+strconv.Itoa(len(strings.Split(r.URL.Path, "/"))))
	h.Set("X-RateLimit-Limit", "50")
	h.Set("X-RateLimit-Remaining", "49")
	h.Set("X-RateLimit-Reset-After", "1")
	if respond != nil {
		if status, extra, body, ok := respond(r, b); ok {
			for k, v := range extra {
				h[k] = v
			}
			w.WriteHeader(status)
			_, _ = io.WriteString(w, body)
			return
		}
	}
	if ch, ok := strings.CutPrefix(r.URL.Path, "/v10/channels/"); ok && !strings.Contains(ch, "/") && r.Method == http.MethodGet {
		f.mu.Lock()
		guild, known := f.channels[ch]
		f.mu.Unlock()
		if !known {
			w.WriteHeader(http.StatusNotFound)
			_, _ = io.WriteString(w, `{"message": "Unknown Channel", "code": 10003}`)
			return
		}
		_, _ = fmt.Fprintf(w, `{"id":%q,"guild_id":%q,"type":0}`, ch, guild)
		return
	}
	_, _ = io.WriteString(w, `{"ok":true}`)
}

func (f *fakeDiscord) setRespond(fn func(r *http.Request, body []byte) (int, http.Header, string, bool)) {
	f.mu.Lock()
	f.respond = fn
	f.mu.Unlock()
}

func (f *fakeDiscord) setChannel(channel, guild string) {
	f.mu.Lock()
	f.channels[channel] = guild
	f.mu.Unlock()
}

// requests returns what the fake received so far.
func (f *fakeDiscord) requests() []seen {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]seen(nil), f.got...)
}

func (f *fakeDiscord) count() int { return len(f.requests()) }

// countPath counts the requests received for one upstream path.
func (f *fakeDiscord) countPath(method, path string) int {
	n := 0
	for _, s := range f.requests() {
		if s.Method == method && s.Path == path {
			n++
		}
	}
	return n
}

// fakeClock is a Clock the test moves by hand; functions due on Advance run in their own
// goroutines, and Settle waits for them.
type fakeClock struct {
	mu     sync.Mutex
	now    time.Time
	timers []*fakeTimer
	wg     sync.WaitGroup
}

type fakeTimer struct {
	c    *fakeClock
	at   time.Time
	f    func()
	done bool
}

func newFakeClock() *fakeClock { return &fakeClock{now: time.Now()} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) AfterFunc(d time.Duration, f func()) discord.Timer {
	c.mu.Lock()
	defer c.mu.Unlock()
	t := &fakeTimer{c: c, at: c.now.Add(d), f: f}
	if d <= 0 {
		t.done = true
		c.run(f)
		return t
	}
	c.timers = append(c.timers, t)
	return t
}

func (c *fakeClock) run(f func()) {
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		f()
	}()
}

func (t *fakeTimer) Stop() bool {
	t.c.mu.Lock()
	defer t.c.mu.Unlock()
	was := !t.done
	t.done = true
	return was
}

// Advance moves the clock and runs what fell due.
func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
	keep := c.timers[:0]
	for _, t := range c.timers {
		switch {
		case t.done:
		case !t.at.After(c.now):
			t.done = true
			c.run(t.f)
		default:
			keep = append(keep, t)
		}
	}
	c.timers = keep
}

// Pending is the number of timers waiting.
func (c *fakeClock) Pending() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for _, t := range c.timers {
		if !t.done {
			n++
		}
	}
	return n
}

// Settle waits until every function run so far has returned.
func (c *fakeClock) Settle() { c.wg.Wait() }

// sandboxes is an in-memory SandboxLookup.
type sandboxes struct {
	mu sync.Mutex
	m  map[string]discord.SandboxInfo
}

func (s *sandboxes) Sandbox(_ context.Context, id string) (discord.SandboxInfo, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	info, ok := s.m[id]
	if !ok {
		return discord.SandboxInfo{}, sandbox.Errorf(sandbox.CodeNotFound, "no sandbox %s", id)
	}
	return info, nil
}

func (s *sandboxes) put(info discord.SandboxInfo) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.m[info.ID] = info
}

// routes is an in-memory GuildRoutes, kept in step with sandboxes by env.addSandbox.
type routes struct {
	mu sync.Mutex
	m  map[string]string
}

func (r *routes) Lookup(guild string) (string, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	id, ok := r.m[guild]
	return id, ok
}

// env is one test's world: a real NATS server, the fake Discord, a proxy behind an HTTP
// server, and the sandbox records it looks up.
type env struct {
	t         testing.TB
	ctx       context.Context
	nc        *nats.Conn
	js        jetstream.JetStream
	fake      *fakeDiscord
	clock     *fakeClock
	secret    sandbox.Secret
	sandboxes *sandboxes
	routes    *routes
	cfg       discord.Config
	proxy     *discord.Proxy
	srv       *httptest.Server
	registry  *prometheus.Registry
}

// newEnv starts the world with sandbox "alpha" (id alphaID, guild G1) running; mod
// adjusts the proxy's configuration.
func newEnv(t testing.TB, mod func(*discord.Config)) *env {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	ns := embeddedtest.NATS(t)
	nc := embeddedtest.Conn(t, ns.ClientURL())
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	e := &env{
		t: t, ctx: ctx, nc: nc, js: js, fake: newFakeDiscord(t), clock: newFakeClock(),
		secret:    sandbox.Secret("test-server-secret-0123456789"),
		sandboxes: &sandboxes{m: map[string]discord.SandboxInfo{}}, routes: &routes{m: map[string]string{}},
	}
	e.cfg = discord.Config{
		Token: realToken, ApplicationID: appID, UpstreamURL: e.fake.URL + "/", Secret: e.secret,
		Clock: e.clock, PublicURL: "http://proxy.test:8090",
		// A request waiting for the limiter would wait for the fake clock: tests that
		// want waits set MaxWait themselves.
		MaxWait: -1,
	}
	if mod != nil {
		mod(&e.cfg)
	}
	e.addSandbox(alphaID, "alpha", true, g1)
	e.proxy, e.registry = e.start(ctx)
	e.srv = httptest.NewServer(e.proxy)
	t.Cleanup(e.srv.Close)
	return e
}

const (
	alphaID = "alpha00001"
	betaID  = "beta000002"
)

// start runs one more proxy instance on the same NATS server and records.
func (e *env) start(ctx context.Context) (*discord.Proxy, *prometheus.Registry) {
	e.t.Helper()
	reg := prometheus.NewRegistry()
	p, err := discord.New(ctx, e.cfg, discord.Deps{Sandboxes: e.sandboxes, Routes: e.routes, JetStream: e.js, Registerer: reg})
	if err != nil {
		e.t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(ctx)
	ready := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := p.Run(ctx, ready); err != nil {
			e.t.Errorf("Run: %v", err)
		}
	}()
	e.t.Cleanup(func() {
		cancel()
		<-done
	})
	select {
	case <-ready:
	case <-time.After(10 * time.Second):
		e.t.Fatal("proxy not ready")
	}
	return p, reg
}

func (e *env) addSandbox(id, name string, running bool, guilds ...string) {
	e.sandboxes.put(discord.SandboxInfo{ID: id, Name: name, Running: running, Guilds: guilds})
	e.routes.mu.Lock()
	for _, g := range guilds {
		e.routes.m[g] = id
	}
	e.routes.mu.Unlock()
}

// token is sandbox id's DISCORD_TOKEN.
func (e *env) token(id string) string { return e.secret.DiscordToken(id) }

// reply is an answer of the proxy.
type reply struct {
	Status int
	Header http.Header
	Body   string
}

// json decodes a Discord-shaped error.
func (r reply) json() (msg string, code int, gaib string, retry float64) {
	var b struct {
		Message    string  `json:"message"`
		Code       int     `json:"code"`
		GaibCode   string  `json:"gaib_code"`
		RetryAfter float64 `json:"retry_after"`
	}
	_ = json.Unmarshal([]byte(r.Body), &b)
	return b.Message, b.Code, b.GaibCode, b.RetryAfter
}

// do sends a request to the proxy with "Bot <token>" (none when token is ""), and checks
// that the answer never contains the real token.
func (e *env) do(method, path, token, body string, headers ...string) reply {
	e.t.Helper()
	return e.doURL(e.srv.URL, method, path, token, body, headers...)
}

func (e *env) doURL(base, method, path, token, body string, headers ...string) reply {
	e.t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, base+path, rd)
	if err != nil {
		e.t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bot "+token)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	r := reply{Status: resp.StatusCode, Header: resp.Header, Body: string(b)}
	e.noRealToken(r)
	return r
}

// raw sends a hand-written HTTP/1.1 request to the proxy (for targets net/http's client
// would not send) and returns the answer.
func (e *env) raw(request string) reply {
	e.t.Helper()
	conn, err := net.Dial("tcp", e.srv.Listener.Addr().String())
	if err != nil {
		e.t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(conn, request); err != nil {
		e.t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		e.t.Fatalf("reading the answer to %q: %v", request, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	r := reply{Status: resp.StatusCode, Header: resp.Header, Body: string(b)}
	e.noRealToken(r)
	return r
}

func (e *env) noRealToken(r reply) {
	e.t.Helper()
	if strings.Contains(r.Body, realToken) || strings.Contains(fmt.Sprint(r.Header), realToken) {
		e.t.Fatalf("the real token leaked in an answer: %v %q", r.Header, r.Body)
	}
}

// eventually polls cond for up to 10 s of real time.
func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// snowflakeAt returns a Discord id created at time at (seq makes it unique).
func snowflakeAt(at time.Time, seq int) string {
	return strconv.FormatUint(uint64(at.UnixMilli()-1420070400000)<<22|uint64(seq&0x3fffff), 10)
}

var ixSeq atomic.Int64

// interaction is one interaction the router routed to a sandbox.
type interaction struct {
	ID, Token string
}

// route publishes an interaction for sandbox id as the router does (raw dispatch, or
// Arrakis envelope when envelope) and waits until the proxy recorded it.
func (e *env) route(id string, envelope bool, typ int) interaction {
	e.t.Helper()
	n := int(ixSeq.Add(1))
	ix := interaction{ID: snowflakeAt(e.clock.Now(), n), Token: fmt.Sprintf("aW50ZXJhY3Rpb24tdG9rZW4tMDAw%06d", n)}
	d := map[string]any{"id": ix.ID, "application_id": appID, "token": ix.Token, "type": typ, "guild_id": g1,
		"channel_id": c1, "data": map[string]any{"name": "ping"}}
	var v any = map[string]any{"op": 0, "t": "INTERACTION_CREATE", "s": n, "d": d}
	if envelope {
		v = map[string]any{"event_id": "e", "event_type": "interaction.create", "shard_id": 0, "guild_id": g1, "data": d}
	}
	b, _ := json.Marshal(v)
	if err := e.nc.Publish(sandbox.SandboxSubject(id, "commands.interaction"), b); err != nil {
		e.t.Fatal(err)
	}
	kv, err := e.js.KeyValue(e.ctx, sandbox.BucketDiscordInteractions)
	if err != nil {
		e.t.Fatal(err)
	}
	eventually(e.t, "the interaction recorded", func() bool {
		_, err := kv.Get(e.ctx, sandbox.DiscordInteractionKey(ix.Token))
		return err == nil
	})
	return ix
}

// callbackPath is the callback route of ix.
func callbackPath(ix interaction) string {
	return "/api/v10/interactions/" + ix.ID + "/" + ix.Token + "/callback"
}

func upstreamCallback(ix interaction) string {
	return "/v10/interactions/" + ix.ID + "/" + ix.Token + "/callback"
}

func newHTTPServer(h http.Handler) *httptest.Server { return httptest.NewServer(h) }
