package discord

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/arrakis/gaib/sandbox"
)

// Proxy is the Discord REST proxy: an http.Handler serving /api/v10/… for sandbox workers
// (and production, if it wants the shared limiter), plus the observers that feed its
// channel map (Observe) and its interaction guard (Run).
type Proxy struct {
	cfg      Config
	deps     Deps
	log      *slog.Logger
	token    []byte
	upstream string // Discord's API root, without a trailing slash
	client   *http.Client
	limiter  *limiter
	channels *channelMap
	ix       *interactions

	accountsMu sync.Mutex
	accounts   map[string]*account
	production *account
	anonymous  *account

	timersMu sync.Mutex
	timers   map[string]Timer
	runCtx   context.Context
}

// New checks cfg, creates (or updates) the proxy's KV buckets and returns the proxy. It
// serves requests at once; Run must be running for the interaction guard and the channel
// map's KV writes.
func New(ctx context.Context, cfg Config, deps Deps) (*Proxy, error) {
	cfg = cfg.withDefaults()
	cfg.Token = strings.TrimSpace(cfg.Token)
	switch {
	case cfg.Token == "" || strings.ContainsAny(cfg.Token, " \t\r\n"):
		return nil, sandbox.Errorf(sandbox.CodeInvalidRequest, "discord proxy: the bot token is empty or contains whitespace")
	case len(cfg.Secret) == 0:
		return nil, sandbox.Errorf(sandbox.CodeInvalidRequest, "discord proxy: a server secret is required to derive sandbox tokens")
	case deps.Sandboxes == nil || deps.Routes == nil || deps.JetStream == nil:
		return nil, sandbox.Errorf(sandbox.CodeInvalidRequest, "discord proxy: Sandboxes, Routes and JetStream are required")
	case cfg.ApplicationID != "" && !snowflake(cfg.ApplicationID):
		return nil, sandbox.Errorf(sandbox.CodeInvalidRequest, "discord proxy: application id %.30q is not a snowflake", cfg.ApplicationID)
	}
	up, err := url.Parse(strings.TrimRight(cfg.UpstreamURL, "/"))
	if err != nil || (up.Scheme != "https" && up.Scheme != "http") || up.Host == "" || up.RawQuery != "" || up.Fragment != "" || up.User != nil {
		return nil, sandbox.Errorf(sandbox.CodeInvalidRequest, "discord proxy: upstream URL %q is not an http(s) URL without query or credentials", cfg.UpstreamURL)
	}
	if deps.Log == nil {
		deps.Log = slog.Default()
	}
	channels, err := deps.JetStream.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket: sandbox.BucketDiscordChannels, Description: "gaib Discord proxy: channel id → guild id (channels of routed guilds)",
		History: 1, TTL: cfg.ChannelMaxAge, Storage: jetstream.FileStorage, Replicas: cfg.Replicas,
	})
	if err != nil {
		return nil, fmt.Errorf("bucket %s: %w", sandbox.BucketDiscordChannels, err)
	}
	ixs, err := deps.JetStream.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket: sandbox.BucketDiscordInteractions, Description: "gaib Discord proxy: interactions routed to sandboxes and their answer state",
		History: 1, TTL: interactionLifetime, Storage: jetstream.FileStorage, Replicas: cfg.Replicas,
	})
	if err != nil {
		return nil, fmt.Errorf("bucket %s: %w", sandbox.BucketDiscordInteractions, err)
	}
	now := cfg.Clock.Now()
	p := &Proxy{
		cfg: cfg, deps: deps, log: deps.Log, token: []byte(cfg.Token), upstream: up.String(),
		client:   &http.Client{Transport: cfg.Transport, CheckRedirect: noRedirects},
		limiter:  newLimiter(cfg),
		channels: newChannelMap(channels, deps.Routes, cfg, deps.Log),
		ix:       &interactions{kv: ixs, clock: cfg.Clock},
		accounts: map[string]*account{}, timers: map[string]Timer{},
	}
	p.production = newAccount(callerProduction, false, cfg, now)
	p.anonymous = newAccount(callerAnonymous, false, cfg, now)
	if deps.Registerer != nil {
		if err := deps.Registerer.Register(collector{p}); err != nil {
			return nil, fmt.Errorf("discord proxy metrics: %w", err)
		}
	}
	return p, nil
}

// noRedirects hands Discord's redirects back to the client instead of following them with
// the bot token to wherever they point.
func noRedirects(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }

// Run observes the interactions routed to sandboxes (a core subscription on
// sandbox.*.commands.>, which the router publishes every routed interaction to) and
// writes the channel map to KV, until ctx ends. ready, when not nil, is closed once the
// subscription is in place.
func (p *Proxy) Run(ctx context.Context, ready chan<- struct{}) error {
	p.timersMu.Lock()
	p.runCtx = ctx
	p.timersMu.Unlock()
	if !p.cfg.NoInteractionSubscription {
		nc := p.deps.JetStream.Conn()
		sub, err := nc.Subscribe(sandbox.SandboxCommandsFilter(), func(m *nats.Msg) {
			p.ObserveInteraction(m.Subject, m.Data)
		})
		if err != nil {
			return fmt.Errorf("subscribe %s: %w", sandbox.SandboxCommandsFilter(), err)
		}
		defer func() { _ = sub.Unsubscribe() }()
		if err := nc.Flush(); err != nil {
			return fmt.Errorf("subscribe %s: %w", sandbox.SandboxCommandsFilter(), err)
		}
	}
	if ready != nil {
		close(ready)
	}
	p.channels.write(ctx)
	p.timersMu.Lock()
	for k, t := range p.timers {
		t.Stop()
		delete(p.timers, k)
	}
	p.timersMu.Unlock()
	return nil
}

