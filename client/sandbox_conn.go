package client

import (
	"context"

	"github.com/nats-io/jwt/v2"
	"github.com/nats-io/nats.go"

	"github.com/arrakis/gaib/sandbox"
)

// SandboxConn connects to the mesh with sandbox ref's own NATS credential (what its worker
// holds): `events publish --sandbox` and the event tail act as the sandbox, never as you.
// The credential stays in memory.
func (c *Client) SandboxConn(ctx context.Context, ref string) (*nats.Conn, sandbox.Record, error) {
	resp, err := c.Connect(ctx, ref)
	if err != nil {
		return nil, sandbox.Record{}, err
	}
	if resp.Credentials == "" {
		return nil, resp.Record, sandbox.Errorf(sandbox.CodeUnavailable, "the mesh hands out no NATS credential for sandbox %q (it runs without NATS authentication)", resp.Record.Name)
	}
	token, err := jwt.ParseDecoratedJWT([]byte(resp.Credentials))
	if err != nil {
		return nil, resp.Record, err
	}
	kp, err := jwt.ParseDecoratedNKey([]byte(resp.Credentials))
	if err != nil {
		return nil, resp.Record, err
	}
	seed, _ := kp.Seed()
	nc, err := nats.Connect(c.url, nats.UserJWTAndSeed(token, string(seed)), nats.Name("gaib-cli-sandbox"),
		nats.CustomInboxPrefix(sandbox.SandboxInbox(resp.Record.ID)), nats.MaxReconnects(-1), nats.ReconnectWait(2*retryEvery),
		nats.ErrorHandler(func(*nats.Conn, *nats.Subscription, error) {}))
	if err != nil {
		if aerr := AuthError(c.url, err); aerr != nil {
			return nil, resp.Record, aerr
		}
		return nil, resp.Record, Unreachable(c.url, err)
	}
	return nc, resp.Record, nil
}
