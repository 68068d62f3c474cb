package api

import (
	"context"
	"net/http"

	"github.com/danielgtaylor/huma/v2"

	"github.com/arrakis/gaib/client"
	"github.com/arrakis/gaib/sandbox"
)

// Test events: what `gaib events publish` does, over HTTP.

type publishInput struct {
	Body client.Events
}

type sandboxPublishInput struct {
	SandboxPath
	Body client.Events
}

type publishedOutput struct{ Body client.Published }

// registerPublish registers the stand-in for the Discord gateway and the test events a
// developer puts straight into a sandbox's own stream.
func (s *Server) registerPublish() {
	huma.Register(s.api, operation("publish-gateway-events", http.MethodPost, "/v1/events", "events", "Publish test events into the gateway",
		"Admins and gateway identities: the events go into GATEWAY as the Arrakis gateway publishes them, and the router sends each to the sandbox holding its guild or to production; the answer says where. Each event carries a message id: publishing again never stores one twice."),
		s.publishGateway)
	huma.Register(s.api, operation("publish-sandbox-events", http.MethodPost, "/v1/sandboxes/{name}/events", "events", "Publish test events into a sandbox",
		"Owner or admin: the events go straight into the sandbox's own stream, with the sandbox's own credential.",
		http.StatusNotFound, http.StatusConflict), s.publishSandbox)
}

// publishGateway checks the role itself: the API's connection holds the mesh's credential,
// which NATS lets publish anywhere, while over NATS only admins' and the gateway's
// credentials may publish into the gateway.
func (s *Server) publishGateway(ctx context.Context, in *publishInput) (*publishedOutput, error) {
	if err := in.Body.Validate(); err != nil {
		return nil, err
	}
	as := s.as(ctx)
	who, err := client.Call[sandbox.WhoAmIResponse](ctx, as, sandbox.ServiceUser, sandbox.OpWhoAmI, struct{}{})
	if err != nil {
		return nil, err
	}
	if who.Role != sandbox.RoleAdmin && who.Role != sandbox.RoleGateway {
		return nil, sandbox.Errorf(sandbox.CodeForbidden, "%s is a %s: only admins and the gateway publish into the gateway (POST /v1/sandboxes/{name}/events puts test events into your own sandbox)", who.Name, who.Role)
	}
	res, err := as.PublishEvents(ctx, in.Body, "")
	return &publishedOutput{Body: res}, err
}

func (s *Server) publishSandbox(ctx context.Context, in *sandboxPublishInput) (*publishedOutput, error) {
	res, err := s.as(ctx).PublishEvents(ctx, in.Body, in.Name)
	return &publishedOutput{Body: res}, err
}
