package router_test

import (
	"context"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/arrakis/gaib/embedded/embeddedtest"
	"github.com/arrakis/gaib/router"
	"github.com/arrakis/gaib/sandbox"
)

// Routing layout shared by the tests: guilds 0..guilds-1, every fourth one routed to a
// sandbox of its own (with its own stream).
const guilds = 12

type layout struct {
	e      *env
	stream map[string]string // guild → output stream
}

func newLayout(e *env) *layout {
	l := &layout{e: e, stream: map[string]string{}}
	for g := range guilds {
		l.stream[guildID(g)] = sandbox.StreamEvents
		if g%4 == 0 {
			id := sandbox.NewID()
			l.stream[guildID(g)] = e.sandboxStream(id)
			e.route(guildID(g), id)
		}
	}
	return l
}

func (l *layout) guildOf(i int) string             { return guildID(i % guilds) }
func (l *layout) want(guild string) string         { return l.stream[guild] }
func (l *layout) count() uint64                    { return l.e.count(l.streams()...) }
func (l *layout) outputs() []stored                { return l.e.outputs(l.streams()...) }
func (l *layout) check(t testing.TB, first, n int) { exactlyOnce(t, l.outputs(), first, n, l.want) }

func (l *layout) streams() []string {
	seen := map[string]bool{}
	var out []string
	for _, s := range l.stream {
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	return out
}

// Regression: an earlier router, recovering from a crash, recreated its consumer at a
// start sequence; the next clean start then failed for good ("deliver policy can not be
// updated") while the stats said lag 0. The router now reopens any consumer it finds.
func TestRouterReopensConsumerLeftAtStartSequence(t *testing.T) {
	e := newEnv(t, embeddedtest.NATS(t).ClientURL(), 1, time.Second)
	l := newLayout(e)
	e.publish(0, 100, l.guildOf)
	// What the old recovery left: a consumer created at the ack floor + 1, events 1..50
	// routed before the crash.
	if _, err := e.js.CreateConsumer(testCtx(t), sandbox.StreamGateway, jetstream.ConsumerConfig{
		Durable: "router", AckPolicy: jetstream.AckExplicitPolicy,
		DeliverPolicy: jetstream.DeliverByStartSequencePolicy, OptStartSeq: 51,
	}); err != nil {
		t.Fatal(err)
	}
	cfg := router.Config{LeaseTTL: time.Second}
	r := e.startRouterOn(routerConn(t, "a", e.urls), "a", cfg)
	eventually(t, "events 50..99 routed", func() bool { return l.count() == 50 })
	settled(t, r)
	r.Stop()
	e.publish(100, 10, l.guildOf)
	// Restarted on the consumer it left: it opens it and routes the new events.
	r2 := e.startRouterOn(routerConn(t, "b", e.urls), "b", cfg)
	eventually(t, "the new events routed", func() bool { return l.count() == 60 })
	settled(t, r2)
	eventually(t, "the position recorded", func() bool { return r2.Counters().Acked == 110 })
	if s := r2.Stats(context.Background()); !s.Healthy || !s.Active {
		t.Fatalf("stats after restart: %+v", s)
	}
	l.check(t, 50, 60)
}

// A router killed mid-flight (its connection cut: outputs published but not
// acknowledged, its position recorded long before) and replaced after the duplicate
// window has passed: every event is stored exactly once, in per-guild order. The
// duplicate window cannot be what drops the repeats: it is 1s and the replacement starts
// 3s later.
func TestCrashAfterDuplicateWindowStoresEachEventOnce(t *testing.T) {
	e := newEnv(t, embeddedtest.NATS(t).ClientURL(), 1, time.Second)
	l := newLayout(e)
	const n = 4000
	e.publish(0, n, l.guildOf)
	// The position is only recorded when the router stops cleanly: everything routed
	// before the crash is after the recorded position.
	cfg := router.Config{LeaseTTL: time.Second, CheckpointInterval: time.Hour, Window: 256}
	a, cut := e.startRouter("a", e.urls, cfg)
	eventually(t, "a third routed", func() bool { return a.Counters().EventsIn >= n/3 })
	cut.cut()
	routedByA := l.count()
	if routedByA == 0 || routedByA >= n {
		t.Fatalf("the crash left %d of %d stored", routedByA, n)
	}
	eventually(t, "the killed router to report itself unhealthy", func() bool {
		s := a.Stats(context.Background())
		return a.Healthy() != nil && !s.Healthy && s.LastError != "" && !s.Active
	})
	time.Sleep(3 * time.Second) // well past the outputs' duplicate window

	b := e.startRouterOn(routerConn(t, "b", e.urls), "b", cfg)
	eventually(t, "all events stored", func() bool { return l.count() >= n })
	s := settled(t, b)
	l.check(t, 0, n)
	if s.Skipped < routedByA || s.Takeovers != 1 || !s.Healthy {
		t.Fatalf("replacement stats %+v: %d were stored before the crash", s, routedByA)
	}
	t.Logf("crashed with %d stored; the replacement skipped %d already stored; %d stored once each", routedByA, s.Skipped, n)
}

// The durable consumer deleted while no router runs: it is recreated at the recorded
// position, not at the start of the stream.
func TestMissingConsumerRecreatedAtRecordedPosition(t *testing.T) {
	e := newEnv(t, embeddedtest.NATS(t).ClientURL(), 1, time.Second)
	l := newLayout(e)
	e.publish(0, 200, l.guildOf)
	cfg := router.Config{LeaseTTL: time.Second}
	a := e.startRouterOn(routerConn(t, "a", e.urls), "a", cfg)
	eventually(t, "200 routed", func() bool { return l.count() == 200 })
	settled(t, a)
	a.Stop()
	if err := e.js.DeleteConsumer(testCtx(t), sandbox.StreamGateway, "router"); err != nil {
		t.Fatal(err)
	}
	time.Sleep(1500 * time.Millisecond) // past the duplicate window
	e.publish(200, 50, l.guildOf)

	b := e.startRouterOn(routerConn(t, "b", e.urls), "b", cfg)
	eventually(t, "the 50 new events routed", func() bool { return l.count() >= 250 })
	s := settled(t, b)
	l.check(t, 0, 250)
	eventually(t, "the position recorded", func() bool { return b.Counters().Acked == 250 })
	if s.EventsIn != 50 {
		t.Fatalf("the recreated consumer delivered %d events (acked %d), want the 50 new ones", s.EventsIn, s.Acked)
	}
}

// An output the stream refuses while the guild's next events are already published must
// not be overtaken by them (a stream leader stepping down answers "unavailable" the same
// way): the router keeps one output per guild in flight. Here the first event of a guild
// is too large for its sandbox's stream until the stream's limit is raised.
func TestARefusedOutputIsNotOvertakenByTheGuildsNextEvents(t *testing.T) {
	url := embeddedtest.NATS(t).ClientURL()
	e := newEnv(t, url, 1, time.Second)
	id := sandbox.NewID()
	name := e.sandboxStream(id)
	ctx := testCtx(t)
	st, err := e.js.Stream(ctx, name)
	if err != nil {
		t.Fatal(err)
	}
	cfg := st.CachedInfo().Config
	cfg.MaxMsgSize = 1024
	if _, err := e.js.UpdateStream(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	routed, other := guildID(0), guildID(1)
	e.route(routed, id)
	const n = 400
	for i := range n {
		guild, pad := routed, 64
		if i%2 == 1 {
			guild = other
		}
		if i == 0 {
			pad = 2048 // refused by the sandbox's stream
		}
		if _, err := e.js.Publish(ctx, sandbox.GatewaySubject("events.member.join"), envelope(guild, i, pad)); err != nil {
			t.Fatal(err)
		}
	}
	r, _ := e.startRouter("a", url, router.Config{Window: 256})
	eventually(t, "the refused event to be held", func() bool { return r.Counters().Held != 0 })
	time.Sleep(200 * time.Millisecond) // what was published meanwhile is stored by now
	cfg.MaxMsgSize = -1
	if _, err := e.js.UpdateStream(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	want := func(guild string) string {
		if guild == routed {
			return name
		}
		return sandbox.StreamEvents
	}
	eventually(t, "all events stored", func() bool { return e.count(name, sandbox.StreamEvents) >= n })
	s := settled(t, r)
	exactlyOnce(t, e.outputs(name, sandbox.StreamEvents), 0, n, want)
	if s.PublishErrors == 0 {
		t.Fatal("the first event was not refused: the test proves nothing")
	}
}
