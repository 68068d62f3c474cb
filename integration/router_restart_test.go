package integration

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/arrakis/gaib/auth/authtest"
	"github.com/arrakis/gaib/router"
	"github.com/arrakis/gaib/sandbox"
	"github.com/arrakis/gaib/services"
)

// startRouter runs a router of its own, on its own connection (as a separate process
// would), until the returned crash is called: it cuts the connection first, so nothing in
// flight is acknowledged, no position is recorded and the lease is not handed over, the
// way a killed process leaves them.
func startRouter(t *testing.T, m *testMesh, cfg router.Config) (*router.Router, func()) {
	return startRouterB(t, m, cfg)
}

func startRouterB(t testing.TB, m *testMesh, cfg router.Config) (*router.Router, func()) {
	t.Helper()
	creds, err := m.Deployment.MeshCreds()
	if err != nil {
		t.Fatal(err)
	}
	nc := authtest.Connect(t, m.URL, creds, router.ConnectOptions("router")...)
	if cfg.PublishTimeout == 0 {
		cfg.PublishTimeout = 2 * time.Second // how long a crashed router's Stop waits
	}
	r, err := router.Start(context.Background(), nc, nil, cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	crash := func() { nc.Close(); r.Stop() }
	t.Cleanup(crash)
	return r, crash
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
	checkRouted(t, js, total, guild, routed)
	t.Logf("crashed after %d events; all %d delivered once, in per-guild order", crashedAt, total)
}
