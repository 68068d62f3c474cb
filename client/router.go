package client

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/arrakis/gaib/router"
	"github.com/arrakis/gaib/sandbox"
	"github.com/arrakis/gaib/services"
)

// RouterStats asks every running router for its counters.
func (c *Client) RouterStats(ctx context.Context) ([]router.Stats, error) {
	replies, err := router.Gather(ctx, c.nc, sandbox.Request(sandbox.ServiceRouter, "stats", c.identity), []byte("{}"), 0, 2*time.Second, 100*time.Millisecond)
	if err != nil {
		return nil, err
	}
	out := make([]router.Stats, 0, len(replies))
	for _, m := range replies {
		var s router.Stats
		if err := json.Unmarshal(m.Data, &s); err != nil {
			return nil, fmt.Errorf("router stats: %w", err)
		}
		out = append(out, s)
	}
	if len(out) == 0 {
		return nil, sandbox.Errorf(sandbox.CodeUnavailable, "no router answers on %s: start one with `gaib serve`", c.url)
	}
	return out, nil
}

// Lookup asks a router where a guild's events go.
func (c *Client) Lookup(ctx context.Context, guild string) (services.LookupResponse, error) {
	return Call[services.LookupResponse](ctx, c, sandbox.ServiceRouter, "lookup", services.LookupRequest{Guild: guild})
}

// Destination says where a guild's gateway events go, by the router's table.
func (c *Client) Destination(ctx context.Context, guild string) string {
	if guild == "" {
		return "production (no guild)"
	}
	r, err := c.Lookup(ctx, guild)
	switch {
	case err != nil:
		return "wherever the router sends guild " + guild + " (no router answered)"
	case !r.Routed:
		return "production"
	case r.Sandbox != "":
		return fmt.Sprintf("sandbox %s of %s", r.Sandbox, r.Owner)
	}
	return "sandbox " + r.SandboxID
}
