package router_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/arrakis/gaib/embedded/embeddedtest"
	"github.com/arrakis/gaib/router"
	"github.com/arrakis/gaib/sandbox"
)

// A guild still routed to a sandbox whose stream is gone (its sandbox destroyed before
// this router applied the route removal): its events are held, counted, never sent to
// production while the route stands, and follow the route as soon as it changes, in order.
func TestEventsForAMissingSandboxStreamAreHeldThenFollowTheRoute(t *testing.T) {
	e := newEnv(t, embeddedtest.NATS(t).ClientURL(), 1, time.Minute)
	gone, later := guildID(1), guildID(2) // routed to sandboxes without a stream
	other := guildID(3)
	goneID, laterID := sandbox.NewID(), sandbox.NewID()
	e.route(gone, goneID)
	e.route(later, laterID)
	guildOf := func(i int) string { return []string{gone, later, other}[i%3] }
	r := e.startRouterOn(routerConn(t, "a", e.urls), "a", router.Config{StallAfter: 300 * time.Millisecond})
	e.publish(0, 30, guildOf)

	eventually(t, "the event held and the router unhealthy", func() bool {
		s := r.Stats(context.Background())
		return s.NoStream > 0 && s.Held != 0 && !s.Healthy && strings.Contains(s.LastError, "held") && r.Healthy() != nil
	})
	for _, o := range e.outputs(sandbox.StreamEvents) {
		if o.guild != other {
			t.Fatalf("event %d of guild %s, routed to a missing sandbox, reached production", o.i, o.guild)
		}
	}

	// One sandbox's stream appears: its events go there. The other's route is removed:
	// its events go to production, where the guild routes now.
	stream := e.sandboxStream(laterID)
	e.unroute(gone)
	eventually(t, "every event stored", func() bool { return e.count(sandbox.StreamEvents, stream) == 30 })
	s := settled(t, r)
	if !s.Healthy || s.Held != 0 || s.ToSandbox != 10 || s.ToProduction != 20 {
		t.Fatalf("stats after the route change: %+v", s)
	}
	exactlyOnce(t, e.outputs(sandbox.StreamEvents, stream), 0, 30, func(g string) string {
		if g == later {
			return stream
		}
		return sandbox.StreamEvents
	})
}

// Events larger than MaxEventBytes are not forwarded: a reference to them is stored on
// the dead-letter subject (outside every sandbox's namespace), and they are counted.
func TestOversizedEventsAreDeadLettered(t *testing.T) {
	e := newEnv(t, embeddedtest.NATS(t).ClientURL(), 1, time.Minute)
	l := newLayout(e)
	r := e.startRouterOn(routerConn(t, "a", e.urls), "a", router.Config{MaxEventBytes: 4096})
	e.publish(0, 5, l.guildOf)
	big := envelope(guildID(0), 5, 64<<10) // guild 0 routes to a sandbox
	if _, err := e.js.Publish(testCtx(t), sandbox.GatewaySubject("events.message.create"), big); err != nil {
		t.Fatal(err)
	}
	e.publish(6, 5, l.guildOf)
	eventually(t, "the small events routed", func() bool { return l.count() == 10 })
	s := settled(t, r)
	if s.DeadLetters != 1 {
		t.Fatalf("stats %+v", s)
	}
	st, err := e.js.Stream(testCtx(t), sandbox.StreamDeadLetter)
	if err != nil {
		t.Fatal(err)
	}
	m, err := st.GetLastMsgForSubject(testCtx(t), sandbox.DeadLetterSubject("events.message.create"))
	if err != nil {
		t.Fatal(err)
	}
	var ref router.DeadLetter
	if err := json.Unmarshal(m.Data, &ref); err != nil {
		t.Fatal(err)
	}
	gw, err := e.js.Stream(testCtx(t), sandbox.StreamGateway)
	if err != nil {
		t.Fatal(err)
	}
	ev, err := gw.GetMsg(testCtx(t), ref.GatewaySeq)
	if err != nil || string(ev.Data) != string(big) || ref.Bytes < len(big) || ref.Subject != ev.Subject {
		t.Fatalf("reference %+v does not lead to the event (%v)", ref, err)
	}
	for _, o := range l.outputs() {
		if o.i == 5 {
			t.Fatal("the oversized event was forwarded")
		}
	}
}

// Route values the router cannot decode route nowhere (production), and are counted.
func TestUndecodableRouteValuesRouteToProduction(t *testing.T) {
	e := newEnv(t, embeddedtest.NATS(t).ClientURL(), 1, time.Minute)
	e.route(guildID(0), "Not-An-ID")
	r := e.startRouterOn(routerConn(t, "a", e.urls), "a", router.Config{})
	e.publish(0, 3, func(int) string { return guildID(0) })
	eventually(t, "routed", func() bool { return e.count(sandbox.StreamEvents) == 3 && r.Counters().ToProduction == 3 })
	if s := r.Counters(); s.InvalidRoutes != 1 || s.Routes != 0 {
		t.Fatalf("stats %+v", s)
	}
}

// The router refuses a connection that would buffer publishes while reconnecting.
func TestStartRefusesABufferingConnection(t *testing.T) {
	e := newEnv(t, embeddedtest.NATS(t).ClientURL(), 1, time.Minute)
	_, err := router.Start(testCtx(t), e.nc, e.routes, router.Config{}, testLog(t, "x"))
	if err == nil || !strings.Contains(err.Error(), "ConnectOptions") {
		t.Fatalf("Start on a buffering connection: %v", err)
	}
	if _, err := e.js.Consumer(testCtx(t), sandbox.StreamGateway, "router"); err != jetstream.ErrConsumerNotFound {
		t.Fatalf("a refused router touched the consumer: %v", err)
	}
}

// A flood of 1 MB events goes through a window of a few MB, each stored once, with the
// router watching the routes bucket it opens itself on its own connection.
func TestLargeEventsFlowThroughASmallWindow(t *testing.T) {
	e := newEnv(t, embeddedtest.NATS(t).ClientURL(), 1, time.Minute)
	l := newLayout(e)
	r, err := router.Start(testCtx(t), routerConn(t, "a", e.urls), nil,
		router.Config{Instance: "a", WindowBytes: 3 << 20}, testLog(t, "a"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(r.Stop)
	const n = 40
	for i := range n {
		if _, err := e.js.PublishAsync(sandbox.GatewaySubject("events.member.join"), envelope(l.guildOf(i), i, 1<<20), noStall); err != nil {
			t.Fatal(err)
		}
	}
	<-e.js.PublishAsyncComplete()
	eventually(t, "every large event stored", func() bool { return l.count() == n })
	if s := settled(t, r); s.DeadLetters != 0 || s.Routes != guilds/4 {
		t.Fatalf("stats %+v", s)
	}
	l.check(t, 0, n)
}
