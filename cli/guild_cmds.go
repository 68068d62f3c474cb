package cli

import (
	"context"

	"github.com/arrakis/gaib/client"
	"github.com/arrakis/gaib/sandbox"
)

// RegisterCmd is `gaib sandbox register-guild`.
type RegisterCmd struct {
	Name  string `arg:"" help:"Sandbox name or id."`
	Guild string `arg:"" help:"Discord guild id (a 17-20 digit snowflake)."`
}

// Help is the detailed help of `gaib sandbox register-guild`.
func (RegisterCmd) Help() string {
	return detail("It returns once every router routes the guild's events to the sandbox. Developers may register guilds an admin allowed (gaib guild allow); "+
		"registering a guild the sandbox already has succeeds and says so; a guild another sandbox holds is a conflict (exit 4) that names it and its owner.",
		"gaib sandbox register-guild demo 123456789012345678",
		"gaib sandbox link demo 123456789012345678")
}

// Run registers the guild; it returns once every router routes it.
func (c *RegisterCmd) Run(ctx context.Context, g *Globals, o *IO) error {
	return g.guildOp(ctx, o, c.Name, c.Guild, (*client.Client).RegisterGuild, "now routes to")
}

// UnregisterCmd is `gaib sandbox unregister-guild`.
type UnregisterCmd struct {
	Name  string `arg:"" help:"Sandbox name or id."`
	Guild string `arg:"" help:"Discord guild id."`
}

// Help is the detailed help of `gaib sandbox unregister-guild`.
func (UnregisterCmd) Help() string {
	return detail("The guild's next event goes to production. Unregistering a guild the sandbox does not have succeeds and says so.",
		"gaib sandbox unregister-guild demo 123456789012345678",
		"gaib sandbox unlink demo 123456789012345678")
}

// Run unregisters the guild; its next event goes to production.
func (c *UnregisterCmd) Run(ctx context.Context, g *Globals, o *IO) error {
	return g.guildOp(ctx, o, c.Name, c.Guild, (*client.Client).UnregisterGuild, "no longer routes to")
}

func (g *Globals) guildOp(ctx context.Context, o *IO, name, guild string,
	op func(*client.Client, context.Context, string, string) (sandbox.GuildResponse, error), verb string) error {
	return g.withClient(func(cl *client.Client) error {
		resp, err := op(cl, ctx, name, guild)
		if err != nil {
			return err
		}
		if resp.Warning != "" && !g.structured() {
			writeLine(o.Stderr, "gaib: warning: %s", resp.Warning)
		}
		return g.out(o, resp, guild, func() {
			if resp.Note != "" {
				writeLine(o.Stdout, "%s", resp.Note)
				return
			}
			writeLine(o.Stdout, "Guild %s %s sandbox %s.", guild, verb, resp.Name)
		})
	})
}
