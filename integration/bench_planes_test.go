package integration

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/arrakis/gaib/client"
	"github.com/arrakis/gaib/sandbox"
	"github.com/arrakis/gaib/schema"
	"github.com/arrakis/gaib/services"
)

// BenchmarkCreateDestroyWithPlanes measures create and destroy through the CLI client with
// the Postgres and Redis planes on, and in the same run the raw DDL of the same tables
// (one transaction: CREATE SCHEMA, the migrations, COMMIT) on the same database as the
// base of the ratio.
//
//	go test ./integration -run '^$' -bench WithPlanes -benchtime 200x
func BenchmarkCreateDestroyWithPlanes(b *testing.B) {
	pm := startPlaneMesh(b, services.MeshConfig{Workers: 4, Sandbox: services.SandboxConfig{MaxPerOwner: 1 << 20}}, nil)
	ctx := context.Background()
	admin := pm.admin(b)
	mig := schema.DefaultMigrations()

	var raw latencies
	for i := range 100 {
		name := pgx.Identifier{fmt.Sprintf("raw_%d", i)}.Sanitize()
		t0 := time.Now()
		tx, err := admin.Begin(ctx)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := tx.Exec(ctx, "CREATE SCHEMA "+name+"; SET LOCAL search_path = "+name); err != nil {
			b.Fatal(err)
		}
		for _, m := range mig.List {
			if _, err := tx.Exec(ctx, m.SQL); err != nil {
				b.Fatal(err)
			}
		}
		if err := tx.Commit(ctx); err != nil {
			b.Fatal(err)
		}
		raw = append(raw, time.Since(t0))
		if _, err := admin.Exec(ctx, "DROP SCHEMA "+name+" CASCADE"); err != nil {
			b.Fatal(err)
		}
	}

	c := pm.client(tester)
	var create, destroy latencies
	b.ResetTimer()
	for i := range b.N {
		t0 := time.Now()
		rec, err := c.Create(ctx, sandbox.CreateRequest{Name: fmt.Sprintf("bench-%d", i), Owner: "bench"})
		if err != nil {
			b.Fatal(err)
		}
		t1 := time.Now()
		if _, err := c.Destroy(ctx, rec.ID); err != nil {
			b.Fatal(err)
		}
		create, destroy = append(create, t1.Sub(t0)), append(destroy, time.Since(t1))
	}
	b.StopTimer()
	create.report(b, "create-")
	destroy.report(b, "destroy-")
	raw.report(b, "rawddl-")
	b.ReportMetric(float64(create.percentile(0.5))/float64(raw.percentile(0.5)), "create/rawddl-p50")
}

// BenchmarkConcurrentCreates issues 100 creates at once (all planes on) against a mesh with
// the default 4 workers, and fails on any error.
//
//	go test ./integration -run '^$' -bench ConcurrentCreates -benchtime 1x
func BenchmarkConcurrentCreates(b *testing.B) {
	for range b.N {
		pm := startPlaneMesh(b, services.MeshConfig{Sandbox: services.SandboxConfig{MaxPerOwner: 1000}}, nil)
		c := client.NewClient(pm.NC, tester, 5*time.Minute)
		var (
			wg   sync.WaitGroup
			mu   sync.Mutex
			lat  latencies
			errs []error
		)
		start := time.Now()
		for i := range 100 {
			wg.Go(func() {
				t0 := time.Now()
				_, err := c.Create(context.Background(), sandbox.CreateRequest{Name: fmt.Sprintf("c-%d", i), Owner: "bench"})
				mu.Lock()
				defer mu.Unlock()
				lat = append(lat, time.Since(t0))
				if err != nil {
					errs = append(errs, err)
				}
			})
		}
		wg.Wait()
		total := time.Since(start)
		if len(errs) > 0 {
			b.Fatalf("%d of 100 concurrent creates failed, first: %v", len(errs), errs[0])
		}
		inv, err := pm.PG.Inventory(context.Background())
		schemas := 0
		for _, kinds := range inv {
			if slices.Contains(kinds, "schema") { // roles are cluster-wide: count this database's schemas
				schemas++
			}
		}
		if err != nil || schemas != 100 {
			b.Fatalf("%d sandboxes have a schema (%v)", schemas, err)
		}
		b.ReportMetric(total.Seconds(), "total-s")
		b.ReportMetric(100/total.Seconds(), "creates/s")
		lat.report(b, "create-")
	}
}
