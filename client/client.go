// Package client is the NATS client of the gaib mesh: what the CLI and the REST API use to
// call the micro services as an identity. It never touches Postgres or Redis.
package client

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/micro"

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
	// identity is who the client acts as: the last token of every request subject.
	identity string
	// borrowed connections belong to the caller and are not closed by Close.
	borrowed bool
	// denied receives the server's permission violations (asynchronous on NATS), so an
	// operation waiting for an answer that will never come fails at once.
	denied chan error
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
	denied := make(chan error, 16)
	opts = append([]nats.Option{
		nats.Name("gaib-cli"),
		nats.Timeout(5 * time.Second),
		nats.MaxReconnects(2),
		// Server notices never reach stdout (--json); permission violations are kept.
		nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) {
			if errors.Is(err, nats.ErrPermissionViolation) {
				select {
				case denied <- err:
				default:
				}
			}
		}),
	}, opts...)
	nc, err := nats.Connect(url, opts...)
	if err != nil {
		if aerr := AuthError(url, err); aerr != nil {
			return nil, aerr
		}
		return nil, Unreachable(url, err)
	}
	return &Client{nc: nc, url: url, timeout: timeout, denied: denied}, nil
}

// NewClient wraps an existing connection of identity (tests, benchmarks, the REST API).
// Close does not close it.
func NewClient(nc *nats.Conn, identity string, timeout time.Duration) *Client {
	return &Client{nc: nc, url: nc.ConnectedUrlRedacted(), timeout: timeout, borrowed: true, identity: identity}
}

// Denied delivers the server's permission violations on this client's connection (nil for
// a borrowed connection: its owner handles them).
func (c *Client) Denied() <-chan error { return c.denied }

// Identity is who the client acts as.
func (c *Client) Identity() string { return c.identity }

