package cli

import (
	"context"
	"fmt"

	"github.com/arrakis/gaib/client"
	"github.com/arrakis/gaib/sandbox"
)

// RegisterCmd is `gaib sandbox register-guild`.
type RegisterCmd struct {
	Name  string `arg:"" help:"Sandbox name or id."`
	Guild string `arg:"" help:"Discord guild id (a 17-20 digit snowflake)."`
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
		if resp.Warning != "" && !g.JSON {
			fmt.Fprintln(o.Stderr, "gaib: warning:", resp.Warning)
		}
		return g.out(o, resp, guild, func() {
			writeLine(o.Stdout, "Guild %s %s sandbox %s.", guild, verb, resp.Name)
		})
	})
}
