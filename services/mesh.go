package services

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/micro"

	"github.com/arrakis/gaib/jetstream"
	"github.com/arrakis/gaib/router"
	"github.com/arrakis/gaib/sandbox"
)

// Parts of the mesh `gaib serve --only` can select.
const (
	PartSandbox = "sandbox"
	PartRouter  = "router"
	PartCleanup = "cleanup"
)

// MeshConfig configures everything `gaib serve` runs.
type MeshConfig struct {
	// Workers is the number of instances of each micro service (handlers of one instance
	// run one at a time). Default 4.
	Workers int
	// Only limits the parts run (PartSandbox, PartRouter, PartCleanup); empty runs all.
	Only []string
	// Sandbox configures the sandbox lifecycle.
	Sandbox SandboxConfig
	// SweepInterval is the time between cleanup sweeps. Default 30s; negative runs no
	// background sweeper (the cleanup service still sweeps on request).
	SweepInterval time.Duration
	// Retention is how long destroyed records stay listed. Default 24h.
	Retention time.Duration
	// Router configures the router.
	Router router.Config
	// Metrics, when set, receives the mesh's metrics.
	Metrics *Metrics
	// HeartbeatInterval is how often this instance says it is alive. Default 1s; it must
	// be well under the store's InstanceGrace (default 5s).
	HeartbeatInterval time.Duration
	// RecoveryInterval is how often abandoned creates and destroys are looked for. Default
	// 2s; negative runs no recovery loop (the sweep still recovers).
	RecoveryInterval time.Duration
	// ReconcileInterval is how often running sandboxes are checked and repaired. Default
	// 1m; negative never.
	ReconcileInterval time.Duration
	// RouterConn is the router's own connection, connected with router.ConnectOptions: the
	// hot path never shares a connection with the control plane. Required when this mesh
	// runs the router.
	RouterConn *nats.Conn
	// Responder is the connection the micro services answer on: one holding an
	// auth.RoleResponder credential, which may publish only into inboxes, so that no
	// request's reply subject can make a service publish with the mesh's rights. Nil
	// answers on the mesh's connection (an open server without authentication).
	Responder *nats.Conn
}

// Mesh is a running set of gaib services in one process.
type Mesh struct {
	Sandboxes *Sandboxes
	// Router is the running router (nil when this mesh runs none).
	Router   *router.Router
	services []micro.Service
	// nc and responder are the mesh's connection and the services' (for Ready).
	nc, responder *nats.Conn
	cancel        context.CancelFunc
	wg            sync.WaitGroup
}

