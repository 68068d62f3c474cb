package jetstream_test

import (
	"context"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/arrakis/gaib/embedded/embeddedtest"
	gjs "github.com/arrakis/gaib/jetstream"
	"github.com/arrakis/gaib/sandbox"
)

// Right after a node of a 3-node cluster returns, the meta leader has not heard from it
// yet and refuses to place new R3 streams ("no suitable peers for placement, peer
// offline") for a second or two: creating a sandbox's stream then waits it out instead of
// failing for good.
func TestSandboxStreamRightAfterANodeReturnsIsCreated(t *testing.T) {
	c := embeddedtest.Cluster(t, 3, embeddedtest.ClusterOptions{})
	nc, err := nats.Connect(c.URLs(), nats.MaxReconnects(-1), nats.ReconnectWait(100*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	store, err := gjs.Open(ctx, js, gjs.Config{Replicas: 3, EventsMaxBytes: 8 << 20, AuditMaxBytes: 8 << 20,
		BucketMaxBytes: 1 << 20, SandboxStreamMaxBytes: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	lost := -1
	for i := range c.N() {
		if s := c.Server(i); s.Name() != nc.ConnectedServerName() && !s.JetStreamIsLeader() {
			lost = i // neither the meta leader nor the store's server: only placement is hit
		}
	}
	c.Stop(lost)
	c.Restart(lost)
	for range 3 {
		if err := store.CreateSandboxStream(ctx, sandbox.NewID()); err != nil {
			t.Fatalf("a sandbox stream right after a node returned: %v", err)
		}
	}
}
