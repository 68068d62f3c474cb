package services

import (
	"context"
	"log/slog"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/micro"

	"github.com/arrakis/gaib/sandbox"
)

// maxNoteLen bounds an allow-list note.
const maxNoteLen = 200

// AllowGuild puts a test guild on the allow-list (admins only), open to every developer or
// reserved to one.
func (s *Sandboxes) AllowGuild(ctx context.Context, c Caller, req sandbox.GuildAllowRequest) (sandbox.AllowedGuild, error) {
	if err := requireAdmin(c, "manage the guild allow-list"); err != nil {
		return sandbox.AllowedGuild{}, err
	}
	if err := sandbox.ValidateGuildID(req.Guild); err != nil {
		return sandbox.AllowedGuild{}, err
	}
	if req.Owner != "" {
		if err := sandbox.ValidateIdentity(req.Owner); err != nil {
			return sandbox.AllowedGuild{}, err
		}
	}
	if len(req.Note) > maxNoteLen {
		return sandbox.AllowedGuild{}, sandbox.Errorf(sandbox.CodeInvalidRequest, "note is longer than %d bytes", maxNoteLen)
	}
	g := sandbox.AllowedGuild{Guild: req.Guild, Owner: req.Owner, Note: req.Note, AddedBy: c.Name, AddedAt: s.now()}
	if err := s.store.AllowGuild(ctx, g); err != nil {
		return g, err
	}
	s.auditChange(ctx, auditGuilds, c.Name, "guild-allow", g)
	return g, nil
}

// DenyGuild takes a guild off the allow-list (admins only). Sandboxes it is registered to
// keep it until it is unregistered; new registrations by developers are refused.
func (s *Sandboxes) DenyGuild(ctx context.Context, c Caller, req sandbox.GuildRef) (sandbox.GuildRef, error) {
	if err := requireAdmin(c, "manage the guild allow-list"); err != nil {
		return req, err
	}
	if err := sandbox.ValidateGuildID(req.Guild); err != nil {
		return req, err
	}
	if _, err := s.store.DenyGuild(ctx, req.Guild); err != nil {
		return req, err
	}
	s.auditChange(ctx, auditGuilds, c.Name, "guild-deny", req)
	return req, nil
}

// ListGuilds returns the allow-list (anyone: developers need to know what they may use).
func (s *Sandboxes) ListGuilds(ctx context.Context, _ Caller, _ struct{}) ([]sandbox.AllowedGuild, error) {
	return s.store.AllowedGuilds(ctx)
}

// AddGuildService registers one instance of the guild allow-list micro service.
func AddGuildService(ctx context.Context, nc *nats.Conn, sb *Sandboxes, log *slog.Logger) (micro.Service, error) {
	return addService(nc, sandbox.ServiceGuild, "gaib guild allow-list: which test guilds may be routed to sandboxes",
		func(e *micro.NATSError) { log.Warn("guild service", "subject", e.Subject, "err", e.Description) },
		endpoint{op: sandbox.OpGuildAllow, handler: handle(ctx, log, sb.store, sb.AllowGuild),
			description: "Allow a test guild, for everyone or one owner (admins)", request: "GuildAllowRequest {guild, owner, note}", response: "AllowedGuild"},
		endpoint{op: sandbox.OpGuildDeny, handler: handle(ctx, log, sb.store, sb.DenyGuild),
			description: "Take a guild off the allow-list (admins)", request: "GuildRef {guild}", response: "GuildRef"},
		endpoint{op: sandbox.OpGuildList, handler: handle(ctx, log, sb.store, sb.ListGuilds),
			description: "The allow-list", request: "{}", response: "[]AllowedGuild"},
	)
}
