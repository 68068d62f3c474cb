package cli

import (
	"cmp"
	"context"
	"time"

	"github.com/arrakis/gaib/client"
	"github.com/arrakis/gaib/sandbox"
)

// GuildCmd groups the allow-list commands.
type GuildCmd struct {
	Allow GuildAllowCmd `cmd:"" help:"Allow a test guild to be routed to sandboxes (admins)."`
	List  GuildListCmd  `cmd:"" aliases:"ls" help:"List the allowed test guilds."`
	Deny  GuildDenyCmd  `cmd:"" help:"Take a guild off the allow-list (admins)."`
}

// GuildAllowCmd is `gaib guild allow`.
type GuildAllowCmd struct {
	Guild string `arg:"" help:"Discord guild id (a 17-20 digit snowflake)."`
	Owner string `placeholder:"NAME" help:"Reserve it to one developer (default: anyone)."`
	Note  string `help:"What the guild is for."`
}

// Help is the detailed help of `gaib guild allow`.
func (GuildAllowCmd) Help() string {
	return detail("Developers may register only allowed guilds to their sandboxes; admins any guild.",
		`gaib guild allow 123456789012345678 --note "QA server"`,
		"gaib guild allow 223456789012345678 --owner alice")
}

// Run allows the guild.
func (c *GuildAllowCmd) Run(ctx context.Context, g *Globals, o *IO) error {
	return g.withClient(func(cl *client.Client) error {
		a, err := client.Call[sandbox.AllowedGuild](ctx, cl, sandbox.ServiceGuild, sandbox.OpGuildAllow,
			sandbox.GuildAllowRequest{Guild: c.Guild, Owner: c.Owner, Note: c.Note})
		if err != nil {
			return err
		}
		return g.out(o, a, a.Guild, func() {
			who := "any developer"
			if a.Owner != "" {
				who = a.Owner
			}
			writeLine(o.Stdout, "Guild %s may now be registered to sandboxes by %s.", a.Guild, who)
		})
	})
}

// GuildDenyCmd is `gaib guild deny`.
type GuildDenyCmd struct {
	Guild string `arg:"" help:"Discord guild id."`
}

// Help is the detailed help of `gaib guild deny`.
func (GuildDenyCmd) Help() string {
	return examples("gaib guild deny 123456789012345678")
}

// Run takes the guild off the allow-list.
func (c *GuildDenyCmd) Run(ctx context.Context, g *Globals, o *IO) error {
	return g.withClient(func(cl *client.Client) error {
		r, err := client.Call[sandbox.GuildRef](ctx, cl, sandbox.ServiceGuild, sandbox.OpGuildDeny, sandbox.GuildRef{Guild: c.Guild})
		if err != nil {
			return err
		}
		return g.out(o, r, r.Guild, func() {
			writeLine(o.Stdout, "Guild %s is off the allow-list; sandboxes that have it keep it until it is unregistered.", r.Guild)
		})
	})
}

// GuildListCmd is `gaib guild list`.
type GuildListCmd struct{}

// Help is the detailed help of `gaib guild list`.
func (GuildListCmd) Help() string {
	return examples("gaib guild list", "gaib guild ls -o name")
}

// Run lists the allow-list.
func (GuildListCmd) Run(ctx context.Context, g *Globals, o *IO) error {
	return g.withClient(func(cl *client.Client) error {
		gs, err := client.Call[[]sandbox.AllowedGuild](ctx, cl, sandbox.ServiceGuild, sandbox.OpGuildList, struct{}{})
		if err != nil {
			return err
		}
		names := make([]string, len(gs))
		for i, a := range gs {
			names[i] = a.Guild
		}
		return g.outList(o, gs, names, func() error {
			if len(gs) == 0 {
				writeLine(o.Stdout, "No guild is allowed yet. An admin adds one with: gaib guild allow GUILD_ID")
				return nil
			}
			t := newTable("GUILD", "FOR~", "ADDED BY~", "ADDED", "NOTE~")
			now := time.Now()
			for _, a := range gs {
				t.row(a.Guild, cmp.Or(a.Owner, "anyone"), a.AddedBy, relative(a.AddedAt, now), a.Note)
			}
			return g.render(o, t)
		})
	})
}