// Unreachable is the error of a mesh that cannot be reached: code unavailable, with how to
// start one.
func Unreachable(url string, err error) error {
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

// Call sends req to an endpoint of service as the client's identity and decodes the
// answer into Resp, or the micro error into a *sandbox.Error with its stable code.
//
// Every request carries its deadline, so the services never work past it; a mutating
// request carries an idempotency key made for this call. When the mesh is unavailable (no
// answer, no responder, a transient JetStream error) the call is repeated with the same key
// until the client's timeout: a repeat answers with the first attempt's outcome, so a lost
// reply never turns a create that happened into name_taken, nor one that did not into a
// success.
func Call[Resp any](ctx context.Context, c *Client, service, op string, req any) (Resp, error) {
	return callWithin[Resp](ctx, c, c.timeout, min(c.timeout, attemptTimeout), service, op, req)
}

// callWithin is Call with its own deadline, and a bound on each attempt (a long poll waits
// longer than an answer takes: its attempt is its whole deadline).
func callWithin[Resp any](ctx context.Context, c *Client, timeout, attempt time.Duration, service, op string, req any) (Resp, error) {
	var zero Resp
	body, err := json.Marshal(req)
	if err != nil {
		return zero, err
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	key := ""
	if mutating[op] {
		key = newKey()
	}
	var noResponders time.Time // since when nobody answers at all
	for backoff := 200 * time.Millisecond; ; backoff = min(2*backoff, 2*time.Second) {
		out, err := call[Resp](ctx, c, attempt, service, op, key, body)
		if !errors.Is(err, sandbox.ErrUnavailable) || ctx.Err() != nil {
			return out, err
		}
		// Nobody listening is a mesh restarting (ride it out briefly) or no mesh at all
		// (say so soon); a slow or failed answer is worth repeating until the timeout.
		if errors.Is(err, errNoResponders) {
			if noResponders.IsZero() {
				noResponders = time.Now()
			} else if time.Since(noResponders) > noRespondersGrace {
				return out, err
			}
		} else {
			noResponders = time.Time{}
		}
		deadline, _ := ctx.Deadline()
		if time.Until(deadline) < backoff {
			return out, err
		}
		select {
		case <-ctx.Done():
			return out, err
		case <-time.After(backoff):
		}
	}
}

// mutating are the operations that change state; they are sent with an idempotency key.
var mutating = map[string]bool{
	sandbox.OpCreate: true, sandbox.OpDestroy: true, sandbox.OpExtend: true,
	sandbox.OpRegister: true, sandbox.OpUnregister: true,
}

// noRespondersGrace is how long a call keeps asking while no service listens at all.
const noRespondersGrace = 3 * time.Second

// noRespondersError is the unavailable error of a request nobody listened to.
type noRespondersError struct{ err *sandbox.Error }

func (e *noRespondersError) Error() string { return e.err.Error() }
func (e *noRespondersError) Unwrap() error { return e.err }

// errNoResponders matches a noRespondersError with errors.Is.
var errNoResponders = errors.New("no responders")

func (e *noRespondersError) Is(target error) bool { return target == errNoResponders }

// attemptTimeout bounds one attempt, leaving time to repeat within the client's timeout.
const attemptTimeout = 20 * time.Second

// call is one attempt of Call, bounded by attempt.
func call[Resp any](ctx context.Context, c *Client, attempt time.Duration, service, op, key string, body []byte) (Resp, error) {
	var zero Resp
	subject := sandbox.Request(service, op, c.identity)
	actx, cancel := context.WithTimeout(ctx, attempt)
	defer cancel()
	deadline, _ := actx.Deadline()
	msg := nats.NewMsg(subject)
	msg.Data = body
	msg.Header.Set(sandbox.HeaderDeadline, deadline.UTC().Format(time.RFC3339Nano))
	if key != "" {
		msg.Header.Set(sandbox.HeaderIdempotencyKey, key)
	}
	resp, err := c.nc.RequestMsgWithContext(actx, msg)
	switch {
	case errors.Is(err, nats.ErrNoResponders):
		return zero, &noRespondersError{sandbox.Errorf(sandbox.CodeUnavailable,
			"no gaib service answers %s on %s: start the mesh with `gaib serve`", subject, c.url)}
	case errors.Is(err, context.DeadlineExceeded) || errors.Is(err, nats.ErrTimeout):
		return zero, sandbox.Errorf(sandbox.CodeUnavailable, "no answer on %s within %s", subject, attempt)
	case errors.Is(err, nats.ErrConnectionClosed) || errors.Is(err, nats.ErrDisconnected):
		return zero, Unreachable(c.url, err)
	case errors.Is(err, nats.ErrPermissionViolation):
		return zero, sandbox.Errorf(sandbox.CodeForbidden, "your credential (%s) may not send %s", c.identity, subject)
	case err != nil:
		return zero, err
	}
	if code := resp.Header.Get(micro.ErrorCodeHeader); code != "" {
		var eb sandbox.ErrorBody
		if json.Unmarshal(resp.Data, &eb) == nil && eb.Error != nil {
			return zero, eb.Error
		}
		return zero, &sandbox.Error{Code: sandbox.Code(code), Message: resp.Header.Get(micro.ErrorHeader)}
	}
	var out Resp
	if err := json.Unmarshal(resp.Data, &out); err != nil {
		return zero, fmt.Errorf("%s: bad response: %w", subject, err)
	}
	return out, nil
}

// newKey is a fresh idempotency key: 128 random bits.
func newKey() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// Create asks for a new sandbox.
func (c *Client) Create(ctx context.Context, req sandbox.CreateRequest) (sandbox.Record, error) {
	return Call[sandbox.Record](ctx, c, sandbox.ServiceSandbox, sandbox.OpCreate, req)
}

// Get returns a sandbox by name or id, with its live health.
func (c *Client) Get(ctx context.Context, ref string) (sandbox.StatusResponse, error) {
	return Call[sandbox.StatusResponse](ctx, c, sandbox.ServiceSandbox, sandbox.OpGet, sandbox.RefRequest{Sandbox: ref})
}

// List returns sandboxes matching req.
func (c *Client) List(ctx context.Context, req sandbox.ListRequest) ([]sandbox.Record, error) {
	return Call[[]sandbox.Record](ctx, c, sandbox.ServiceSandbox, sandbox.OpList, req)
}

// Destroy destroys a sandbox by name or id.
func (c *Client) Destroy(ctx context.Context, ref string) (sandbox.Record, error) {
	return Call[sandbox.Record](ctx, c, sandbox.ServiceSandbox, sandbox.OpDestroy, sandbox.RefRequest{Sandbox: ref})
}

// Extend adds ttl to a sandbox's expiry.
func (c *Client) Extend(ctx context.Context, ref, ttl string) (sandbox.Record, error) {
	return Call[sandbox.Record](ctx, c, sandbox.ServiceSandbox, sandbox.OpExtend, sandbox.ExtendRequest{Sandbox: ref, TTL: ttl})
}

// Connect returns a running sandbox's connection settings and NATS credential.
func (c *Client) Connect(ctx context.Context, ref string) (sandbox.ConnectResponse, error) {
	return Call[sandbox.ConnectResponse](ctx, c, sandbox.ServiceSandbox, sandbox.OpConnect, sandbox.RefRequest{Sandbox: ref})
}

// RegisterGuild routes a guild to a sandbox.
func (c *Client) RegisterGuild(ctx context.Context, ref, guild string) (sandbox.GuildResponse, error) {
	return Call[sandbox.GuildResponse](ctx, c, sandbox.ServiceSandbox, sandbox.OpRegister, sandbox.GuildRequest{Sandbox: ref, Guild: guild})
}

// UnregisterGuild sends a guild back to production.
func (c *Client) UnregisterGuild(ctx context.Context, ref, guild string) (sandbox.GuildResponse, error) {
	return Call[sandbox.GuildResponse](ctx, c, sandbox.ServiceSandbox, sandbox.OpUnregister, sandbox.GuildRequest{Sandbox: ref, Guild: guild})
}

// SleepCtx sleeps for d or until ctx ends.
func SleepCtx(ctx context.Context, d time.Duration) {
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
}

// AuthError turns the server's refusal of a credential into an unauthenticated error that
// says what to do, or returns nil for other errors.
func AuthError(url string, err error) error {
	if errors.Is(err, nats.ErrAuthorization) || errors.Is(err, nats.ErrAuthExpired) || errors.Is(err, nats.ErrAuthRevoked) {
		return sandbox.Errorf(sandbox.CodeUnauthenticated,
			"the mesh at %s refused the credential (%v): it may be revoked, expired or for another mesh; ask an admin for a new one", url, err)
	}
	return nil
}

// SetIdentity sets who the client acts as (the name in its credential).
func (c *Client) SetIdentity(name string) { c.identity = name }
