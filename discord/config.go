package discord

import (
	"context"
	"log/slog"
	"net/http"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/arrakis/gaib/sandbox"
)

// Defaults of Config.
const (
	DefaultUpstreamURL     = "https://discord.com/api"
	DefaultSandboxRPS      = 5
	DefaultSandboxesRPS    = 25
	DefaultGlobalRPS       = 50
	DefaultInvalidLimit    = 100
	DefaultInvalidWindow   = 10 * time.Minute
	DefaultDeadline        = 2500 * time.Millisecond
	DefaultMaxWait         = 5 * time.Second
	DefaultMaxBody         = 25 << 20
	DefaultMaxResponse     = 32 << 20
	DefaultUpstreamTimeout = 30 * time.Second
	DefaultChannelCache    = 10000
	DefaultNegativeTTL     = time.Minute
	DefaultChannelMaxAge   = 7 * 24 * time.Hour
	DefaultMaxInFlight     = 16
)

// Config configures a Proxy. Token and Secret are required; everything else has a default.
type Config struct {
	// Token is the bot's real token (without the "Bot " prefix). It is sent only to
	// UpstreamURL, never in a response or a log.
	Token string
	// ApplicationID is the bot's application id. When set, guild command routes and
	// interaction follow-ups must name it. Default: not checked (Discord refuses another
	// application's routes for this token anyway).
	ApplicationID string
	// UpstreamURL is Discord's API root without the version. Default https://discord.com/api.
	UpstreamURL string
	// PublicURL is where workers reach the proxy (e.g. "http://gaib.internal:8090"); Env
	// builds DISCORD_API_BASE_URL from it. Default: none, and Env returns nothing.
	PublicURL string
	// Secret is the server secret sandbox proxy tokens are derived from.
	Secret sandbox.Secret
	// SandboxRPS is each sandbox's own budget in requests per second, with a burst of one
	// second's worth. Default 5.
	SandboxRPS float64
	// SandboxesRPS caps all sandboxes together, so that production always keeps
	// GlobalRPS-SandboxesRPS of the global limit. Default 25.
	SandboxesRPS float64
	// GlobalRPS is Discord's global limit of the bot token. Default 50.
	GlobalRPS float64
	// InvalidLimit is how many 401/403/429 answers from Discord a sandbox may cause within
	// InvalidWindow before its requests are refused locally until the window passes.
	// Defaults 100 per 10 minutes (Discord bans the IP at 10,000 per 10 minutes).
	InvalidLimit  int
	InvalidWindow time.Duration
	// Deadline is how long after an interaction was created the guard waits for the
	// worker's callback before answering it itself. Default 2.5s (Discord allows 3s).
	Deadline time.Duration
	// MaxWait is the longest a request waits for the shared token's limits before it is
	// refused with a local 429 carrying retry_after. Default 5s; negative: never wait.
	// (A sandbox's own budget never waits: its requests are refused at once.)
	MaxWait time.Duration
	// MaxBody bounds a request body: Discord's attachment limit for bots. Default 25 MiB.
	MaxBody int64
	// MaxResponse bounds a response body streamed back. Default 32 MiB.
	MaxResponse int64
	// UpstreamTimeout bounds one upstream request, body included. Default 30s.
	UpstreamTimeout time.Duration
	// MaxInFlight bounds each sandbox's concurrent requests. Default 16.
	MaxInFlight int
	// ChannelCache bounds the in-memory channel → guild cache (positive and negative
	// entries). Default 10000.
	ChannelCache int
	// NegativeTTL is how long "this channel is in no guild we know" is cached. Default 1m.
	NegativeTTL time.Duration
	// ChannelMaxAge is how long the channel bucket keeps an entry (re-learned on demand).
	// Default 7 days.
	ChannelMaxAge time.Duration
	// NoInteractionSubscription: Run does not subscribe to sandbox.*.commands.>; the
	// router calls ObserveInteraction for each interaction it routes to a sandbox instead.
	// Default false (subscribe).
	NoInteractionSubscription bool
	// Replicas of the proxy's KV buckets. Default 1.
	Replicas int
	// Clock is the time source. Default the system clock.
	Clock Clock
	// Transport sends upstream requests. Default a dedicated http.Transport.
	Transport http.RoundTripper
}

func (c Config) withDefaults() Config {
	if c.UpstreamURL == "" {
		c.UpstreamURL = DefaultUpstreamURL
	}
	orDefault(&c.SandboxRPS, DefaultSandboxRPS)
	orDefault(&c.SandboxesRPS, DefaultSandboxesRPS)
	orDefault(&c.GlobalRPS, DefaultGlobalRPS)
	orDefault(&c.InvalidLimit, DefaultInvalidLimit)
	orDefault(&c.InvalidWindow, DefaultInvalidWindow)
	orDefault(&c.Deadline, DefaultDeadline)
	if c.MaxWait < 0 {
		c.MaxWait = 0
	} else {
		orDefault(&c.MaxWait, DefaultMaxWait)
	}
	orDefault(&c.MaxBody, DefaultMaxBody)
	orDefault(&c.MaxResponse, DefaultMaxResponse)
	orDefault(&c.UpstreamTimeout, DefaultUpstreamTimeout)
	orDefault(&c.MaxInFlight, DefaultMaxInFlight)
	orDefault(&c.ChannelCache, DefaultChannelCache)
	orDefault(&c.NegativeTTL, DefaultNegativeTTL)
	orDefault(&c.ChannelMaxAge, DefaultChannelMaxAge)
	orDefault(&c.Replicas, 1)
	if c.Clock == nil {
		c.Clock = systemClock{}
	}
	if c.Transport == nil {
		c.Transport = &http.Transport{
			Proxy:                 nil,
			MaxIdleConns:          256,
			MaxIdleConnsPerHost:   256,
			IdleConnTimeout:       90 * time.Second,
			TLSHandshakeTimeout:   10 * time.Second,
			ResponseHeaderTimeout: c.UpstreamTimeout,
			ForceAttemptHTTP2:     true,
		}
	}
	return c
}

// orDefault sets *v to d when it is not positive.
func orDefault[T int | int64 | float64 | time.Duration](v *T, d T) {
	if *v <= 0 {
		*v = d
	}
}

// SandboxInfo is what the proxy needs to know of a sandbox.
type SandboxInfo struct {
	ID   string
	Name string
	// Running: only a running sandbox may use the proxy.
	Running bool
	// Guilds are the guild ids registered to the sandbox.
	Guilds []string
}

// SandboxLookup finds a sandbox by id. It is called for every request of a sandbox, so it
// should answer from memory (e.g. a KV watch of the sandbox records). An unknown id is an
// error matching sandbox.ErrNotFound.
type SandboxLookup interface {
	Sandbox(ctx context.Context, id string) (SandboxInfo, error)
}

// GuildRoutes tells which sandbox a guild is routed to; router.Table implements it. The
// channel map persists only the channels of routed guilds.
type GuildRoutes interface {
	Lookup(guild string) (string, bool)
}

// Deps are the proxy's collaborators.
type Deps struct {
	// Sandboxes resolves a sandbox id (required).
	Sandboxes SandboxLookup
	// Routes is the live guild route table (required).
	Routes GuildRoutes
	// JetStream holds the proxy's KV buckets; its connection subscribes to the
	// interactions routed to sandboxes (required).
	JetStream jetstream.JetStream
	// Registerer receives the proxy's metrics. Default: not registered.
	Registerer prometheus.Registerer
	// Log defaults to slog.Default().
	Log *slog.Logger
}
