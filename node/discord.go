package node

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/arrakis/gaib/discord"
	gjs "github.com/arrakis/gaib/jetstream"
	"github.com/arrakis/gaib/router"
	"github.com/arrakis/gaib/sandbox"
	"github.com/arrakis/gaib/services"
)

// DiscordConfig configures the Discord REST proxy; it runs only with a bot token.
type DiscordConfig struct {
	// TokenFile holds the bot's real token.
	TokenFile string
	// APIURL is Discord's API root (tests and staging point it at a stand-in). Default
	// https://discord.com/api.
	APIURL string
	// Listen is the proxy's HTTP address. Default 127.0.0.1:8090.
	Listen string
	// PublicURL is where workers reach the proxy. Default http://<Listen>.
	PublicURL string
	// ApplicationID, when set, is checked on command routes and follow-ups.
	ApplicationID string
	// SandboxRPS is each sandbox's budget, SandboxesRPS all sandboxes' together, Invalid
	// the 401/403/429 answers per 10 minutes before a sandbox's breaker opens, Deadline
	// how long the guard waits for a sandbox to answer an interaction.
	SandboxRPS, SandboxesRPS float64
	Invalid                  int
	Deadline                 time.Duration
}

// discordPlane is the Discord proxy as a plane of the sandbox service: connect hands out
// the sandbox's proxy settings, status shows its budget, destroy forgets its counters.
type discordPlane struct{ p *discord.Proxy }

func (discordPlane) Name() string    { return "discord" }
func (discordPlane) Version() string { return "" }

func (discordPlane) Provision(context.Context, sandbox.Record) error { return nil }

func (d discordPlane) Teardown(_ context.Context, r sandbox.Record) error {
	d.p.Forget(r.ID)
	return nil
}

// Check reports the sandbox's Discord budget: unhealthy while its breaker is open.
func (d discordPlane) Check(_ context.Context, r sandbox.Record) error {
	u := d.p.Usage(r.ID)
	if u.BreakerOpenUntil != nil {
		return fmt.Errorf("breaker open until %s: %d invalid requests (401/403/429) in 10 minutes, the limit is %d",
			u.BreakerOpenUntil.Format(time.TimeOnly), u.InvalidInWindow, u.InvalidLimit)
	}
	return nil
}

// Report summarises the sandbox's use of the proxy, as this instance counted it.
func (d discordPlane) Report(r sandbox.Record) string {
	u := d.p.Usage(r.ID)
	return fmt.Sprintf("%d forwarded, %d refused, %d rate-limited, %d invalid (%d of %d in 10 min), %d interactions, %d answered by the guard (this instance; %g req/s)",
		u.Requests["forwarded"], u.Requests["refused"], u.Requests["rate_limited"], u.Invalid, u.InvalidInWindow, u.InvalidLimit,
		u.Interactions, u.Guard["sent"], u.RPS)
}

func (d discordPlane) Env(r sandbox.Record) []sandbox.EnvVar { return d.p.Env(r.ID) }

// directoryLookup answers the proxy's sandbox lookups from memory.
type directoryLookup struct{ d *services.Directory }

func (l directoryLookup) Sandbox(_ context.Context, id string) (discord.SandboxInfo, error) {
	r, err := l.d.Record(id)
	if err != nil {
		return discord.SandboxInfo{}, err
	}
	return discord.SandboxInfo{ID: r.ID, Name: r.Name, Running: r.Status == sandbox.StatusRunning, Guilds: r.Guilds}, nil
}

// startDiscord runs the Discord proxy on its own NATS connection and HTTP listener, and
// returns it as a plane (nil without a bot token) and a stop function.
func (c *Config) startDiscord(ctx context.Context, np *natsPlane, store *gjs.Store, secret sandbox.Secret,
	reg prometheus.Registerer, log *slog.Logger) (services.Plane, string, func(), error) {
	dc := c.Discord
	if dc.TokenFile == "" {
		return nil, "", func() {}, nil
	}
	b, err := os.ReadFile(dc.TokenFile)
	if err != nil {
		return nil, "", nil, fmt.Errorf("--discord-token-file: %w", err)
	}
	token := strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(string(b)), "Bot "))
	if token == "" {
		return nil, "", nil, sandbox.Errorf(sandbox.CodeInvalidRequest, "--discord-token-file %s is empty", dc.TokenFile)
	}
	if dc.Listen == "" {
		dc.Listen = "127.0.0.1:8090"
	}
	l, err := net.Listen("tcp", dc.Listen)
	if err != nil {
		return nil, "", nil, fmt.Errorf("discord proxy: cannot listen on %s: %w (choose another with --discord-listen)", dc.Listen, err)
	}
	if dc.PublicURL == "" {
		dc.PublicURL = "http://" + l.Addr().String()
	}
	ctx, cancel := context.WithCancel(ctx)
	stop := func() { cancel(); _ = l.Close() }
	fail := func(err error) (services.Plane, string, func(), error) { stop(); return nil, "", nil, err }

	nc, err := np.connect()
	if err != nil {
		return fail(err)
	}
	js, err := jetstream.New(nc)
	if err != nil {
		return fail(err)
	}
	dir, err := services.FollowRecords(ctx, store)
	if err != nil {
		return fail(err)
	}
	routes := router.NewTable()
	loaded := make(chan struct{})
	go func() {
		for signal := loaded; ctx.Err() == nil; signal = nil {
			if err := router.Watch(ctx, store.RoutesBucket(), routes, signal); err != nil {
				log.Error("discord proxy: route watch stopped; restarting", "err", err)
				time.Sleep(time.Second)
			}
		}
	}()
	<-loaded
	p, err := discord.New(ctx, discord.Config{
		Token: token, ApplicationID: dc.ApplicationID, UpstreamURL: dc.APIURL, PublicURL: dc.PublicURL,
		Secret: secret, SandboxRPS: dc.SandboxRPS, SandboxesRPS: dc.SandboxesRPS, InvalidLimit: dc.Invalid,
		Deadline: dc.Deadline, Replicas: c.Replicas,
		// The router of this process hands the proxy the interactions it routes; a proxy
		// without a router beside it subscribes to them.
		NoInteractionSubscription: c.runs(services.PartRouter),
	}, discord.Deps{Sandboxes: directoryLookup{dir}, Routes: routes, JetStream: js, Registerer: reg, Log: log})
	if err != nil {
		return fail(err)
	}
	ready := make(chan struct{})
	go func() {
		if err := p.Run(ctx, ready); err != nil && ctx.Err() == nil {
			log.Error("discord proxy stopped", "err", err)
		}
	}()
	select {
	case <-ready:
	case <-time.After(10 * time.Second):
		return fail(errors.New("discord proxy did not start within 10s"))
	}
	srv := &http.Server{Handler: p, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 2 * time.Minute,
		WriteTimeout: 2 * time.Minute, IdleTimeout: 2 * time.Minute}
	go func() {
		if err := srv.Serve(l); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("discord proxy server", "err", err)
		}
	}()
	return discordPlane{p}, dc.PublicURL, func() {
		sctx, scancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer scancel()
		_ = srv.Shutdown(sctx)
		cancel()
		nc.Close()
	}, nil
}
