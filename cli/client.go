package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nats.go/micro"

	gjs "github.com/arrakis/gaib/jetstream"
	"github.com/arrakis/gaib/sandbox"
)

// DefaultServer is the NATS URL the CLI uses when neither --server, NATS_URL nor --context
// names one: where `gaib serve` listens by default.
const DefaultServer = "nats://127.0.0.1:4222"

// Client calls the gaib micro services over NATS. It never touches Postgres or Redis.
type Client struct {
	nc      *nats.Conn
	url     string
	timeout time.Duration
	// borrowed connections belong to the caller and are not closed by Close.
	borrowed bool
}

// Dial connects to the mesh at url. A server that cannot be reached gives an error with
// code unavailable that says how to start one.
func Dial(url string, timeout time.Duration, opts ...nats.Option) (*Client, error) {
	if url == "" {
		url = DefaultServer
	}
	if timeout <= 0 {
		timeout = 30 * time.Second
	}
	opts = append([]nats.Option{
		nats.Name("gaib-cli"),
		nats.Timeout(5 * time.Second),
		nats.MaxReconnects(2),
		// Server notices go nowhere: they must never reach stdout (--json).
		nats.ErrorHandler(func(*nats.Conn, *nats.Subscription, error) {}),
	}, opts...)
	nc, err := nats.Connect(url, opts...)
	if err != nil {
		return nil, unreachable(url, err)
	}
	return &Client{nc: nc, url: url, timeout: timeout}, nil
}

// NewClient wraps an existing connection (tests, benchmarks, serve). Close does not close it.
func NewClient(nc *nats.Conn, timeout time.Duration) *Client {
	return &Client{nc: nc, url: nc.ConnectedUrlRedacted(), timeout: timeout, borrowed: true}
}

func unreachable(url string, err error) error {
	return sandbox.Errorf(sandbox.CodeUnavailable,
		"cannot reach the gaib mesh at %s (%v): start it with `gaib serve`, or point --server/NATS_URL at it", url, err)
}

// Conn is the underlying NATS connection.
func (c *Client) Conn() *nats.Conn { return c.nc }

// URL is the (redacted) URL the client is connected to.
func (c *Client) URL() string { return c.url }

// Close closes the connection (flushing what is pending), so the process can exit at once.
func (c *Client) Close() {
	if c.nc != nil && !c.borrowed {
		c.nc.Close()
	}
}

// call sends req to subject and decodes the answer into Resp, or the micro error into a
// *sandbox.Error with its stable code.
func call[Resp any](ctx context.Context, c *Client, subject string, req any) (Resp, error) {
	var zero Resp
	body, err := json.Marshal(req)
	if err != nil {
		return zero, err
	}
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	msg, err := c.nc.RequestWithContext(ctx, subject, body)
	switch {
	case errors.Is(err, nats.ErrNoResponders):
		return zero, sandbox.Errorf(sandbox.CodeUnavailable,
			"no gaib service answers %s on %s: start the mesh with `gaib serve`", subject, c.url)
	case errors.Is(err, context.DeadlineExceeded) || errors.Is(err, nats.ErrTimeout):
		return zero, sandbox.Errorf(sandbox.CodeUnavailable, "no answer on %s within %s", subject, c.timeout)
	case errors.Is(err, nats.ErrConnectionClosed) || errors.Is(err, nats.ErrDisconnected):
		return zero, unreachable(c.url, err)
	case err != nil:
		return zero, err
	}
	if code := msg.Header.Get(micro.ErrorCodeHeader); code != "" {
		var eb sandbox.ErrorBody
		if json.Unmarshal(msg.Data, &eb) == nil && eb.Error != nil {
			return zero, eb.Error
		}
		return zero, &sandbox.Error{Code: sandbox.Code(code), Message: msg.Header.Get(micro.ErrorHeader)}
	}
	var out Resp
	if err := json.Unmarshal(msg.Data, &out); err != nil {
		return zero, fmt.Errorf("%s: bad response: %w", subject, err)
	}
	return out, nil
}

func sandboxOp(op string) string { return sandbox.Endpoint(sandbox.ServiceSandbox, op) }

// Create asks for a new sandbox.
func (c *Client) Create(ctx context.Context, req sandbox.CreateRequest) (sandbox.Record, error) {
	return call[sandbox.Record](ctx, c, sandboxOp(sandbox.OpCreate), req)
}

// Get returns a sandbox by name or id, with its live health.
func (c *Client) Get(ctx context.Context, ref string) (sandbox.StatusResponse, error) {
	return call[sandbox.StatusResponse](ctx, c, sandboxOp(sandbox.OpGet), sandbox.RefRequest{Sandbox: ref})
}

// List returns sandboxes matching req.
func (c *Client) List(ctx context.Context, req sandbox.ListRequest) ([]sandbox.Record, error) {
	return call[[]sandbox.Record](ctx, c, sandboxOp(sandbox.OpList), req)
}

// Destroy destroys a sandbox by name or id.
func (c *Client) Destroy(ctx context.Context, ref, actor string) (sandbox.Record, error) {
	return call[sandbox.Record](ctx, c, sandboxOp(sandbox.OpDestroy), sandbox.RefRequest{Sandbox: ref, Actor: actor})
}

// Extend adds ttl to a sandbox's expiry.
func (c *Client) Extend(ctx context.Context, ref, ttl, actor string) (sandbox.Record, error) {
	return call[sandbox.Record](ctx, c, sandboxOp(sandbox.OpExtend), sandbox.ExtendRequest{Sandbox: ref, TTL: ttl, Actor: actor})
}

// Connect returns a running sandbox's connection settings.
func (c *Client) Connect(ctx context.Context, ref string) (sandbox.ConnectResponse, error) {
	return call[sandbox.ConnectResponse](ctx, c, sandboxOp(sandbox.OpConnect), sandbox.RefRequest{Sandbox: ref})
}

// RegisterGuild routes a guild to a sandbox.
func (c *Client) RegisterGuild(ctx context.Context, ref, guild, actor string) (sandbox.GuildResponse, error) {
	return call[sandbox.GuildResponse](ctx, c, sandboxOp(sandbox.OpRegister), sandbox.GuildRequest{Sandbox: ref, Guild: guild, Actor: actor})
}

// UnregisterGuild sends a guild back to production.
func (c *Client) UnregisterGuild(ctx context.Context, ref, guild, actor string) (sandbox.GuildResponse, error) {
	return call[sandbox.GuildResponse](ctx, c, sandboxOp(sandbox.OpUnregister), sandbox.GuildRequest{Sandbox: ref, Guild: guild, Actor: actor})
}

// Watch sends the record of sandbox id on every change, starting with the current one,
// by watching its KV key (no polling). The channel closes when ctx ends or the record goes.
func (c *Client) Watch(ctx context.Context, id string) (<-chan sandbox.Record, error) {
	js, err := jetstream.New(c.nc)
	if err != nil {
		return nil, err
	}
	kv, err := js.KeyValue(ctx, sandbox.BucketSandboxes)
	if err != nil {
		return nil, fmt.Errorf("sandbox bucket: %w", err)
	}
	return gjs.WatchRecord(ctx, kv, id)
}