// Env returns DISCORD_API_BASE_URL and DISCORD_TOKEN for sandbox id (nothing when
// Config.PublicURL is empty): see sandbox.DiscordEnv.
func (p *Proxy) Env(id string) []sandbox.EnvVar {
	return sandbox.DiscordEnv(p.cfg.PublicURL, p.cfg.Secret, id)
}

// Usage returns what this proxy instance counted for sandbox id since it started (all
// zero, with the configured budget, for a sandbox it has not seen).
func (p *Proxy) Usage(id string) Usage {
	p.accountsMu.Lock()
	a, ok := p.accounts[id]
	p.accountsMu.Unlock()
	if !ok {
		a = newAccount(id, true, p.cfg, p.cfg.Clock.Now())
	}
	return a.usage(p.cfg.Clock.Now())
}

// Forget drops the counters and budget of a destroyed sandbox (its metric series go too).
func (p *Proxy) Forget(id string) {
	p.accountsMu.Lock()
	delete(p.accounts, id)
	p.accountsMu.Unlock()
}

// account returns sandbox id's account, creating it on first use.
func (p *Proxy) account(id string) *account {
	p.accountsMu.Lock()
	defer p.accountsMu.Unlock()
	a, ok := p.accounts[id]
	if !ok {
		a = newAccount(id, true, p.cfg, p.cfg.Clock.Now())
		p.accounts[id] = a
	}
	return a
}

// caller is who sent a request: production (the real token), or a sandbox, with the
// account its requests are counted on.
type caller struct {
	acct       *account
	production bool
	info       SandboxInfo
	// ix is the interaction of an interaction route, once looked up.
	ix *interaction
}

// identify tells who sent r from its Authorization header: "Bot <real token>" is
// production, "Bot <sandbox token>" a sandbox; an interaction route without one belongs
// to the sandbox the interaction was routed to (Discord's interaction routes take no
// token: the interaction token is the credential).
func (p *Proxy) identify(ctx context.Context, r *http.Request, rt route) (caller, *refusal) {
	anon := caller{acct: p.anonymous}
	auths := r.Header.Values("Authorization")
	switch {
	case len(auths) > 1:
		return anon, malformed("more than one Authorization header")
	case len(auths) == 1:
		tok, ok := strings.CutPrefix(auths[0], "Bot ")
		if !ok {
			return anon, unauthorized("Authorization must be \"Bot <DISCORD_TOKEN>\"")
		}
		if constantTimeEqual(tok, p.token) {
			return caller{acct: p.production, production: true}, nil
		}
		id, ok := p.cfg.Secret.VerifyDiscordToken(tok)
		if !ok {
			return anon, unauthorized("the token is not a valid sandbox token (use DISCORD_TOKEN from `gaib sandbox connect`)")
		}
		return p.sandboxCaller(ctx, id)
	case rt.kind == kindCallback || rt.kind == kindFollowup:
		ix, ref := p.interaction(ctx, rt)
		if ref != nil {
			return anon, ref
		}
		c, ref := p.sandboxCaller(ctx, ix.Sandbox)
		c.ix = &ix
		return c, ref
	}
	return anon, unauthorized("no Authorization header: send \"Bot <DISCORD_TOKEN>\"")
}

// sandboxCaller returns the caller of sandbox id if it is running.
func (p *Proxy) sandboxCaller(ctx context.Context, id string) (caller, *refusal) {
	anon := caller{acct: p.anonymous}
	info, err := p.deps.Sandboxes.Sandbox(ctx, id)
	if errors.Is(err, sandbox.ErrNotFound) {
		return anon, unauthorized("sandbox %s does not exist", id)
	}
	if err != nil {
		p.log.Warn("discord proxy: sandbox lookup failed", "sandbox", id, "err", err)
		return anon, refuse(http.StatusServiceUnavailable, discordGeneral, sandbox.CodeUnavailable, "cannot look up sandbox %s now", id)
	}
	info.ID = id
	c := caller{acct: p.account(id), info: info}
	if !info.Running {
		return c, refuse(http.StatusForbidden, discordMissingAccess, sandbox.CodeWrongState, "sandbox %s (%s) is not running", info.Name, id)
	}
	return c, nil
}

// interaction returns the interaction an interaction route names, if it was routed to a
// sandbox in the last 15 minutes and the route's id or application matches it.
func (p *Proxy) interaction(ctx context.Context, rt route) (interaction, *refusal) {
	ix, _, err := p.ix.get(ctx, rt.token)
	if err == nil && (rt.kind != kindCallback || ix.ID == rt.interactionID) &&
		(rt.kind != kindFollowup || ix.ApplicationID == rt.appID) {
		return ix, nil
	}
	if err != nil && !errors.Is(err, errNoInteraction) {
		p.log.Warn("discord proxy: interaction lookup failed", "err", err)
		return interaction{}, refuse(http.StatusServiceUnavailable, discordGeneral, sandbox.CodeUnavailable, "cannot look up the interaction now")
	}
	return interaction{}, refuse(http.StatusForbidden, discordUnknownInteract, sandbox.CodeDiscordForbidden,
		"this interaction was not routed to this sandbox in the last 15 minutes")
}

// constantTimeEqual compares a presented token with the real one without leaking where
// they differ.
func constantTimeEqual(presented string, real []byte) bool {
	return subtle.ConstantTimeCompare([]byte(presented), real) == 1
}

var _ http.Handler = (*Proxy)(nil)
