package integration

import (
	"context"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/arrakis/gaib/client"
	"github.com/arrakis/gaib/router"
	"github.com/arrakis/gaib/sandbox"
	"github.com/arrakis/gaib/services"
)

const (
	// floodEventSize is a 1 MiB event less room for the router's headers: the largest the
	// router forwards on a server with the default 1 MiB max payload.
	floodEventSize = 1<<20 - 1<<10
	// floodInflight bounds the gateway publisher's unacknowledged events, as the gateway's
	// own publish window does.
	floodInflight = 4
)

// bigEvent is an Arrakis envelope of guild numbered seq, padded to size bytes.
func bigEvent(guild string, seq, size int) []byte {
	b := fmt.Appendf(make([]byte, 0, size), `{"event_id":"e-%d","event_type":"member.join","shard_id":0,"guild_id":%q,"data":{"seq":%d,"pad":"`, seq, guild, seq)
	for len(b) < size-3 {
		b = append(b, 'x')
	}
	return append(b, `"}}`...)
}

// flood publishes n events of floodEventSize bytes to the gateway on nc, event i for guild
// guildOf(i), at most floodInflight unacknowledged, and returns once all are stored.
func flood(t testing.TB, nc *nats.Conn, n int, guildOf func(int) string) {
	t.Helper()
	js, err := jetstream.New(nc, jetstream.WithPublishAsyncMaxPending(floodInflight))
	if err != nil {
		t.Error(err)
		return
	}
	for i := range n {
		if _, err := js.PublishAsync("gateway.events.member.join", bigEvent(guildOf(i), i, floodEventSize), noStallWait); err != nil {
			t.Errorf("publish event %d: %v", i, err)
			return
		}
	}
	select {
	case <-js.PublishAsyncComplete():
	case <-time.After(2 * time.Minute):
		t.Error("the gateway did not store the flood within 2 minutes")
	}
}

// noStallWait lets the flood's publisher wait for room in its window as long as the
// server needs.
var noStallWait = jetstream.WithStallWait(time.Minute)

// controlPlaneCycle creates sandbox name, gets it, lists, and destroys it through c, as
// `gaib sandbox create/get/list/destroy` do, and returns the latency of each request.
func controlPlaneCycle(ctx context.Context, c *client.Client, name string) (reads, writes []time.Duration, err error) {
	timed := func(to *[]time.Duration, call func() error) error {
		start := time.Now()
		err := call()
		*to = append(*to, time.Since(start))
		return err
	}
	var rec sandbox.Record
	steps := []struct {
		to   *[]time.Duration
		call func() error
	}{
		{&writes, func() (err error) { rec, err = c.Create(ctx, sandbox.CreateRequest{Name: name}); return err }},
		{&reads, func() error { _, err := c.Get(ctx, rec.ID); return err }},
		{&reads, func() error { _, err := c.List(ctx, sandbox.ListRequest{}); return err }},
		{&writes, func() error { _, err := c.Destroy(ctx, rec.ID); return err }},
	}
	for _, s := range steps {
		if err := timed(s.to, s.call); err != nil {
			return reads, writes, err
		}
	}
	return reads, writes, nil
}

// heapPeak samples the heap in use every 10ms until stop is closed, and returns the
// highest sample on done.
func heapPeak(stop <-chan struct{}) <-chan uint64 {
	done := make(chan uint64, 1)
	go func() {
		var peak uint64
		var ms runtime.MemStats
		for {
			runtime.ReadMemStats(&ms)
			peak = max(peak, ms.HeapInuse)
			select {
			case <-stop:
				done <- peak
				return
			case <-time.After(10 * time.Millisecond):
			}
		}
	}()
	return done
}

// heapSettled is the heap in use after two collections (the second frees what pools
// kept through the first).
func heapSettled() uint64 {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapInuse
}

