package services

import (
	"context"
	"log/slog"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/micro"

	"github.com/arrakis/gaib/sandbox"
)

// AddSandboxService registers one instance of the sandbox micro service on nc. Several
// instances share the default queue group, so requests spread across them.
func AddSandboxService(ctx context.Context, nc *nats.Conn, sb *Sandboxes, log *slog.Logger) (micro.Service, error) {
	u := sb.store
	return addService(nc, sandbox.ServiceSandbox,
		"gaib sandboxes: create, inspect, extend, connect to and destroy isolated Discord bot sandboxes",
		func(e *micro.NATSError) { log.Warn("sandbox service", "subject", e.Subject, "err", e.Description) },
		endpoint{op: sandbox.OpCreate, handler: handleIdempotent(ctx, log, sb, sandbox.OpCreate, sb.Create),
			description: "Create a sandbox (all-or-nothing) owned by the caller", request: "CreateRequest {name, ttl, guilds, dry_run, owner (admins: act as)}", response: "Record"},
		endpoint{op: sandbox.OpGet, handler: handle(ctx, log, u, sb.Status),
			description: "Get a sandbox by name or id, with a live health check per plane", request: "RefRequest {sandbox}", response: "StatusResponse"},
		endpoint{op: sandbox.OpWatch, handler: sb.handleWatch(ctx, log),
			description: "Long poll: answer when the sandbox's record is newer than revision (or after wait, at most 25s)", request: "WatchRequest {sandbox, revision, wait}", response: "Record"},
		endpoint{op: sandbox.OpList, handler: handle(ctx, log, u, sb.List),
			description: "List sandboxes (not destroyed unless all)", request: "ListRequest {all, owner, status}", response: "[]Record"},
		endpoint{op: sandbox.OpDestroy, handler: handleIdempotent(ctx, log, sb, sandbox.OpDestroy, sb.Destroy),
			description: "Destroy a sandbox and everything it owns (owner or admin; idempotent, resumable)", request: "RefRequest {sandbox}", response: "Record"},
		endpoint{op: sandbox.OpExtend, handler: handleIdempotent(ctx, log, sb, sandbox.OpExtend, sb.Extend),
			description: "Add time to a running sandbox (owner or admin)", request: "ExtendRequest {sandbox, ttl}", response: "Record"},
		endpoint{op: sandbox.OpConnect, handler: handle(ctx, log, u, sb.Connect),
			description: "Connection settings and the NATS credential of a running sandbox (owner or admin)", request: "RefRequest {sandbox}", response: "ConnectResponse {sandbox, env, credentials}"},
		endpoint{op: sandbox.OpRegister, handler: handleIdempotent(ctx, log, sb, sandbox.OpRegister, sb.RegisterGuild),
			description: "Route an allowed guild's events to a sandbox (owner or admin)", request: "GuildRequest {sandbox, guild}", response: "GuildResponse"},
		endpoint{op: sandbox.OpAudit, handler: handle(ctx, log, u, sb.Audit), description: "A sandbox's audit trail, also after destroy (owner or admin)", request: "AuditRequest {sandbox, after, limit}", response: "AuditResponse {sandbox_id, entries, more}"},
		endpoint{op: sandbox.OpConfigSet, handler: handle(ctx, log, u, sb.ConfigSet), description: "Set keys of a running sandbox's config (owner or admin; secret ones redacted in answers and the audit trail)", request: "ConfigSetRequest {sandbox, vars [{key, value, secret}]}", response: "ConfigResponse"},
		endpoint{op: sandbox.OpConfigUnset, handler: handle(ctx, log, u, sb.ConfigUnset), description: "Remove keys of a running sandbox's config (owner or admin)", request: "ConfigUnsetRequest {sandbox, keys}", response: "ConfigResponse"},
		endpoint{op: sandbox.OpConfigGet, handler: handle(ctx, log, u, sb.ConfigGet), description: "One key of a sandbox's config (owner or admin)", request: "ConfigGetRequest {sandbox, key, show_secrets}", response: "ConfigVar"},
		endpoint{op: sandbox.OpConfigList, handler: handle(ctx, log, u, sb.ConfigList), description: "A sandbox's config (owner or admin)", request: "ConfigListRequest {sandbox, show_secrets}", response: "ConfigResponse"},
		endpoint{op: sandbox.OpUnregister, handler: handleIdempotent(ctx, log, sb, sandbox.OpUnregister, sb.UnregisterGuild),
			description: "Send a guild's events back to production (owner or admin)", request: "GuildRequest {sandbox, guild}", response: "GuildResponse"},
	)
}
