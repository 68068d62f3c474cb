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
		rec, err := c.Create(ctx, sandbox.CreateRequest{Name: fmt.Sprintf("bench-%d", i), Owner: "bench"})
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