// TestFloodOf1MBEventsLeavesTheControlPlaneAnsweringInBoundedMemory floods the gateway
// with 300 events of 1 MiB (a quarter routed to a sandbox) while a client runs create, get,
// list and destroy without pause: every control-plane request succeeds (at least one
// create-get-list-destroy cycle while the flood runs), every event is stored downstream
// once, and the heap in use of the process running the mesh and its router never grows by
// more than the live heap before the flood plus floodHeapBound (80 MiB): a fraction of
// the 300 MiB that went through it. The NATS server runs in a process of its own, as in
// production, so that what is measured is gaib's memory (the server's is bounded by its
// own block caches).
func TestFloodOf1MBEventsLeavesTheControlPlaneAnsweringInBoundedMemory(t *testing.T) {
	const n = 300
	url := natsProcess(t)
	limits := testLimits
	limits.EventsMaxBytes = int64(n+16) * floodEventSize // the gateway keeps the whole flood
	in := startInstance(t, url, limits, services.MeshConfig{Router: router.Config{WindowBytes: floodWindowBytes}})
	ctx := context.Background()
	c := cliClient(t, url)
	routedTo, err := c.Create(ctx, sandbox.CreateRequest{Name: "flooded", Guilds: []string{guildA}})
	if err != nil {
		t.Fatal(err)
	}
	guildOf := func(i int) string { return map[bool]string{true: guildA, false: guildB}[i%4 == 0] }
	gateway := reconnectingConn(t, url, "gateway")

	before := heapSettled()
	stopSampling := make(chan struct{})
	peak := heapPeak(stopSampling)
	floodDone := make(chan struct{})
	var requests, cycles, during atomic.Int64 // during: cycles completed before the flood was routed
	var wg sync.WaitGroup
	wg.Go(func() {
		for i := 0; ; i++ {
			select {
			case <-floodDone:
				return
			default:
			}
			reads, writes, err := controlPlaneCycle(ctx, c, fmt.Sprintf("cp-%d", i))
			requests.Add(int64(len(reads) + len(writes)))
			if err != nil {
				t.Errorf("control-plane request %d during the flood: %v", requests.Load(), err)
				return
			}
			cycles.Add(1)
		}
	})
	flood(t, gateway, n, guildOf)
	eventually(t, "the flood to be routed", func() bool { return in.Mesh.Router.Stats(ctx).EventsIn >= uint64(n) })
	during.Store(cycles.Load())
	close(floodDone)
	wg.Wait()
	close(stopSampling)
	grew := int64(<-peak) - int64(before)

	js, _ := jetstream.New(in.NC)
	waitCounts(t, js, map[string]uint64{sandbox.StreamEvents: uint64(n - n/4)})
	// The sandbox's stream keeps its last few MiB: count what it ever stored.
	st, err := js.Stream(ctx, sandbox.SandboxStream(routedTo.ID))
	if err != nil {
		t.Fatal(err)
	}
	if last := st.CachedInfo().State.LastSeq; last != uint64(n/4) {
		t.Fatalf("the sandbox's stream stored %d events, want %d", last, n/4)
	}
	if s := in.Mesh.Router.Stats(ctx); s.EventsIn != uint64(n) || s.DeadLetters != 0 || s.PublishErrors != 0 {
		t.Fatalf("router after the flood: %+v", s)
	}
	bound := int64(before) + floodHeapBound(in.RouterNC.MaxPayload())
	t.Logf("%d MiB flooded; %d control-plane requests (%d cycles, %d while the flood ran) all answered; heap in use %d MiB before, grew %d MiB at most (bound %d MiB)",
		n*floodEventSize>>20, requests.Load(), cycles.Load(), during.Load(), before>>20, grew>>20, bound>>20)
	if during.Load() < 1 {
		t.Fatal("no control-plane request completed while the flood ran")
	}
	if grew > bound {
		t.Fatalf("the heap in use grew by %d MiB during the flood, more than the %d MiB bound", grew>>20, bound>>20)
	}
}

// floodWindowBytes is the router's publish window in the flood test.
const floodWindowBytes = 8 << 20

// floodHeapBound is how much the heap in use may grow during the flood beyond the live
// heap before it (the collector lets the heap grow to twice the live heap, GOGC=100, so
// the growth allowed includes the live heap before the flood once): what the process may
// hold at once for the flood, doubled because nats.go copies what it publishes into the
// connection's buffer until it is written, and doubled again for the collector. What it
// may hold at once:
//   - the router: its publish window (WindowBytes) and its pulls, about twice PullBytes
//     (4 MiB, raised to the server's max payload + 64 KiB when that is larger);
//   - the gateway publisher's window (floodInflight events).
//
// That is 80 MiB: memory that grew with the flood (the router holding what it read, the
// control plane's connection buffering events) would exceed it, the flood being 300 MiB.
func floodHeapBound(maxPayload int64) int64 {
	pull := max(int64(4<<20), maxPayload+64<<10)
	router := int64(floodWindowBytes) + 2*pull
	publisher := int64(floodInflight * floodEventSize)
	return 2 * 2 * (router + publisher)
}
