package services

import (
	"context"
	"errors"
	"log/slog"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/micro"

	"github.com/arrakis/gaib/sandbox"
)

// Version is the version every gaib micro service advertises.
var Version = "0.1.0"

// AddSandboxService registers one instance of the sandbox micro service on nc. Several
// instances share the default queue group, so requests spread across them.
func AddSandboxService(ctx context.Context, nc *nats.Conn, sb *Sandboxes, log *slog.Logger) (micro.Service, error) {
	svc, err := micro.AddService(nc, micro.Config{
		Name:        sandbox.ServiceSandbox,
		Version:     Version,
		Description: "gaib sandboxes: create, inspect, extend, connect to and destroy isolated Discord bot sandboxes",
		ErrorHandler: func(_ micro.Service, e *micro.NATSError) {
			log.Warn("sandbox service", "subject", e.Subject, "err", e.Description)
		},
	})
	if err != nil {
		return nil, err
	}
	g := svc.AddGroup(sandbox.Group(sandbox.ServiceSandbox))
	err = joinErrs(
		g.AddEndpoint(sandbox.OpCreate, handle(ctx, log, sb.Create), meta(
			"Create a sandbox (all-or-nothing)", "CreateRequest {name, owner, ttl, guilds, dry_run}", "Record")),
		g.AddEndpoint(sandbox.OpGet, handle(ctx, log, sb.Status), meta(
			"Get a sandbox by name or id, with a live health check per plane", "RefRequest {sandbox}", "StatusResponse")),
		g.AddEndpoint(sandbox.OpList, handle(ctx, log, sb.List), meta(
			"List sandboxes (not destroyed unless all)", "ListRequest {all, owner, status}", "[]Record")),
		g.AddEndpoint(sandbox.OpDestroy, handle(ctx, log, sb.Destroy), meta(
			"Destroy a sandbox and everything it owns (idempotent, resumable)", "RefRequest {sandbox, actor}", "Record")),
		g.AddEndpoint(sandbox.OpExtend, handle(ctx, log, sb.Extend), meta(
			"Add time to a running sandbox", "ExtendRequest {sandbox, ttl, actor}", "Record")),
		g.AddEndpoint(sandbox.OpConnect, handle(ctx, log, sb.Connect), meta(
			"Connection settings of a running sandbox", "RefRequest {sandbox}", "ConnectResponse {sandbox, env}")),
		g.AddEndpoint(sandbox.OpRegister, handle(ctx, log, sb.RegisterGuild), meta(
			"Route a guild's events to a sandbox", "GuildRequest {sandbox, guild, actor}", "GuildResponse")),
		g.AddEndpoint(sandbox.OpUnregister, handle(ctx, log, sb.UnregisterGuild), meta(
			"Send a guild's events back to production", "GuildRequest {sandbox, guild, actor}", "GuildResponse")),
	)
	if err != nil {
		_ = svc.Stop()
		return nil, err
	}
	return svc, nil
}

// joinErrs joins the errors of registering endpoints.
func joinErrs(errs ...error) error { return errors.Join(errs...) }

// meta describes an endpoint for `nats micro info`.
func meta(description, request, response string) micro.EndpointOpt {
	return micro.WithEndpointMetadata(map[string]string{
		"description": description,
		"request":     request + " (JSON)",
		"response":    response + " (JSON); errors: Nats-Service-Error-Code header + {\"error\":{code,message}}",
	})
}
