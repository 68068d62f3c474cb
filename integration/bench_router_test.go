package integration

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/arrakis/gaib/router"
	"github.com/arrakis/gaib/sandbox"
	"github.com/arrakis/gaib/services"
)

const (
	benchRoutes    = 10000
	benchEvents    = 50000 // drained for throughput
	benchRounds    = 3     // alternating router and pass-through runs; medians reported
	benchPaced     = 10000 // published at benchRate for latency
	benchRate      = 5000  // events/s
	benchEventSize = 1024
)

// benchEvent is a ~1 KB Arrakis envelope; the publish time (19 digits of Unix ns) opens
// it, so the receiver computes the added latency without parsing JSON.
func benchEvent(guild string, i int, sent time.Time) []byte {
	head := fmt.Sprintf(`{"ts":%019d,"event_id":"e-%d","event_type":"member.join","shard_id":0,"timestamp":%d,"guild_id":%q,"data":{"pad":"`,
		sent.UnixNano(), i, sent.UnixMilli(), guild)
	return []byte(head + strings.Repeat("x", max(0, benchEventSize-len(head)-3)) + `"}}`)
}

func sentAt(data []byte) time.Time {
	ns, _ := strconv.ParseInt(string(data[6:25]), 10, 64)
	return time.Unix(0, ns)
}

// benchGuild alternates routed (even) and unrouted (odd) guilds.
func benchGuild(i int) string {
	if i%2 == 0 {
		return fmt.Sprintf("1%017d", (i/2)%benchRoutes) // one of the registered guilds
	}
	return fmt.Sprintf("9%017d", i)
}

type routerRun struct {
	rate     float64
	lat      latencies
	toSbx    uint64
	received int
}

// runRouterBench loads the routes, fills the gateway, starts a router (cfg.Route set makes
// it a pass-through), and measures the drain rate and then the added latency at benchRate.
func runRouterBench(b *testing.B, cfg router.Config) routerRun {
	m := startMesh(b, services.MeshConfig{Only: []string{services.PartSandbox}})
	ctx := context.Background()
	// The guilds route to a hundred sandboxes, each with its own stream.
	ids := make([]string, 100)
	for i := range ids {
		ids[i] = sandbox.NewID()
		if err := m.Store.CreateSandboxStream(ctx, ids[i]); err != nil {
			b.Fatal(err)
		}
	}
	for g := range benchRoutes {
		if _, err := m.Store.ClaimRoute(ctx, fmt.Sprintf("1%017d", g), ids[g%len(ids)], false); err != nil {
			b.Fatal(err)
		}
	}
	js, _ := jetstream.New(m.NC, jetstream.WithPublishAsyncMaxPending(4096))
	// A separate connection receives the outputs, as a bot worker would.
	sub := m.Deployment.Mesh(b)
	var (
		mu       sync.Mutex
		received int
		lat      latencies
		measure  bool
		all      = make(chan struct{}, 1)
		target   = benchEvents
	)
	handler := func(msg *nats.Msg) {
		now := time.Now()
		mu.Lock()
		defer mu.Unlock()
		received++
		if measure {
			lat = append(lat, now.Sub(sentAt(msg.Data)))
		}
		if received == target {
			all <- struct{}{}
		}
	}
	for _, subj := range []string{"events.>", "sandbox.>"} {
		s, err := sub.Subscribe(subj, handler)
		if err != nil {
			b.Fatal(err)
		}
		_ = s.SetPendingLimits(-1, -1)
	}
	_ = sub.Flush()

	publish := func(i int) jetstream.PubAckFuture {
		f, err := js.PublishAsync("gateway.events.member.join", benchEvent(benchGuild(i), i, time.Now()))
		if err != nil {
			b.Fatal(err)
		}
		return f
	}
	for i := range benchEvents {
		publish(i)
	}
	<-js.PublishAsyncComplete()

	r, _ := startRouterB(b, m, cfg)
	start := time.Now()
	<-all
	rate := benchEvents / time.Since(start).Seconds()

	// Latency at a steady benchRate.
	mu.Lock()
	measure, target = true, benchEvents+benchPaced
	mu.Unlock()
	tick := time.NewTicker(time.Millisecond)
	perTick := benchRate / 1000
	for i := 0; i < benchPaced; {
		<-tick.C
		for j := 0; j < perTick && i < benchPaced; j++ {
			publish(benchEvents + i)
			i++
		}
	}
	tick.Stop()
	select {
	case <-all:
	case <-time.After(time.Minute):
		b.Fatal("paced events did not all arrive")
	}
	mu.Lock()
	defer mu.Unlock()
	return routerRun{rate: rate, lat: lat, toSbx: r.Stats(ctx).ToSandbox, received: received}
}

// BenchmarkRouter compares the router with 10,000 routes loaded against a bare pass-through
// (same consumer, same ordered async publish, same ack discipline, one fixed output
// subject) measured in the same run: benchRounds alternating runs of each on fresh
// servers, reporting the median rates and the pooled latency percentiles. Run it with:
//
//	go test ./integration -run '^$' -bench Router -benchtime 1x
func BenchmarkRouter(b *testing.B) {
	passthrough := router.Config{Route: func(string, []byte) string { return "events.passthrough" }}
	for range b.N {
		var baseRates, routedRates []float64
		var baseLat, routedLat latencies
		for range benchRounds {
			base := runRouterBench(b, passthrough)
			routed := runRouterBench(b, router.Config{})
			if routed.toSbx == 0 {
				b.Fatal("nothing was routed to a sandbox")
			}
			baseRates, routedRates = append(baseRates, base.rate), append(routedRates, routed.rate)
			baseLat, routedLat = append(baseLat, base.lat...), append(routedLat, routed.lat...)
		}
		b.ReportMetric(median(routedRates), "router-ev/s")
		b.ReportMetric(median(baseRates), "passthrough-ev/s")
		b.ReportMetric(median(routedRates)/median(baseRates), "throughput-ratio")
		routedLat.report(b, "router-")
		baseLat.report(b, "passthrough-")
	}
}

func median(xs []float64) float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	return s[len(s)/2]
}
