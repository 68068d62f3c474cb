package router_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/arrakis/gaib/embedded/embeddedtest"
	"github.com/arrakis/gaib/router"
	"github.com/arrakis/gaib/sandbox"
)

const (
	benchRoutes = 1000
	benchDrain  = 20000 // events drained from a full gateway, for throughput
	benchPaced  = 4000  // events published at benchRate, for latency
	benchRate   = 4000  // events/s
	benchSize   = 1024
	benchRounds = 3 // alternating runs of each variant; medians and pooled percentiles
)

// benchEvent is a ~1 KB envelope that opens with its publish time (Unix ns), so the
// receiver measures the latency without parsing JSON.
func benchEvent(i int, sent time.Time) []byte {
	guild := fmt.Sprintf("9%017d", i)
	if i%2 == 0 {
		guild = fmt.Sprintf("1%017d", (i/2)%benchRoutes) // a routed guild
	}
	head := fmt.Sprintf(`{"ts":%019d,"event_type":"member.join","guild_id":%q,"data":{"pad":"`, sent.UnixNano(), guild)
	return []byte(head + strings.Repeat("x", max(0, benchSize-len(head)-3)) + `"}}`)
}

func sentAt(data []byte) time.Time {
	ns, _ := strconv.ParseInt(string(data[6:25]), 10, 64)
	return time.Unix(0, ns)
}

// starter starts a router variant against the server at url, with the routes in the
// bucket and, for variants that do not watch it, in a map; it returns its stop.
type starter func(b *testing.B, url string, routes jetstream.KeyValue, table map[string]string) func()

// benchRun is one variant's drain rate and latencies.
type benchRun struct {
	rate float64
	lat  []time.Duration
}

