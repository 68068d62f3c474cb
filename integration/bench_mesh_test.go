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

// BenchmarkCreateDestroy measures create+destroy round trips through the CLI client against
// an embedded server (no Postgres/Redis planes), and in the same run a bare KV put+get on
// the same server as the base, so the mesh's overhead is reported as a ratio.
//
//	go test ./integration -run '^$' -bench CreateDestroy -benchtime 2000x
func BenchmarkCreateDestroy(b *testing.B) {
	m := startMesh(b, services.MeshConfig{Workers: 4, Sandbox: services.SandboxConfig{MaxPerOwner: 1 << 20}})
	ctx := context.Background()
	c := m.client(tester)

	// Base: a bare KV put+get round trip.
	js, _ := jetstream.New(m.NC)
	kv, err := js.CreateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: "bench_base"})
	if err != nil {
		b.Fatal(err)
	}
	const baseOps = 1000
	var base latencies
	baseStart := time.Now()
	for i := range baseOps {
		t0 := time.Now()
		key := fmt.Sprintf("k%d", i%100)
		if _, err := kv.Put(ctx, key, []byte("value")); err != nil {
			b.Fatal(err)
		}
		if _, err := kv.Get(ctx, key); err != nil {
			b.Fatal(err)
		}
		base = append(base, time.Since(t0))
	}
	baseRate := baseOps / time.Since(baseStart).Seconds()

	var mesh latencies
	b.ResetTimer()
	start := time.Now()
	for i := range b.N {
		t0 := time.Now()
		rec, err := c.Create(ctx, sandbox.CreateRequest{Name: fmt.Sprintf("bench-%d", i)})
		if err != nil {
			b.Fatal(err)
		}
		if _, err := c.Destroy(ctx, rec.ID); err != nil {
			b.Fatal(err)
		}
		mesh = append(mesh, time.Since(t0))
	}
	rate := float64(b.N) / time.Since(start).Seconds()
	b.StopTimer()
	b.ReportMetric(rate, "roundtrips/s")
	mesh.report(b, "mesh-")
	b.ReportMetric(baseRate, "kv-putget/s")
	base.report(b, "kv-")
	b.ReportMetric(float64(mesh.percentile(0.5))/float64(base.percentile(0.5)), "p50-ratio")
}

// BenchmarkCreateDestroyAuth measures what identity costs: create+destroy round trips on a
// mesh with NATS operator-mode auth, per-sandbox credentials and revocation on destroy,
// against the same mesh on an open server without credentials (the setup before identity),
// in the same run, alternating the two three times on fresh servers.
//
//	go test ./integration -run '^$' -bench 'CreateDestroyAuth$' -benchtime 500x
func BenchmarkCreateDestroyAuth(b *testing.B) {
	cfg := services.MeshConfig{Workers: 4, Sandbox: services.SandboxConfig{MaxPerOwner: 1 << 20}}
	run := func(m *testMesh) (float64, latencies) {
		ctx := context.Background()
		c := m.client(tester)
		var lat latencies
		start := time.Now()
		for i := range b.N {
			t0 := time.Now()
			rec, err := c.Create(ctx, sandbox.CreateRequest{Name: fmt.Sprintf("bench-%d", i)})
			if err != nil {
				b.Fatalf("%s mesh: %v", map[bool]string{true: "authenticated", false: "open"}[m.Deployment != nil], err)
			}
			if _, err := c.Connect(ctx, rec.ID); err != nil {
				b.Fatal(err)
			}
			if _, err := c.Destroy(ctx, rec.ID); err != nil {
				b.Fatalf("%s mesh: %v", map[bool]string{true: "authenticated", false: "open"}[m.Deployment != nil], err)
			}
			lat = append(lat, time.Since(t0))
		}
		return float64(b.N) / time.Since(start).Seconds(), lat
	}
	var openRates, authRates []float64
	var openLat, authLat latencies
	b.ResetTimer()
	for range 3 {
		r, l := run(startOpenMesh(b, cfg))
		openRates, openLat = append(openRates, r), append(openLat, l...)
		r, l = run(startMesh(b, cfg))
		authRates, authLat = append(authRates, r), append(authLat, l...)
	}
	b.StopTimer()
	b.ReportMetric(median(authRates), "auth-roundtrips/s")
	b.ReportMetric(median(openRates), "open-roundtrips/s")
	b.ReportMetric(median(authRates)/median(openRates), "ratio")
	authLat.report(b, "auth-")
	openLat.report(b, "open-")
}
