package embeddedtest_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/arrakis/gaib/embedded/embeddedtest"
)

// A replicated stream keeps accepting writes with a node down, and the node catches up
// when it returns on its store.
func TestClusterSurvivesNodeLossAndReturn(t *testing.T) {
	configured := map[int]bool{}
	c := embeddedtest.Cluster(t, 3, embeddedtest.ClusterOptions{
		Configure: func(i int, o *server.Options) { configured[i] = true },
	})
	if len(configured) != 3 || c.N() != 3 {
		t.Fatalf("Configure called for %v", configured)
	}
	nc, err := nats.Connect(c.URLs(), nats.MaxReconnects(-1), nats.ReconnectWait(100*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	st, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "R3", Subjects: []string{"r3.>"}, Replicas: 3})
	if err != nil {
		t.Fatal(err)
	}
	sent := 0
	publish := func(n int) {
		for range n {
			sent++
			i := sent
			for {
				pctx, cancel := context.WithTimeout(ctx, 2*time.Second)
				_, err := js.Publish(pctx, "r3.x", []byte("x"), jetstream.WithMsgID(fmt.Sprint(i)))
				cancel()
				if err == nil {
					break
				}
				time.Sleep(50 * time.Millisecond) // a leader election
			}
		}
	}
	publish(10)
	leader := st.CachedInfo().Cluster.Leader
	var down int
	for i := range c.N() {
		if c.Server(i).Name() == leader {
			down = i
		}
	}
	c.Stop(down)
	if c.Server(down) != nil {
		t.Fatal("stopped node still listed")
	}
	publish(10)
	c.Restart(down)
	// The returned node catches up with the stream it missed writes to.
	deadline := time.Now().Add(30 * time.Second)
	for {
		s, err := js.Stream(ctx, "R3")
		if err == nil && s.CachedInfo().State.Msgs == 20 && c.Server(down).JetStreamIsStreamCurrent(server.DEFAULT_GLOBAL_ACCOUNT, "R3") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("stream not caught up on the returned node: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
