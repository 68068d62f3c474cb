package api

import (
	"context"
	"net/http"
	"net/url"

	"github.com/danielgtaylor/huma/v2"

	"github.com/arrakis/gaib/sandbox"
)

// createBody asks for a sandbox: what `gaib sandbox create` takes.
type createBody struct {
	Name   string   `json:"name,omitempty" example:"demo" doc:"A DNS label of at most 40 characters (default <you>-<4 random characters>)."`
	TTL    string   `json:"ttl,omitempty" example:"24h" doc:"Time to live: 90m, 48h, 2d, 1w (default: the server's, 24h)."`
	Guilds []string `json:"guilds,omitempty" example:"[\"123456789012345678\"]" doc:"Discord guilds to route to it (developers: from the allow-list)."`
	Owner  string   `json:"owner,omitempty" example:"alice" doc:"Admins: create it for another identity (it counts against their quota)."`
	DryRun bool     `json:"dry_run,omitempty" doc:"Validate and return the record that would be created; change nothing."`

	Config []sandbox.ConfigVar `json:"config,omitempty" doc:"The sandbox's initial config (as PUT /v1/sandboxes/{name}/config)."`
}

type createInput struct{ Body createBody }

type createOutput struct {
	Status   int
	Location string `header:"Location" doc:"The new sandbox's URL."`
	Body     sandbox.Record
}

type listInput struct {
	Owner  string `query:"owner" example:"alice" doc:"Only this identity's sandboxes."`
	Status string `query:"status" example:"running" doc:"Only sandboxes in this status: provisioning, running, expired, destroying or destroyed."`
	All    bool   `query:"all" doc:"Include destroyed sandboxes (kept for the retention period)."`
}

type listOutput struct{ Body []sandbox.Record }

type statusOutput struct{ Body sandbox.StatusResponse }

type extendInput struct {
	SandboxPath
	Body struct {
		TTL string `json:"ttl" example:"24h" doc:"Time to add; the time left may not exceed the server's maximum TTL."`
	}
}

type connectionOutput struct {
	CacheControl string `header:"Cache-Control" doc:"no-store: the answer holds the sandbox's credentials."`
	Body         sandbox.ConnectResponse
}

func (s *Server) registerSandboxes() {
	const tag = "sandboxes"
	conflict := []int{http.StatusConflict}
	huma.Register(s.api, with(operation("create-sandbox", http.MethodPost, "/v1/sandboxes", tag, "Create a sandbox",
		"All-or-nothing across KV, Postgres, Redis and the routes, owned by the caller. Answers 201 with the record and its Location (200 for a dry run).",
		http.StatusConflict, http.StatusNotFound), http.StatusCreated), s.create)
	huma.Register(s.api, operation("list-sandboxes", http.MethodGet, "/v1/sandboxes", tag, "List sandboxes",
		"Oldest first; by default those not destroyed."), s.list)
	huma.Register(s.api, operation("get-sandbox", http.MethodGet, "/v1/sandboxes/{name}", tag, "Get a sandbox",
		"The record, with a live health check of each plane while it runs.", http.StatusNotFound), s.get)
	huma.Register(s.api, operation("destroy-sandbox", http.MethodDelete, "/v1/sandboxes/{name}", tag, "Destroy a sandbox",
		"Removes everything it owns (owner or admin). Idempotent and resumable: destroying a destroyed sandbox answers its record.",
		append(conflict, http.StatusNotFound)...), s.destroy)
	huma.Register(s.api, operation("extend-sandbox", http.MethodPost, "/v1/sandboxes/{name}/extend", tag, "Give a sandbox more time",
		"Adds ttl to its expiry (owner or admin; running sandboxes only).", append(conflict, http.StatusNotFound)...), s.extend)
	huma.Register(s.api, operation("register-guild", http.MethodPut, "/v1/sandboxes/{name}/guilds/{guild_id}", tag, "Route a guild to a sandbox",
		"Answers once every router applied the route (else with a warning). Owner or admin; developers only allowed guilds.",
		append(conflict, http.StatusNotFound)...), s.registerGuild)
	huma.Register(s.api, operation("unregister-guild", http.MethodDelete, "/v1/sandboxes/{name}/guilds/{guild_id}", tag, "Send a guild back to production",
		"Owner or admin.", append(conflict, http.StatusNotFound)...), s.unregisterGuild)
	huma.Register(s.api, operation("get-connection", http.MethodGet, "/v1/sandboxes/{name}/connection", tag, "A sandbox's connection settings",
		"What `gaib sandbox connect` gives: the worker's environment and the sandbox's own NATS credential (owner or admin; running sandboxes only).",
		append(conflict, http.StatusNotFound)...), s.connection)
}

// with sets an operation's success status.
func with(op huma.Operation, status int) huma.Operation {
	op.DefaultStatus = status
	return op
}

func (s *Server) create(ctx context.Context, in *createInput) (*createOutput, error) {
	b := in.Body
	rec, err := s.as(ctx).Create(ctx, sandbox.CreateRequest{Name: b.Name, Owner: b.Owner, TTL: b.TTL, Guilds: b.Guilds, DryRun: b.DryRun, Config: b.Config})
	if err != nil {
		return nil, err
	}
	if b.DryRun {
		return &createOutput{Status: http.StatusOK, Body: rec}, nil
	}
	return &createOutput{Status: http.StatusCreated, Location: "/v1/sandboxes/" + url.PathEscape(rec.Name), Body: rec}, nil
}

func (s *Server) list(ctx context.Context, in *listInput) (*listOutput, error) {
	rs, err := s.as(ctx).List(ctx, sandbox.ListRequest{All: in.All, Owner: in.Owner, Status: in.Status})
	return &listOutput{Body: rs}, err
}

func (s *Server) get(ctx context.Context, in *SandboxPath) (*statusOutput, error) {
	st, err := s.as(ctx).Get(ctx, in.Name)
	return &statusOutput{Body: st}, err
}

func (s *Server) destroy(ctx context.Context, in *SandboxPath) (*recordOutput, error) {
	rec, err := s.as(ctx).Destroy(ctx, in.Name)
	return &recordOutput{Body: rec}, err
}

func (s *Server) extend(ctx context.Context, in *extendInput) (*recordOutput, error) {
	rec, err := s.as(ctx).Extend(ctx, in.Name, in.Body.TTL)
	return &recordOutput{Body: rec}, err
}

func (s *Server) registerGuild(ctx context.Context, in *GuildPath) (*guildOutput, error) {
	r, err := s.as(ctx).RegisterGuild(ctx, in.Name, in.Guild)
	return &guildOutput{Body: r}, err
}

func (s *Server) unregisterGuild(ctx context.Context, in *GuildPath) (*guildOutput, error) {
	r, err := s.as(ctx).UnregisterGuild(ctx, in.Name, in.Guild)
	return &guildOutput{Body: r}, err
}

func (s *Server) connection(ctx context.Context, in *SandboxPath) (*connectionOutput, error) {
	r, err := s.as(ctx).Connect(ctx, in.Name)
	return &connectionOutput{CacheControl: "no-store", Body: r}, err
}
