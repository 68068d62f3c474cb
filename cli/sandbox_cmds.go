package cli

import (
	"context"
	"time"

	"github.com/arrakis/gaib/client"
	"github.com/arrakis/gaib/sandbox"
)

// CreateCmd is `gaib sandbox create`.
type CreateCmd struct {
	Name   string   `arg:"" optional:"" help:"Sandbox name, a DNS label (default <you>-<4 random chars>)."`
	TTL    string   `name:"ttl" help:"Time to live: 90m, 48h, 2d, 1w (default: the mesh's, 24h)."`
	Guilds []string `name:"guild" placeholder:"ID" help:"Register a Discord guild from the allow-list (repeatable)."`
	DryRun bool     `help:"Validate and show what would be created, change nothing."`
	Owner  string   `placeholder:"NAME" help:"Admins: create it for another identity (it counts against their quota)."`
	CreateConfig
}

// Help is the detailed help of `gaib sandbox create`.
func (CreateCmd) Help() string {
	return detail("Create is all-or-nothing: the schema, Redis user, event stream, credential and guild routes exist when it returns, or nothing does.",
		"gaib sandbox create demo --guild 123456789012345678",
		"gaib sandbox create --ttl 2h                      # named <you>-xxxx",
		"gaib sandbox create qa-1 --owner alice --dry-run   # admins: for someone else")
}

// Run creates the sandbox.
func (c *CreateCmd) Run(ctx context.Context, g *Globals, o *IO) error {
	return g.withClient(func(cl *client.Client) error {
		rec, err := cl.Create(ctx, sandbox.CreateRequest{Name: c.Name, Owner: c.Owner, TTL: c.TTL, Guilds: c.Guilds, DryRun: c.DryRun, Config: c.configVars()})
		if err != nil {
			return err
		}
		return g.out(o, rec, rec.Name, func() {
			if c.DryRun {
				writeLine(o.Stdout, "Dry run: sandbox %s would be created for %s, living %s. Nothing was changed.", rec.Name, rec.Owner, rec.TTL)
				return
			}
			writeLine(o.Stdout, "Created sandbox %s (id %s), expires %s.", o.paint(ansiGreen, rec.Name), rec.ID, relative(rec.ExpiresAt, time.Now()))
			writeLine(o.Stdout, "Use it:  eval \"$(gaib sandbox connect %s)\"   or   gaib sandbox run %s -- COMMAND", rec.Name, rec.Name)
		})
	})
}

// ListCmd is `gaib sandbox list`.
type ListCmd struct {
	All    bool   `short:"a" help:"Include destroyed sandboxes (kept for the retention period)."`
	Mine   bool   `help:"Only your sandboxes."`
	Owner  string `placeholder:"NAME" help:"Only NAME's sandboxes."`
	Status string `help:"Only sandboxes in this status (provisioning, running, expired, destroying, destroyed)."`
}

// Help is the detailed help of `gaib sandbox list`.
func (ListCmd) Help() string {
	return detail("On a terminal the table fits its width (long names end with …); -o wide shows every cell whole, with the guild ids.",
		"gaib sandbox list",
		"gaib sandbox ls --mine -o wide",
		"gaib sandbox ls --all --status destroyed -o name")
}

// Run lists sandboxes.
func (c *ListCmd) Run(ctx context.Context, g *Globals, o *IO) error {
	return g.withClient(func(cl *client.Client) error {
		owner := c.Owner
		if c.Mine {
			owner = cl.Identity()
		}
		rs, err := cl.List(ctx, sandbox.ListRequest{All: c.All, Owner: owner, Status: c.Status})
		if err != nil {
			return err
		}
		names := make([]string, len(rs))
		for i, r := range rs {
			names[i] = r.Name
		}
		return g.outList(o, rs, names, func() error { return g.printTable(o, rs) })
	})
}

// ExtendCmd is `gaib sandbox extend`.
type ExtendCmd struct {
	Name string `arg:"" help:"Sandbox name or id."`
	TTL  string `name:"ttl" required:"" help:"Time to add: 90m, 48h, 2d, 1w."`
}

// Help is the detailed help of `gaib sandbox extend`.
func (ExtendCmd) Help() string {
	return detail("The time left after extending may not exceed the mesh's --max-ttl (168h by default).",
		"gaib sandbox extend demo --ttl 1d")
}

// Run extends the sandbox.
func (c *ExtendCmd) Run(ctx context.Context, g *Globals, o *IO) error {
	return g.withClient(func(cl *client.Client) error {
		rec, err := cl.Extend(ctx, c.Name, c.TTL)
		if err != nil {
			return err
		}
		return g.out(o, rec, rec.ExpiresAt.Format(time.RFC3339), func() {
			writeLine(o.Stdout, "Sandbox %s now expires %s (%s).", rec.Name,
				rec.ExpiresAt.Local().Format(time.DateTime), relative(rec.ExpiresAt, time.Now()))
		})
	})
}
