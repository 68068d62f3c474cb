package router_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/arrakis/gaib/router"
	"github.com/arrakis/gaib/sandbox"
)

// env is a gateway with its output streams, created directly with nats.go the way
// production configures them (jetstream/streams.go), plus the routes bucket.
type env struct {
	t        testing.TB
	urls     string
	nc       *nats.Conn
	js       jetstream.JetStream
	routes   jetstream.KeyValue
	replicas int
	dup      time.Duration // the output streams' duplicate window
}

func newEnv(t testing.TB, urls string, replicas int, dup time.Duration) *env {
	t.Helper()
	nc, err := nats.Connect(urls, nats.Name("test-admin"), nats.MaxReconnects(-1), nats.ReconnectWait(100*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc, jetstream.WithPublishAsyncMaxPending(1024))
	if err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, urls: urls, nc: nc, js: js, replicas: replicas, dup: dup}
	ctx := testCtx(t)
	for _, sc := range []jetstream.StreamConfig{
		{Name: sandbox.StreamGateway, Subjects: []string{sandbox.GatewayPrefix + ".>"}},
		{Name: sandbox.StreamEvents, Subjects: []string{sandbox.EventsPrefix + ".>"}, Duplicates: dup},
		{Name: sandbox.StreamCommands, Subjects: []string{sandbox.CommandsPrefix + ".>"}, Duplicates: dup},
	} {
		sc.Replicas, sc.Storage, sc.MaxAge = replicas, jetstream.FileStorage, 24*time.Hour
		if _, err := js.CreateStream(ctx, sc); err != nil {
			t.Fatalf("stream %s: %v", sc.Name, err)
		}
	}
	e.routes, err = js.CreateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: sandbox.BucketRoutes, Replicas: replicas, Storage: jetstream.FileStorage})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func testCtx(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// sandboxStream creates sandbox id's own stream, as creating a sandbox does.
func (e *env) sandboxStream(id string) string {
	e.t.Helper()
	name := "SANDBOX_" + id
	_, err := e.js.CreateStream(testCtx(e.t), jetstream.StreamConfig{
		Name: name, Replicas: e.replicas, Storage: jetstream.FileStorage, Duplicates: e.dup,
		Subjects: []string{sandbox.SandboxSubject(id, sandbox.EventsPrefix+".>"), sandbox.SandboxSubject(id, sandbox.CommandsPrefix+".>")},
	})
	if err != nil {
		e.t.Fatal(err)
	}
	return name
}

func (e *env) route(guild, id string) {
	e.t.Helper()
	if _, err := e.routes.Put(testCtx(e.t), guild, []byte(id)); err != nil {
		e.t.Fatal(err)
	}
}

func (e *env) unroute(guild string) {
	e.t.Helper()
	if err := e.routes.Delete(testCtx(e.t), guild); err != nil {
		e.t.Fatal(err)
	}
}

func guildID(g int) string { return fmt.Sprintf("1000000000000000%02d", g) }

// envelope is an Arrakis event of guild numbered i (its position in the test's sequence).
func envelope(guild string, i int, pad int) []byte {
	return fmt.Appendf(nil, `{"guild_id":%q,"event_type":"member.join","data":{"i":%d,"pad":%q}}`, guild, i, strings.Repeat("x", pad))
}

// publish puts events first..first+n-1 on the gateway, event i of guild guildOf(i), and
// waits until the gateway stored them all.
func (e *env) publish(first, n int, guildOf func(i int) string) {
	e.t.Helper()
	for i := first; i < first+n; i++ {
		if _, err := e.js.PublishAsync(sandbox.GatewaySubject("events.member.join"), envelope(guildOf(i), i, 64), noStall); err != nil {
			e.t.Fatal(err)
		}
	}
	select {
	case <-e.js.PublishAsyncComplete():
	case <-time.After(time.Minute):
		e.t.Fatal("gateway publishes not acknowledged")
	}
}

// noStall lets a test publisher wait for room in its window as long as a slow server
// needs (race detector, shared machine).
var noStall = jetstream.WithStallWait(time.Minute)

// cutter is a loopback TCP proxy in front of a server that can cut every connection
// through it at once, the way a crashed process or a network partition does: no drain,
// nothing flushed, no goodbye.
type cutter struct {
	ln     net.Listener
	mu     sync.Mutex
	conns  []net.Conn
	closed bool
}

func newCutter(t testing.TB, url string) *cutter {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	target := strings.TrimPrefix(url, "nats://")
	c := &cutter{ln: ln}
	t.Cleanup(c.cut)
	go func() {
		for {
			in, err := ln.Accept()
			if err != nil {
				return
			}
			out, err := net.Dial("tcp", target)
			if err != nil {
				_ = in.Close()
				continue
			}
			if !c.track(in, out) {
				return
			}
			go func() { _, _ = io.Copy(out, in); _ = out.Close() }()
			go func() { _, _ = io.Copy(in, out); _ = in.Close() }()
		}
	}()
	return c
}

func (c *cutter) track(conns ...net.Conn) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		for _, x := range conns {
			_ = x.Close()
		}
		return false
	}
	c.conns = append(c.conns, conns...)
	return true
}

func (c *cutter) url() string { return "nats://" + c.ln.Addr().String() }

