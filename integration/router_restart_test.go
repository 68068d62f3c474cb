package integration

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/arrakis/gaib/router"
	"github.com/arrakis/gaib/sandbox"
	"github.com/arrakis/gaib/services"
)

// startRouter runs a router of its own (as a separate process would) until the returned
// stop is called; stop cancels it without waiting for in-flight acknowledgements, the way
// a crash leaves them.
func startRouter(t *testing.T, m *testMesh, cfg router.Config) (*router.Router, func()) {
	return startRouterB(t, m, cfg)
}

func startRouterB(t testing.TB, m *testMesh, cfg router.Config) (*router.Router, func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	table := router.NewTable()
	loaded := make(chan struct{})
	go func() { _ = router.Watch(ctx, m.Store.RoutesBucket(), table, loaded) }()
	<-loaded
	// A connection of its own, as a router process has.
	js, err := jetstream.New(m.Deployment.Mesh(t), jetstream.WithPublishAsyncMaxPending(4096))
	if err != nil {
		t.Fatal(err)
	}
	r := router.New(js, table, cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := r.Run(ctx); err != nil && ctx.Err() == nil {
			t.Errorf("router: %v", err)
		}
	}()
	stop := func() { cancel(); <-done }
	t.Cleanup(stop)
	return r, stop
}

func TestRouterRestartMidStreamDeliversEachEventOnceInOrder(t *testing.T) {
	m := startMesh(t, services.MeshConfig{Only: []string{services.PartSandbox}})
	js, _ := jetstream.New(m.NC, jetstream.WithPublishAsyncMaxPending(4096))
	const (
		total  = 10000
		guilds = 20
	)
	guild := func(i int) string { return fmt.Sprintf("1000000000000000%02d", i%guilds) }
	routed := map[string]string{} // guild → sandbox id, for a quarter of the guilds
	for g := 0; g < guilds; g += 4 {
		rec := m.gaib(t, "--json", "sandbox", "create", fmt.Sprintf("r%d", g), "--guild", guild(g)).must(t).record(t)
		routed[guild(g)] = rec.ID
	}
	// Publish the whole stream first, then route it with a crash in the middle.
	var futures []jetstream.PubAckFuture
	for i := range total {
		f, err := js.PublishAsync("gateway.events.member.join", envelope(guild(i), "member.join", i))
		if err != nil {
			t.Fatal(err)
		}
		futures = append(futures, f)
	}
	for _, f := range futures {
		select {
		case <-f.Ok():
		case err := <-f.Err():
			t.Fatal(err)
		}
	}

	cfg := router.Config{AckWait: time.Second, Window: 256}
	first, stop := startRouter(t, m, cfg)
	eventually(t, "the first router to get a third through", func() bool {
		return first.Stats(context.Background()).EventsIn >= total/3
	})
	stop() // crash: in-flight events are neither all published nor acknowledged
	crashedAt := first.Stats(context.Background()).EventsIn
	if crashedAt >= total {
		t.Fatalf("the first router finished before the crash (%d)", crashedAt)
	}
	second, _ := startRouter(t, m, cfg)
	defer func() {
		if t.Failed() {
			t.Logf("first %+v second %+v events %d", first.Stats(context.Background()), second.Stats(context.Background()),
				streamCount(t, js, sandbox.StreamEvents))
		}
	}()

	// Each routed guild's sandbox has its own stream with its share of the events.
	want := map[string]uint64{sandbox.StreamEvents: total - uint64(total*len(routed)/guilds)}
	streams := []string{sandbox.StreamEvents}
	for _, id := range routed {
		want[sandbox.SandboxStream(id)] = total / guilds
		streams = append(streams, sandbox.SandboxStream(id))
	}
	waitCounts(t, js, want)
	seen := make([]bool, total)
	lastSeq := map[string]int{}
	for _, stream := range streams {
		for _, msg := range readStream(t, js, stream) {
			var ev struct {
				GuildID string         `json:"guild_id"`
				Data    map[string]int `json:"data"`
			}
			if err := json.Unmarshal(msg.Data, &ev); err != nil {
				t.Fatal(err)
			}
			i := ev.Data["seq"]
			if seen[i] {
				t.Fatalf("event %d stored twice", i)
			}
			seen[i] = true
			if prev, ok := lastSeq[ev.GuildID]; ok && prev > i {
				t.Fatalf("guild %s: event %d stored after %d", ev.GuildID, i, prev)
			}
			lastSeq[ev.GuildID] = i
			id, isRouted := routed[ev.GuildID]
			want := "events.member.join"
			if isRouted {
				want = sandbox.SandboxSubject(id, want)
			}
			if msg.Subject != want {
				t.Fatalf("event %d of guild %s went to %s, want %s", i, ev.GuildID, msg.Subject, want)
			}
		}
	}
	for i, ok := range seen {
		if !ok {
			t.Fatalf("event %d was lost", i)
		}
	}
	t.Logf("crashed after %d events; all %d delivered once, in per-guild order", crashedAt, total)
}