// StartMesh starts the selected parts on nc against store.
func StartMesh(ctx context.Context, nc *nats.Conn, store *jetstream.Store, cfg MeshConfig, log *slog.Logger) (*Mesh, error) {
	if cfg.Workers <= 0 {
		cfg.Workers = 4
	}
	if cfg.SweepInterval == 0 {
		cfg.SweepInterval = 30 * time.Second
	}
	if cfg.Retention <= 0 {
		cfg.Retention = 24 * time.Hour
	}
	if cfg.HeartbeatInterval <= 0 {
		cfg.HeartbeatInterval = time.Second
	}
	if cfg.RecoveryInterval == 0 {
		cfg.RecoveryInterval = 2 * time.Second
	}
	if cfg.ReconcileInterval == 0 {
		cfg.ReconcileInterval = time.Minute
	}
	if cfg.Responder == nil {
		cfg.Responder = nc
	}
	if cfg.Sandbox.RouteSync == nil {
		cfg.Sandbox.RouteSync = router.Syncer(nc)
	}
	ctx, cancel := context.WithCancel(ctx)
	m := &Mesh{cancel: cancel, Sandboxes: NewSandboxes(store, cfg.Sandbox, log), nc: nc, responder: cfg.Responder}
	m.Sandboxes.metrics = cfg.Metrics
	if cfg.Metrics != nil {
		cfg.Metrics.observePlanes(cfg.Sandbox.Planes)
	}
	m.wg.Go(func() { m.Sandboxes.runHeartbeat(ctx, cfg.HeartbeatInterval, log) })
	runs := func(part string) bool { return len(cfg.Only) == 0 || slices.Contains(cfg.Only, part) }
	if runs(PartRouter) {
		if err := m.startRouter(ctx, cfg.RouterConn, cfg.Responder, cfg.Router, log); err != nil {
			m.Stop()
			return nil, err
		}
	}
	for range cfg.Workers {
		if !runs(PartSandbox) {
			break
		}
		for _, add := range []func(context.Context, *nats.Conn, *Sandboxes, *slog.Logger) (micro.Service, error){
			AddSandboxService, AddUserService, AddGuildService,
		} {
			svc, err := add(ctx, cfg.Responder, m.Sandboxes, log)
			if err != nil {
				m.Stop()
				return nil, err
			}
			m.services = append(m.services, svc)
		}
	}
	if runs(PartSandbox) {
		if err := m.startConfigResponder(ctx, nc, store, log); err != nil {
			m.Stop()
			return nil, err
		}
	}
	if runs(PartCleanup) {
		svc, err := AddCleanupService(ctx, cfg.Responder, m.Sandboxes, cfg.Retention, log)
		if err != nil {
			m.Stop()
			return nil, err
		}
		m.services = append(m.services, svc)
		if cfg.SweepInterval > 0 {
			m.wg.Go(func() { m.Sandboxes.RunSweeper(ctx, cfg.SweepInterval, cfg.Retention, log) })
		}
		if cfg.RecoveryInterval > 0 {
			m.wg.Go(func() { m.Sandboxes.RunRecovery(ctx, cfg.RecoveryInterval, cfg.ReconcileInterval, log) })
		}
	}
	// The services' subscriptions must be on the server before anyone is told the mesh is
	// ready, or a request from another connection may find no responder.
	for _, c := range []*nats.Conn{cfg.Responder, nc} {
		if err := c.FlushTimeout(10 * time.Second); err != nil {
			m.Stop()
			return nil, err
		}
	}
	return m, nil
}

// startRouter starts the router on its own connection (it watches the routes itself,
// leads or stands by, and restarts on its own) and its micro service.
func (m *Mesh) startRouter(ctx context.Context, rc, responder *nats.Conn, cfg router.Config, log *slog.Logger) error {
	if rc == nil {
		return errors.New("the router needs its own connection (MeshConfig.RouterConn)")
	}
	r, err := router.Start(ctx, rc, nil, cfg, log.With("part", "router"))
	if err != nil {
		return fmt.Errorf("router: %w", err)
	}
	m.Router = r
	if m.Sandboxes.metrics != nil {
		m.Sandboxes.metrics.observeRouter(r)
	}
	svc, err := AddRouterService(ctx, responder, r, m.Sandboxes, log)
	if err != nil {
		return err
	}
	m.services = append(m.services, svc)
	return nil
}

func sleep(ctx context.Context, d time.Duration) {
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
}

// Stop stops every service instance (draining their subscriptions) and background loop.
func (m *Mesh) Stop() error {
	m.cancel()
	var errs []error
	for _, s := range m.services {
		errs = append(errs, s.Stop())
	}
	if m.Router != nil {
		m.Router.Stop() // records its position and hands the lease over
	}
	m.wg.Wait()
	return errors.Join(errs...)
}

// Ready returns nil when this instance can do its part: its connections are up and, when
// it runs the router, the router is healthy (routing, or standing by ready to take over).
func (m *Mesh) Ready() error {
	for name, c := range map[string]*nats.Conn{"mesh": m.nc, "responder": m.responder} {
		if c != nil && !c.IsConnected() {
			return sandbox.Errorf(sandbox.CodeUnavailable, "the %s connection is %s", name, strings.ToLower(c.Status().String()))
		}
	}
	if m.Router != nil {
		return m.Router.Healthy()
	}
	return nil
}
