package node

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/arrakis/gaib/auth"
	"github.com/arrakis/gaib/embedded"
	gjs "github.com/arrakis/gaib/jetstream"
	"github.com/arrakis/gaib/router"
	"github.com/arrakis/gaib/sandbox"
	"github.com/arrakis/gaib/services"
)

// Run starts everything c asks for, writes one ready line to stdout, and blocks until ctx
// ends (SIGINT/SIGTERM); then it stops the services, drains the connection and stops the
// servers, in that order. Logs go to stderr.
func Run(ctx context.Context, c Config, stdout, stderr io.Writer) error {
	c, err := c.withDefaults()
	if err != nil {
		return err
	}
	level := slog.LevelInfo
	if c.Debug {
		level = slog.LevelDebug
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))
	if err := os.MkdirAll(c.DataDir, 0o700); err != nil {
		return fmt.Errorf("data dir: %w", err)
	}
	release, err := c.preflight()
	if err != nil {
		return err
	}
	defer release()
	secret, err := loadSecret(c.Secret, c.DataDir)
	if err != nil {
		return err
	}
	// Managed servers of data dirs that were deleted go with them.
	if removed, err := embedded.PruneManaged(); err != nil {
		fmt.Fprintln(stderr, "gaib: warning: pruning managed servers of deleted data dirs:", err)
	} else {
		for _, d := range removed {
			fmt.Fprintf(stderr, "gaib: removed %s: its data dir is gone\n", d)
		}
	}

	np, err := c.startNATS(secret)
	if err != nil {
		return err
	}
	defer np.stop()
	nc, err := np.connect()
	if err != nil {
		return err
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return err
	}
	store, err := gjs.Open(ctx, js, gjs.Config{Replicas: c.Replicas, SandboxStreamMaxBytes: c.SandboxStreamBytes, InstanceGrace: c.InstanceGrace})
	if err != nil {
		return fmt.Errorf("jetstream: %w", err)
	}
	if err := store.ClaimFingerprint(ctx, secret.Fingerprint()); err != nil {
		return err
	}
	revocations := services.RevocationList{Store: store}
	publisher, stopSystem, err := np.identity.publisher(ctx, np.url, revocations, log)
	if err != nil {
		return fmt.Errorf("account JWT: %w", err)
	}
	defer stopSystem()
	watchCtx, stopWatch := context.WithCancel(ctx)
	defer stopWatch()
	if err := revocations.Watch(watchCtx, publisher); err != nil {
		return err
	}
	go publisher.Run(watchCtx, time.Minute)
	adminNote, adminName := "no local admin credential", ""
	if c.AdminCreds != "-" {
		name, err := np.identity.localAdmin(ctx, store, c.AdminCreds)
		if err != nil {
			fmt.Fprintln(stderr, "gaib: warning:", err)
		} else {
			adminNote, adminName = fmt.Sprintf("admin %s's credential in %s", name, c.AdminCreds), name
		}
	}

	ps, stopPlanes, err := c.planes(ctx, secret, stderr)
	if err != nil {
		return err
	}
	defer stopPlanes()
	// The NATS plane: the sandbox's stream and durable, and its own account (its workers'
	// credentials work once it is pushed; destroy revokes it).
	natsPlane := services.JoinPlanes(store.StreamPlane().Name(), store.StreamPlane(), auth.AccountPlane{Publisher: publisher})
	planes, notes := append([]services.Plane{natsPlane}, ps.planes...), ps.notes
	maxSandboxes, err := c.maxSandboxes(ps.maxSandboxes)
	if err != nil {
		return err
	}
	metrics := services.NewMetrics()
	discordPart, discordURL, stopDiscord, err := c.startDiscord(ctx, np, store, secret, metrics.Registry, log)
	if err != nil {
		return err
	}
	defer stopDiscord()
	if discordPart != nil {
		planes = append(planes, discordPart)
		notes = append(notes, "discord proxy on "+discordURL)
	}
	var ready atomic.Pointer[services.Mesh]
	metricsURL, stopMetrics, err := serveMetrics(c.MetricsListen, metrics, func() error {
		if m := ready.Load(); m != nil {
			return m.Ready()
		}
		return errors.New("starting")
	}, log)
	if err != nil {
		// Metrics are for operators; a busy port must not stop a developer's mesh.
		fmt.Fprintln(stderr, "gaib: metrics disabled:", err)
	} else {
		defer stopMetrics()
	}
	responder, err := np.connectResponder(log)
	if err != nil {
		return err
	}
	defer responder.Close()
	routerCfg := router.Config{Replicas: c.Replicas, MaxEventBytes: c.MaxEventBytes, WindowBytes: c.RouterWindowBytes}
	var routerConn *nats.Conn
	if c.runs(services.PartRouter) {
		if routerConn, err = np.connectRouter(); err != nil {
			return err
		}
		defer routerConn.Close()
		if dp, ok := discordPart.(discordPlane); ok {
			routerCfg.Observer = dp.p
		}
	}
	mesh, err := services.StartMesh(ctx, nc, store, services.MeshConfig{Responder: responder, RouterConn: routerConn, Router: routerCfg,
		Workers: c.Workers, Only: c.Only, SweepInterval: c.SweepInterval, Retention: c.Retention, Metrics: metrics,
		HeartbeatInterval: heartbeatOf(c.InstanceGrace), RecoveryInterval: c.RecoveryInterval, ReconcileInterval: c.ReconcileInterval,
		Sandbox: services.SandboxConfig{MaxPerOwner: c.MaxPerOwner, MaxGuilds: c.MaxGuilds, MaxSandboxes: maxSandboxes, TTL: c.TTL,
			NATSURL: WithoutUserinfo(np.url), Planes: planes, Issuer: np.identity.issuer, Account: publisher},
	}, log)
	if err != nil {
		return err
	}
	ready.Store(mesh)
	apiURL, stopAPI, err := c.serveAPI(ctx, np, adminName, log)
	if err != nil {
		_ = mesh.Stop()
		return err
	}
	defer stopAPI()
	parts := "sandbox, router, cleanup"
	if len(c.Only) > 0 {
		parts = strings.Join(c.Only, ", ")
	}
	if len(notes) == 0 {
		notes = []string{"no database planes"}
	}
	if maxSandboxes > 0 {
		notes = append(notes, fmt.Sprintf("at most %d sandboxes", maxSandboxes))
	}
	if metricsURL != "" {
		notes = append(notes, "metrics on "+metricsURL)
	}
	if apiURL != "" {
		notes = append(notes, "REST API on "+apiURL)
	}
	notes = append(notes, adminNote)
	fmt.Fprintf(stdout, "gaib ready on %s (%s); services: %s; %d workers; %s. Ctrl-C to stop.\n",
		np.url, np.where, parts, c.Workers, strings.Join(notes, ", "))

	<-ctx.Done()
	log.Info("shutting down")
	if err := mesh.Stop(); err != nil {
		log.Warn("stopping services", "err", err)
	}
	if err := responder.Drain(); err != nil {
		log.Warn("draining the responder connection", "err", err)
	}
	if err := nc.Drain(); err != nil {
		log.Warn("draining connection", "err", err)
	}
	for deadline := time.Now().Add(10 * time.Second); !nc.IsClosed() && time.Now().Before(deadline); {
		time.Sleep(10 * time.Millisecond)
	}
	return nil
}

// maxSandboxes is --max-sandboxes, checked against what the Postgres plane has connections
// for (fits; 0 when there is no Postgres plane).
func (c *Config) maxSandboxes(fits int) (int, error) {
	switch {
	case c.MaxSandboxes == 0:
		return fits, nil
	case fits > 0 && c.MaxSandboxes > fits:
		return 0, sandbox.Errorf(sandbox.CodeInvalidRequest,
			"--max-sandboxes %d: the shared servers have room for %d sandboxes (Postgres connections at --sandbox-connection-limit each, Redis clients at --redis-client-limit each, whichever is fewer); raise Postgres max_connections or Redis maxclients, or lower those limits", c.MaxSandboxes, fits)
	case c.MaxSandboxes < 0:
		return 0, nil
	}
	return c.MaxSandboxes, nil
}

// heartbeatOf is the heartbeat interval for a grace period: a fifth of it, so a live
// instance is never taken for dead (0: the default).
func heartbeatOf(grace time.Duration) time.Duration { return grace / 5 }