// cut closes the proxy and every connection through it.
func (c *cutter) cut() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.closed = true
	_ = c.ln.Close()
	for _, x := range c.conns {
		_ = x.Close()
	}
}

// routerConn connects a router's dedicated connection to urls.
func routerConn(t testing.TB, name, urls string, extra ...nats.Option) *nats.Conn {
	t.Helper()
	nc, err := nats.Connect(urls, append(router.ConnectOptions(name), extra...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	return nc
}

// startRouter starts a router on its own connection through a cutter to url (the cutter
// kills it).
func (e *env) startRouter(name, url string, cfg router.Config) (*router.Router, *cutter) {
	e.t.Helper()
	c := newCutter(e.t, url)
	// A router behind a cutter must not find its way around it.
	nc := routerConn(e.t, name, c.url(), nats.IgnoreDiscoveredServers(), nats.DontRandomize())
	return e.startRouterOn(nc, name, cfg), c
}

func (e *env) startRouterOn(nc *nats.Conn, name string, cfg router.Config) *router.Router {
	e.t.Helper()
	cfg.Instance, cfg.Replicas = name, e.replicas
	r, err := router.Start(testCtx(e.t), nc, e.routes, cfg, testLog(e.t, name))
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(r.Stop)
	return r
}

// testLog logs through t (visible with -v or on failure).
func testLog(t testing.TB, name string) *slog.Logger {
	return slog.New(slog.NewTextHandler(tWriter{t}, &slog.HandlerOptions{Level: slog.LevelInfo})).With("router", name)
}

type tWriter struct{ t testing.TB }

func (w tWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

// stored is one output: where it is and which test event it carries.
type stored struct {
	stream, subject, guild string
	i                      int
	gwSeq                  string
}

// outputs reads every message of the given streams, in stream order.
func (e *env) outputs(streams ...string) []stored {
	e.t.Helper()
	ctx := testCtx(e.t)
	var out []stored
	for _, name := range streams {
		st, err := e.js.Stream(ctx, name)
		if err != nil {
			e.t.Fatal(err)
		}
		total := st.CachedInfo().State.Msgs
		if total == 0 {
			continue
		}
		oc, err := st.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{})
		if err != nil {
			e.t.Fatal(err)
		}
		deadline := time.Now().Add(30 * time.Second)
		for got := uint64(0); got < total; {
			batch, err := oc.Fetch(int(min(500, total-got)), jetstream.FetchMaxWait(time.Second))
			if err != nil {
				e.t.Fatal(err)
			}
			n := 0
			for m := range batch.Messages() {
				n++
				var ev struct {
					Guild string `json:"guild_id"`
					Data  struct {
						I int `json:"i"`
					} `json:"data"`
				}
				if err := json.Unmarshal(m.Data(), &ev); err != nil {
					e.t.Fatalf("%s: %v", name, err)
				}
				out = append(out, stored{stream: name, subject: m.Subject(), guild: ev.Guild, i: ev.Data.I, gwSeq: m.Headers().Get(sandbox.HeaderGatewaySeq)})
			}
			if n == 0 && time.Now().After(deadline) {
				e.t.Fatalf("%s: read %d of %d messages", name, got, total)
			}
			got += uint64(n)
		}
	}
	return out
}

// count is the number of messages in the given streams.
func (e *env) count(streams ...string) uint64 {
	var n uint64
	for _, name := range streams {
		st, err := e.js.Stream(testCtx(e.t), name)
		if err != nil {
			return 0
		}
		n += st.CachedInfo().State.Msgs
	}
	return n
}

// exactlyOnce asserts that events first..first+n-1 are each stored exactly once across
// out, every guild's events in gateway order within each stream, and each where want says
// (stream name by guild).
func exactlyOnce(t testing.TB, out []stored, first, n int, want func(guild string) string) {
	t.Helper()
	seen := map[int]int{}
	last := map[string]int{} // stream/guild → last i
	for _, o := range out {
		seen[o.i]++
		if seen[o.i] > 1 {
			t.Fatalf("event %d stored %d times (again in %s)", o.i, seen[o.i], o.stream)
		}
		key := o.stream + "/" + o.guild
		if prev, ok := last[key]; ok && prev > o.i {
			t.Fatalf("%s: guild %s event %d stored after %d", o.stream, o.guild, o.i, prev)
		}
		last[key] = o.i
		if w := want(o.guild); w != "" && w != o.stream {
			t.Fatalf("event %d of guild %s in %s, want %s", o.i, o.guild, o.stream, w)
		}
	}
	for i := first; i < first+n; i++ {
		if seen[i] != 1 {
			t.Fatalf("event %d stored %d times", i, seen[i])
		}
	}
	if len(out) != n {
		t.Fatalf("%d outputs for %d events", len(out), n)
	}
}

// eventually polls cond until it holds, failing the test after a minute.
func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// settled waits until r has routed everything (its lag is 0, read from the server).
func settled(t testing.TB, r *router.Router) router.Stats {
	t.Helper()
	var s router.Stats
	eventually(t, "the router to route everything", func() bool {
		s = r.Stats(context.Background())
		return !s.LagUnknown && s.Lag == 0 && s.Held == 0
	})
	return s
}
