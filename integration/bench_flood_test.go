package integration

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/arrakis/gaib/sandbox"
	"github.com/arrakis/gaib/services"
)

// benchCycles is how many create-get-list-destroy cycles each phase measures.
const benchCycles = 100

// BenchmarkControlPlaneDuringFlood measures the control plane's latency (create, get,
// list, destroy through the client, as the CLI calls them) while the gateway is flooded
// with 1 MiB events at full speed, against the same requests on the idle mesh measured
// in the same run as the base. The NATS server runs in a process of its own; the mesh runs
// every part with the router's default windows. Run it with:
//
//	go test ./integration -run '^$' -bench ControlPlaneDuringFlood -benchtime 1x
func BenchmarkControlPlaneDuringFlood(b *testing.B) {
	for range b.N {
		url := natsProcess(b)
		limits := testLimits
		limits.EventsMaxBytes = 512 << 20 // the oldest routed events make room for the flood
		in := startInstance(b, url, limits, services.MeshConfig{})
		c := cliClient(b, url)
		ctx := context.Background()
		if _, err := c.Create(ctx, sandbox.CreateRequest{Name: "flooded", Guilds: []string{guildA}}); err != nil {
			b.Fatal(err)
		}
		cycles := func(phase string) (reads, writes latencies) {
			for i := range benchCycles {
				r, w, err := controlPlaneCycle(ctx, c, fmt.Sprintf("%s-%d", phase, i))
				if err != nil {
					b.Fatalf("%s: %v", phase, err)
				}
				reads, writes = append(reads, r...), append(writes, w...)
			}
			return reads, writes
		}
		idleReads, idleWrites := cycles("idle")

		// The flood: 1 MiB events at full speed (floodInflight unacknowledged), a quarter
		// routed to a sandbox, until the measurement ends.
		stop, flooded := make(chan struct{}), make(chan int)
		gateway := reconnectingConn(b, url, "gateway")
		go func() {
			js, _ := jetstream.New(gateway, jetstream.WithPublishAsyncMaxPending(floodInflight))
			n := 0
			defer func() { <-js.PublishAsyncComplete(); flooded <- n }()
			for ; ; n++ {
				select {
				case <-stop:
					return
				default:
				}
				guild := map[bool]string{true: guildA, false: guildB}[n%4 == 0]
				if _, err := js.PublishAsync("gateway.events.member.join", bigEvent(guild, n, floodEventSize), noStallWait); err != nil {
					b.Error(err)
					return
				}
			}
		}()
		start := time.Now()
		floodReads, floodWrites := cycles("flood")
		took := time.Since(start)
		close(stop)
		n := <-flooded
		b.ReportMetric(float64(n)*floodEventSize/(1<<20)/took.Seconds(), "flood-MiB/s")
		idleReads.report(b, "idle-read-")
		floodReads.report(b, "flood-read-")
		idleWrites.report(b, "idle-write-")
		floodWrites.report(b, "flood-write-")
		b.ReportMetric(float64(floodReads.percentile(0.99))/float64(idleReads.percentile(0.99)), "read-p99-ratio")
		b.ReportMetric(float64(floodWrites.percentile(0.99))/float64(idleWrites.percentile(0.99)), "write-p99-ratio")
		if s := in.Mesh.Router.Stats(ctx); s.DeadLetters != 0 {
			b.Fatalf("router: %+v", s)
		}
	}
}
