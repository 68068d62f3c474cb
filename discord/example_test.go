package discord_test

import (
	"context"
	"log"
	"net/http"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/arrakis/gaib/discord"
	"github.com/arrakis/gaib/sandbox"
)

// How `gaib serve` wires the proxy: the lead's SandboxLookup over the sandbox records,
// the router's route table, the mesh's JetStream and metrics registry.
func Example() {
	var (
		ctx      = context.Background()
		js       jetstream.JetStream   // the mesh's JetStream
		records  discord.SandboxLookup // id → name, running, guilds
		table    discord.GuildRoutes   // router.Table
		registry = prometheus.NewRegistry()
	)
	proxy, err := discord.New(ctx, discord.Config{
		Token:     "bot token read from --discord-token-file",
		Secret:    sandbox.Secret("the server secret"),
		PublicURL: "http://gaib.internal:8090", // what workers reach --discord-listen at
	}, discord.Deps{Sandboxes: records, Routes: table, JetStream: js, Registerer: registry})
	if err != nil {
		log.Fatal(err)
	}
	go func() { _ = proxy.Run(ctx, nil) }()              // interactions and the deadline guard
	routerHook := func(subject string, payload []byte) { // the router, for every gateway event
		proxy.Observe(subject, payload)
	}
	_ = routerHook
	_ = proxy.Env("k3v9x0a1bc")   // DISCORD_API_BASE_URL and DISCORD_TOKEN for connect/run
	_ = proxy.Usage("k3v9x0a1bc") // for `gaib sandbox status`
	log.Fatal(http.ListenAndServe(":8090", proxy))
}
