package api

import (
	"context"
	"net/http"

	"github.com/danielgtaylor/huma/v2"

	"github.com/arrakis/gaib/client"
	"github.com/arrakis/gaib/sandbox"
)

type allowInput struct {
	Guild string `path:"guild_id" example:"123456789012345678" doc:"A Discord guild id (snowflake, 17-20 digits)."`
	Body  struct {
		Owner string `json:"owner,omitempty" example:"alice" doc:"The only developer who may register it (default: anyone)."`
		Note  string `json:"note,omitempty" example:"QA guild" doc:"What the guild is (at most 200 bytes)."`
	}
}

// GuildIDPath names a guild.
type GuildIDPath struct {
	Guild string `path:"guild_id" example:"123456789012345678" doc:"A Discord guild id (snowflake, 17-20 digits)."`
}

type allowListOutput struct{ Body []sandbox.AllowedGuild }

func (s *Server) registerGuilds() {
	const tag = "guild allow-list"
	huma.Register(s.api, operation("list-allowed-guilds", http.MethodGet, "/v1/guilds", tag, "The guild allow-list",
		"The test guilds developers may route to their sandboxes."), s.listAllowed)
	huma.Register(s.api, operation("allow-guild", http.MethodPut, "/v1/guilds/{guild_id}", tag, "Allow a test guild",
		"Admins. For every developer, or reserved to one; replaces an existing entry."), s.allowGuild)
	huma.Register(s.api, operation("deny-guild", http.MethodDelete, "/v1/guilds/{guild_id}", tag, "Take a guild off the allow-list",
		"Admins. Sandboxes it is registered to keep it until it is unregistered.", http.StatusNotFound), s.denyGuild)
}

func (s *Server) listAllowed(ctx context.Context, _ *struct{}) (*allowListOutput, error) {
	r, err := client.Call[[]sandbox.AllowedGuild](ctx, s.as(ctx), sandbox.ServiceGuild, sandbox.OpGuildList, struct{}{})
	return &allowListOutput{Body: r}, err
}

func (s *Server) allowGuild(ctx context.Context, in *allowInput) (*allowedOutput, error) {
	r, err := client.Call[sandbox.AllowedGuild](ctx, s.as(ctx), sandbox.ServiceGuild, sandbox.OpGuildAllow,
		sandbox.GuildAllowRequest{Guild: in.Guild, Owner: in.Body.Owner, Note: in.Body.Note})
	return &allowedOutput{Body: r}, err
}

func (s *Server) denyGuild(ctx context.Context, in *GuildIDPath) (*guildRefOutput, error) {
	r, err := client.Call[sandbox.GuildRef](ctx, s.as(ctx), sandbox.ServiceGuild, sandbox.OpGuildDeny, sandbox.GuildRef{Guild: in.Guild})
	return &guildRefOutput{Body: r}, err
}