// runBench fills a fresh gateway, starts a router made by start, and measures the drain
// rate, then the latency of events published at benchRate.
func runBench(b *testing.B, start starter) benchRun {
	url := embeddedtest.NATS(b).ClientURL()
	e := newEnv(b, url, 1, 2*time.Minute)
	if _, err := e.js.CreateStream(context.Background(), jetstream.StreamConfig{
		Name: "BENCH_SANDBOXES", Storage: jetstream.FileStorage, // one stream for every sandbox: the bench measures the router
		Subjects: []string{sandbox.SandboxPrefix + ".*." + sandbox.EventsPrefix + ".>"},
	}); err != nil {
		b.Fatal(err)
	}
	table := map[string]string{}
	for g := range benchRoutes {
		guild, id := fmt.Sprintf("1%017d", g), sandbox.NewID()
		e.route(guild, id)
		table[guild] = id
	}
	sub, err := nats.Connect(url)
	if err != nil {
		b.Fatal(err)
	}
	defer sub.Close()
	var (
		mu       sync.Mutex
		received int
		target   = benchDrain
		measure  bool
		lat      []time.Duration
		all      = make(chan struct{}, 1)
	)
	handler := func(m *nats.Msg) {
		now := time.Now()
		mu.Lock()
		defer mu.Unlock()
		received++
		if measure {
			lat = append(lat, now.Sub(sentAt(m.Data)))
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
	publish := func(i int) {
		if _, err := e.js.PublishAsync(sandbox.GatewaySubject("events.member.join"), benchEvent(i, time.Now()), noStall); err != nil {
			b.Fatal(err)
		}
	}
	for i := range benchDrain {
		publish(i)
	}
	<-e.js.PublishAsyncComplete()

	stop := start(b, url, e.routes, table)
	defer stop()
	began := time.Now()
	select {
	case <-all:
	case <-time.After(2 * time.Minute):
		b.Fatal("drain did not finish")
	}
	rate := benchDrain / time.Since(began).Seconds()

	mu.Lock()
	measure, target = true, benchDrain+benchPaced
	mu.Unlock()
	tick := time.NewTicker(time.Millisecond)
	for i := 0; i < benchPaced; {
		<-tick.C
		for j := 0; j < benchRate/1000 && i < benchPaced; j++ {
			publish(benchDrain + i)
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
	return benchRun{rate: rate, lat: lat}
}

// startRouter runs the real router (cfg.Route set makes it a pass-through through the
// same machinery).
func startRouter(cfg router.Config) starter {
	return func(b *testing.B, url string, routes jetstream.KeyValue, _ map[string]string) func() {
		nc := routerConn(b, "bench", url)
		r, err := router.Start(context.Background(), nc, routes, cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
		if err != nil {
			b.Fatal(err)
		}
		return r.Stop
	}
}

// passthroughSubject alternates production and one sandbox, as the router's outputs
// alternate between the production and sandbox streams (one stream each), without
// looking at the event.
var passthroughN atomic.Uint64

func passthroughSubject() string {
	if passthroughN.Add(1)%2 == 0 {
		return "events.passthrough"
	}
	return "sandbox.passthrough.events.passthrough"
}

// bare is a router with the hot-path discipline the router had before it kept a
// position, and nothing else: the same pulls, ordered asynchronous publishes in a window
// with the gateway message id, acknowledgement after each output is stored; no lease, no
// recorded position, no sequence header. route is nil for a pass-through (subjects
// alternating like the router's destinations), else it routes by guild through table as
// the router does.
func bare(route bool) starter {
	return func(b *testing.B, url string, _ jetstream.KeyValue, table map[string]string) func() {
		subject := func(m jetstream.Msg) string { return passthroughSubject() }
		if route {
			subject = func(m jetstream.Msg) string {
				out, _ := sandbox.StripGateway(m.Subject())
				if guild, _ := router.GuildID(m.Data()); guild != "" {
					if id, ok := table[guild]; ok {
						return sandbox.SandboxSubject(id, out)
					}
				}
				return out
			}
		}
		return startBare(b, url, subject)
	}
}

func startBare(b *testing.B, url string, subject func(jetstream.Msg) string) func() {
	nc := routerConn(b, "bare", url)
	js, err := jetstream.New(nc, jetstream.WithPublishAsyncMaxPending(2048))
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cons, err := js.CreateOrUpdateConsumer(ctx, sandbox.StreamGateway, jetstream.ConsumerConfig{
		Durable: "bare", AckPolicy: jetstream.AckAllPolicy, MaxAckPending: 4096,
	})
	if err != nil {
		b.Fatal(err)
	}
	it, err := cons.Messages(jetstream.PullMaxMessages(1024))
	if err != nil {
		b.Fatal(err)
	}
	type pending struct {
		in  jetstream.Msg
		ack jetstream.PubAckFuture
	}
	queue := make(chan pending, 1024)
	var wg sync.WaitGroup
	wg.Go(func() {
		defer close(queue)
		for {
			m, err := it.Next()
			if err != nil {
				return
			}
			meta, err := m.Metadata()
			if err != nil {
				return
			}
			out := &nats.Msg{Subject: subject(m), Data: m.Data(), Header: nats.Header{}}
			out.Header.Set(jetstream.MsgIDHeader, sandbox.GatewayMsgID(meta.Sequence.Stream, meta.Timestamp.UnixNano()))
			f, err := js.PublishMsgAsync(out)
			if err != nil {
				return
			}
			queue <- pending{m, f}
		}
	})
	wg.Go(func() {
		for p := range queue {
			select {
			case <-p.ack.Ok():
			case <-p.ack.Err():
			case <-ctx.Done():
				return
			}
			if len(queue) == 0 {
				_ = p.in.Ack()
			}
		}
	})
	return func() { cancel(); it.Stop(); wg.Wait() }
}

func percentile(ds []time.Duration, p float64) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[int(float64(len(s)-1)*p)]
}

func median(xs []float64) float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	return s[len(s)/2]
}

// BenchmarkRouter measures, in one run on fresh servers each time, the router's cost of
// its bookkeeping (lease, recorded position, sequence headers, byte budgets): the router
// against a bare router routing the same way without it, and the router as a pass-through
// (Route override) against a bare pass-through; and, as before, the cost of routing (the
// router against its pass-through). Run it with:
//
//	go test ./router -run '^$' -bench Router -benchtime 1x
func BenchmarkRouter(b *testing.B) {
	variants := []struct {
		name  string
		start starter
	}{
		{"router", startRouter(router.Config{})},
		{"bare-routed", bare(true)},
		{"passthrough", startRouter(router.Config{Route: func(string, []byte) string { return passthroughSubject() }})},
		{"bare", bare(false)},
	}
	for range b.N {
		rates := map[string][]float64{}
		lats := map[string][]time.Duration{}
		for range benchRounds {
			for _, v := range variants {
				run := runBench(b, v.start)
				rates[v.name] = append(rates[v.name], run.rate)
				lats[v.name] = append(lats[v.name], run.lat...)
			}
		}
		for _, v := range variants {
			b.ReportMetric(median(rates[v.name]), v.name+"-ev/s")
			b.ReportMetric(float64(percentile(lats[v.name], 0.5).Microseconds()), v.name+"-p50-µs")
			b.ReportMetric(float64(percentile(lats[v.name], 0.99).Microseconds()), v.name+"-p99-µs")
		}
		ratio := func(a, z string) float64 { return median(rates[a]) / median(rates[z]) }
		p99 := func(a, z string) float64 {
			return float64(percentile(lats[z], 0.99)) / float64(percentile(lats[a], 0.99))
		}
		b.ReportMetric(ratio("router", "bare-routed"), "x-router/bare-routed")
		b.ReportMetric(ratio("passthrough", "bare"), "x-passthrough/bare")
		b.ReportMetric(ratio("router", "passthrough"), "x-router/passthrough")
		b.ReportMetric(p99("router", "bare-routed"), "p99x-bare-routed/router")
		b.ReportMetric(p99("passthrough", "bare"), "p99x-bare/passthrough")
	}
}
