package router_test

import (
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/arrakis/gaib/embedded/embeddedtest"
	"github.com/arrakis/gaib/router"
	"github.com/arrakis/gaib/sandbox"
)

// seen records what the router showed its observer.
type seen struct {
	mu           sync.Mutex
	read         []string
	interactions []string
}

func (s *seen) Observe(subject string, payload []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.read = append(s.read, subject)
}

func (s *seen) ObserveInteraction(subject string, payload []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.interactions = append(s.interactions, subject+" "+string(payload))
}

// The observer sees every gateway event the router reads and, once stored, every
// interaction routed to a sandbox; not the production ones, and not what a worker
// publishes on its own commands subjects.
func TestObserverSeesReadsAndSandboxInteractions(t *testing.T) {
	e := newEnv(t, embeddedtest.NATS(t).ClientURL(), 1, time.Minute)
	routed, other := guildID(1), guildID(2)
	id := sandbox.NewID()
	stream := e.sandboxStream(id)
	e.route(routed, id)
	obs := &seen{}
	r := e.startRouterOn(routerConn(t, "a", e.urls), "a", router.Config{Observer: obs})
	// A worker posing an interaction on its own namespace: stored in its stream, never seen.
	if _, err := e.js.Publish(testCtx(t), sandbox.SandboxSubject(id, "commands.interaction"), []byte(`{"forged":true}`)); err != nil {
		t.Fatal(err)
	}
	for _, g := range []string{routed, other} {
		for _, subject := range []string{"events.member.join", "commands.interaction"} {
			if _, err := e.js.Publish(testCtx(t), sandbox.GatewaySubject(subject), []byte(`{"guild_id":"`+g+`","event_type":"x"}`)); err != nil {
				t.Fatal(err)
			}
		}
	}
	eventually(t, "every event routed", func() bool { return e.count(sandbox.StreamEvents, sandbox.StreamCommands, stream) == 5 })
	settled(t, r)
	obs.mu.Lock()
	defer obs.mu.Unlock()
	if len(obs.read) != 4 {
		t.Errorf("the observer saw %d reads, want 4: %v", len(obs.read), obs.read)
	}
	if len(obs.interactions) != 1 || !strings.HasPrefix(obs.interactions[0], sandbox.SandboxSubject(id, "commands.interaction")+" ") ||
		!strings.Contains(obs.interactions[0], routed) {
		t.Errorf("the observer saw the interactions %q, want only the one routed to %s", obs.interactions, id)
	}
}

// A worker may publish into its own stream, with any header: one guessing the message id
// of the next routed event (its gateway sequence is easy to guess) must not make its stream
// drop that event as a duplicate.
func TestAGuessedMessageIDDoesNotSwallowARoutedEvent(t *testing.T) {
	e := newEnv(t, embeddedtest.NATS(t).ClientURL(), 1, time.Minute)
	id := sandbox.NewID()
	stream := e.sandboxStream(id)
	guild := guildID(1)
	e.route(guild, id)
	for _, guess := range []string{"gw-1", "gw-1-0", "gw-1-1"} {
		m := nats.NewMsg(sandbox.SandboxSubject(id, "events.member.join"))
		m.Header.Set(jetstream.MsgIDHeader, guess)
		m.Data = []byte(`{"forged":true}`)
		if _, err := e.js.PublishMsg(testCtx(t), m); err != nil {
			t.Fatal(err)
		}
	}
	r := e.startRouterOn(routerConn(t, "a", e.urls), "a", router.Config{})
	e.publish(0, 1, func(int) string { return guild })
	eventually(t, "the routed event in the sandbox's stream", func() bool { return e.count(stream) == 4 })
	if s := settled(t, r); s.ToSandbox != 1 {
		t.Fatalf("stats: %+v", s)
	}
}
