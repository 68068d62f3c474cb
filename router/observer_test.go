package router_test

import (
	"strings"
	"sync"
	"testing"
	"time"

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
