package services

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/arrakis/gaib/router"
	"github.com/arrakis/gaib/sandbox"
)

// Metrics are what the runbook's alert rules (docs/alerts.yml) watch. Every metric named
// there is registered here and emitted from the first scrape on, so an alert can never
// watch a series that does not exist.
type Metrics struct {
	Registry *prometheus.Registry
	// Sandboxes counts sandboxes by status, refreshed by every cleanup sweep.
	Sandboxes *prometheus.GaugeVec
	// ProvisioningErrors counts create failures by plane (postgres: schema creation).
	ProvisioningErrors *prometheus.CounterVec
	// CleanupFailures counts sandboxes a sweep failed to expire or destroy.
	CleanupFailures prometheus.Counter
	// Sweeps counts cleanup sweeps.
	Sweeps prometheus.Counter
	// Orphans is the number of sandbox ids with resources in a store but no live record,
	// by store, from the last orphan scan.
	Orphans *prometheus.GaugeVec
	// Repairs counts what the reconciler put back, by plane.
	Repairs *prometheus.CounterVec
	// Recoveries counts abandoned creates and destroys finished by the recovery, by op.
	Recoveries *prometheus.CounterVec
}

// NewMetrics registers gaib's metrics (and the Go runtime's) on a fresh registry.
func NewMetrics() *Metrics {
	m := &Metrics{
		Registry: prometheus.NewRegistry(),
		Sandboxes: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "gaib_sandboxes", Help: "Sandboxes by status (refreshed by each cleanup sweep).",
		}, []string{"status"}),
		ProvisioningErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gaib_provisioning_errors_total", Help: "Sandbox creates that failed at a plane (postgres: schema creation).",
		}, []string{"plane"}),
		CleanupFailures: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "gaib_cleanup_failures_total", Help: "Sandboxes a cleanup sweep failed to expire or destroy.",
		}),
		Sweeps: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "gaib_cleanup_sweeps_total", Help: "Cleanup sweeps run.",
		}),
		Orphans: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "gaib_orphaned_resources", Help: "Sandbox ids with resources in a store but no live record, by store (last scan).",
		}, []string{"store"}),
		Repairs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gaib_reconcile_repairs_total", Help: "Running sandboxes' plane slices or routes the reconciler put back, by plane.",
		}, []string{"plane"}),
		Recoveries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gaib_recoveries_total", Help: "Creates and destroys abandoned by a dead instance that the recovery finished, by op.",
		}, []string{"op"}),
	}
	for _, s := range sandbox.Statuses {
		m.Sandboxes.WithLabelValues(string(s))
	}
	for _, p := range []string{"postgres", "redis"} {
		m.ProvisioningErrors.WithLabelValues(p)
	}
	for _, s := range OrphanStores {
		m.Orphans.WithLabelValues(s)
	}
	for _, op := range []string{sandbox.LeaseCreate, sandbox.LeaseDestroy} {
		m.Recoveries.WithLabelValues(op)
	}
	m.Registry.MustRegister(m.Sandboxes, m.ProvisioningErrors, m.CleanupFailures, m.Sweeps, m.Orphans, m.Repairs, m.Recoveries,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// observeRouter exports a router's counters.
func (m *Metrics) observeRouter(r *router.Router) {
	stat := func(f func(router.Stats) float64) func() float64 {
		return func() float64 { return f(r.Counters()) }
	}
	events := func(dest string, f func(router.Stats) uint64) prometheus.Collector {
		return prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "gaib_router_events_total", Help: "Gateway events routed, by destination.",
			ConstLabels: prometheus.Labels{"destination": dest},
		}, stat(func(s router.Stats) float64 { return float64(f(s)) }))
	}
	errs := func(kind string, f func(router.Stats) uint64) prometheus.Collector {
		return prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "gaib_router_errors_total", Help: "Routing errors by kind (publish: output not stored on first try; parse: payload not JSON; unroutable: subject outside events/commands).",
			ConstLabels: prometheus.Labels{"kind": kind},
		}, stat(func(s router.Stats) float64 { return float64(f(s)) }))
	}
	m.Registry.MustRegister(
		events("sandbox", func(s router.Stats) uint64 { return s.ToSandbox }),
		events("production", func(s router.Stats) uint64 { return s.ToProduction }),
		errs("publish", func(s router.Stats) uint64 { return s.PublishErrors }),
		errs("parse", func(s router.Stats) uint64 { return s.ParseErrors }),
		errs("unroutable", func(s router.Stats) uint64 { return s.Unroutable }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "gaib_router_routes", Help: "Routes loaded in the router's table."},
			stat(func(s router.Stats) float64 { return float64(s.Routes) })),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "gaib_router_lag", Help: "Gateway events not yet routed and acknowledged."},
			func() float64 {
				ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
				defer cancel()
				return float64(r.Stats(ctx).Lag)
			}),
	)
}
