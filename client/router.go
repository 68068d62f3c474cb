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

// Route is where the router sends a gateway event, by its live table.
type Route struct {
	// To is "sandbox" or "production".
	To string `json:"to"`
	// Subject is the subject the router publishes the event on.
	Subject   string `json:"subject"`
	SandboxID string `json:"sandbox_id,omitempty"`
	Sandbox   string `json:"sandbox,omitempty"`
	Owner     string `json:"owner,omitempty"`
}

// Describe says where the route goes, for a person.
func (r Route) Describe() string {
	switch {
	case r.To != "sandbox":
		return "production (" + r.Subject + ")"
	case r.Sandbox != "":
		return fmt.Sprintf("sandbox %s of %s (%s)", r.Sandbox, r.Owner, r.Subject)
	}
	return fmt.Sprintf("sandbox %s (%s)", r.SandboxID, r.Subject)
}

// RouteOf asks a router where an event published on gatewaySubject for guild goes (no
// guild: production).
func (c *Client) RouteOf(ctx context.Context, guild, gatewaySubject string) (Route, error) {
	prod, ok := sandbox.StripGateway(gatewaySubject)
	if !ok {
		return Route{}, sandbox.Errorf(sandbox.CodeInvalidRequest, "%s is not a gateway subject the router routes", gatewaySubject)
	}
	if guild == "" {
		return Route{To: "production", Subject: prod}, nil
	}
	r, err := c.Lookup(ctx, guild)
	switch {
	case err != nil:
		return Route{}, err
	case !r.Routed:
		return Route{To: "production", Subject: prod}, nil
	}
	return Route{To: "sandbox", Subject: sandbox.SandboxSubject(r.SandboxID, prod), SandboxID: r.SandboxID, Sandbox: r.Sandbox, Owner: r.Owner}, nil
}
