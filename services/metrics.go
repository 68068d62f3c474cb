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
	// ReconcileFailures counts what the reconciler found wrong and could not repair.
	ReconcileFailures prometheus.Counter
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
		ReconcileFailures: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "gaib_reconcile_failures_total", Help: "Problems of running sandboxes the reconciler found and could not repair (gaib cleanup reconcile lists them).",
		}),
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
	m.Registry.MustRegister(m.Sandboxes, m.ProvisioningErrors, m.CleanupFailures, m.Sweeps, m.Orphans, m.Repairs, m.ReconcileFailures, m.Recoveries,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// observePlanes creates the repair series of every plane (and of the routes), so that
// they are emitted at zero from the first scrape.
func (m *Metrics) observePlanes(planes []Plane) {
	m.Repairs.WithLabelValues("routes")
	for _, p := range planes {
		m.Repairs.WithLabelValues(p.Name())
	}
}

// observeRouter exports a router's counters and state.
func (m *Metrics) observeRouter(r *router.Router) {
	stat := func(f func(router.Stats) uint64) func() float64 {
		return func() float64 { return float64(f(r.Counters())) }
	}
	flag := func(f func(router.Stats) bool) func() float64 {
		return func() float64 {
			if f(r.Counters()) {
				return 1
			}
			return 0
		}
	}
	labelled := func(name, help, label, value string, f func(router.Stats) uint64) prometheus.Collector {
		return prometheus.NewCounterFunc(prometheus.CounterOpts{Name: name, Help: help, ConstLabels: prometheus.Labels{label: value}}, stat(f))
	}
	events := func(dest string, f func(router.Stats) uint64) prometheus.Collector {
		return labelled("gaib_router_events_total", "Gateway events stored at their destination, by destination (dead_letter: too large, referenced on gaib.deadletter.>).", "destination", dest, f)
	}
	errs := func(kind string, f func(router.Stats) uint64) prometheus.Collector {
		return labelled("gaib_router_errors_total", "Routing errors by kind (publish: output not stored on first try, retried; no_stream: the sandbox's stream is gone, event held; parse: payload not JSON; unroutable: subject outside events/commands).", "kind", kind, f)
	}
	m.Registry.MustRegister(
		events("sandbox", func(s router.Stats) uint64 { return s.ToSandbox }),
		events("production", func(s router.Stats) uint64 { return s.ToProduction }),
		events("dead_letter", func(s router.Stats) uint64 { return s.DeadLetters }),
		errs("publish", func(s router.Stats) uint64 { return s.PublishErrors }),
		errs("no_stream", func(s router.Stats) uint64 { return s.NoStream }),
		errs("parse", func(s router.Stats) uint64 { return s.ParseErrors }),
		errs("unroutable", func(s router.Stats) uint64 { return s.Unroutable }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "gaib_router_skipped_total",
			Help: "Events found already stored downstream when the router recovered (acknowledged, not published again)."},
			stat(func(s router.Stats) uint64 { return s.Skipped })),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "gaib_router_takeovers_total",
			Help: "Times this router became the active one (at start, or taking over from another)."},
			stat(func(s router.Stats) uint64 { return s.Takeovers })),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "gaib_router_recoveries_total",
			Help: "Times this router resumed routing from the recorded position, reading its outputs back."},
			stat(func(s router.Stats) uint64 { return s.Recoveries })),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "gaib_router_active", Help: "1 on the router routing the gateway, 0 on a standby."},
			flag(func(s router.Stats) bool { return s.Active })),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "gaib_router_healthy", Help: "1 when the router can do its part (routing, or standing by), 0 when not: see gaib router stats."},
			flag(func(s router.Stats) bool { return s.Healthy })),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "gaib_router_routes", Help: "Routes loaded in the router's table."},
			stat(func(s router.Stats) uint64 { return uint64(s.Routes) })),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "gaib_router_lag", Help: "Gateway events not yet routed and acknowledged."},
			func() float64 {
				ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
				defer cancel()
				return float64(r.Stats(ctx).Lag)
			}),
	)
}
