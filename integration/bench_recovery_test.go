package integration

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/arrakis/gaib/embedded/embeddedtest"
	"github.com/arrakis/gaib/sandbox"
	"github.com/arrakis/gaib/services"
)

// benchDeaths is how many instance deaths each configuration measures.
const benchDeaths = 5

// BenchmarkRecoveryAfterInstanceDeath measures the time from the death of an instance in
// the middle of a create (record, name, quota slot, pending guild route and stream made)
// until another instance has made the state consistent again: the record destroyed and
// the name, slot, route and stream free. The victim heartbeats every InstanceGrace/5 (as
// gaib serve does) and is killed by dropping its connections; the survivor looks for
// abandoned work every RecoveryInterval. Each configuration, serve's defaults first, runs
// benchDeaths times on a fresh server; the median and the maximum are reported, and their
// ratio to InstanceGrace + RecoveryInterval (the bound the design promises, before the
// destroy itself). Run it with:
//
//	go test ./integration -run '^$' -bench RecoveryAfterInstanceDeath -benchtime 1x
func BenchmarkRecoveryAfterInstanceDeath(b *testing.B) {
	configs := []struct{ grace, interval time.Duration }{
		{5 * time.Second, 2 * time.Second}, // gaib serve's defaults
		{2 * time.Second, 250 * time.Millisecond},
		{time.Second, 250 * time.Millisecond},
	}
	for range b.N {
		for _, cfg := range configs {
			took := recoveryTimes(b, cfg.grace, cfg.interval)
			slices.Sort(took)
			name := fmt.Sprintf("grace%s-every%s-", cfg.grace, cfg.interval)
			med, worst := took[len(took)/2], took[len(took)-1]
			b.ReportMetric(med.Seconds(), name+"median-s")
			b.ReportMetric(worst.Seconds(), name+"max-s")
			b.ReportMetric(float64(worst)/float64(cfg.grace+cfg.interval), name+"max/bound")
		}
	}
}

// recoveryTimes kills benchDeaths instances mid-create and returns how long the survivor
// took to recover each.
func recoveryTimes(b *testing.B, grace, interval time.Duration) []time.Duration {
	url := embeddedtest.NATS(b).ClientURL()
	limits := testLimits
	limits.InstanceGrace = grace
	survivor := startInstance(b, url, limits, services.MeshConfig{HeartbeatInterval: grace / 5, RecoveryInterval: interval})
	ctx := context.Background()
	var dead sync.WaitGroup
	b.Cleanup(dead.Wait) // after every gate released the dead instances' goroutines
	var took []time.Duration
	for i := range benchDeaths {
		name := fmt.Sprintf("doomed-%d", i)
		gate := newGatePlane(b, name, "")
		victim := startInstance(b, url, limits, services.MeshConfig{Only: []string{services.PartSandbox},
			HeartbeatInterval: grace / 5, Sandbox: services.SandboxConfig{Planes: []services.Plane{gate}}})
		dead.Go(func() {
			_, _ = victim.Mesh.Sandboxes.Create(ctx, services.Caller{Name: tester, Role: sandbox.RoleAdmin},
				sandbox.CreateRequest{Name: name, Guilds: []string{guildA}})
		})
		<-gate.entered
		rec, err := survivor.Store.Record(ctx, mustLookup(b, survivor.Store, name))
		if err != nil {
			b.Fatal(err)
		}
		victim.kill()
		killed := time.Now()
		for {
			st, err := survivor.Store.Record(ctx, rec.ID)
			if err == nil && st.Status == sandbox.StatusDestroyed && len(leftBehind(ctx, survivor.Store, rec)) == 0 {
				break
			}
			if time.Since(killed) > time.Minute {
				b.Fatalf("%s not recovered after a minute", name)
			}
			time.Sleep(5 * time.Millisecond)
		}
		took = append(took, time.Since(killed))
	}
	return took
}
