package cli

import (
	"bufio"
	"context"
	"fmt"
	"strings"

	"github.com/arrakis/gaib/client"
	"github.com/arrakis/gaib/sandbox"
)

// withClient dials the mesh, runs fn and closes the connection, so every command exits
// promptly.
func (g *Globals) withClient(fn func(*client.Client) error) error {
	c, err := g.dial()
	if err != nil {
		return err
	}
	defer c.Close()
	return fn(c)
}

// CreateCmd is `gaib sandbox create`.
type CreateCmd struct {
	Name   string   `arg:"" optional:"" help:"Sandbox name, a DNS label (default <you>-<4 random chars>)."`
	TTL    string   `name:"ttl" help:"Time to live: 90m, 48h, 2d, 1w (default: the server's, 24h)."`
	Guilds []string `name:"guild" placeholder:"ID" help:"Register a Discord guild from the allow-list (repeatable)."`
	DryRun bool     `help:"Validate and show what would be created, change nothing."`
	Owner  string   `placeholder:"NAME" help:"Admins: create it for another identity (it counts against their quota)."`
	CreateConfig
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
			writeLine(o.Stdout, "Created sandbox %s (id %s), expires %s.", o.paint(ansiGreen, rec.Name), rec.ID, relative(rec.ExpiresAt, rec.CreatedAt))
			writeLine(o.Stdout, "Use it:  eval \"$(gaib sandbox connect %s)\"", rec.Name)
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
		if g.JSON {
			return writeJSON(o.Stdout, rs)
		}
		if g.Quiet {
			for _, r := range rs {
				fmt.Fprintln(o.Stdout, r.Name)
			}
			return nil
		}
		o.printTable(rs)
		return nil
	})
}

// StatusCmd is `gaib sandbox status`.
type StatusCmd struct {
	Name  string `arg:"" help:"Sandbox name or id."`
	Watch bool   `short:"w" help:"Redraw on every change until the sandbox is destroyed (Ctrl-C to stop)."`
}

// Run shows the sandbox.
func (c *StatusCmd) Run(ctx context.Context, g *Globals, o *IO) error {
	return g.withClient(func(cl *client.Client) error {
		st, err := cl.Get(ctx, c.Name)
		if err != nil {
			return err
		}
		if !c.Watch {
			return g.out(o, st, string(st.Status), func() { o.printRecord(st.Record, st.Health) })
		}
		return c.watch(ctx, g, o, cl, st.ID)
	})
}

// watch redraws the sandbox on every change of its record. In JSON mode it prints one
// document per change, one a line.
func (c *StatusCmd) watch(ctx context.Context, g *Globals, o *IO, cl *client.Client, id string) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var werr error
	retrying := func(err error) {
		if !g.JSON {
			fmt.Fprintf(o.Stderr, "gaib: the mesh is unreachable (%v); retrying for %s\n", err, g.Timeout)
		}
	}
	for rec := range cl.Watch(ctx, id, retrying, &werr) {
		switch {
		case g.JSON:
			if err := writeJSONLine(o.Stdout, rec); err != nil {
				return err
			}
		case g.Quiet:
			fmt.Fprintln(o.Stdout, rec.Status)
		default:
			if o.Color {
				fmt.Fprint(o.Stdout, "\033[H\033[2J")
			} else {
				fmt.Fprintln(o.Stdout, "---")
			}
			o.printRecord(rec, nil)
		}
	}
	if ctx.Err() != nil {
		return nil
	}
	return werr
}

// DestroyCmd is `gaib sandbox destroy`.
type DestroyCmd struct {
	Name string `arg:"" help:"Sandbox name or id."`
	Yes  bool   `short:"y" help:"Do not ask for confirmation (required when stdin is not a terminal)."`
}

// Run destroys the sandbox after confirmation.
func (c *DestroyCmd) Run(ctx context.Context, g *Globals, o *IO) error {
	return g.withClient(func(cl *client.Client) error {
		if !c.Yes {
			if !o.StdinIsTerminal {
				return sandbox.Errorf(sandbox.CodeInvalidRequest, "refusing to destroy %q without --yes: stdin is not a terminal", c.Name)
			}
			st, err := cl.Get(ctx, c.Name)
			if err != nil {
				return err
			}
			fmt.Fprintf(o.Stderr, "Destroy sandbox %s (id %s, owner %s) and all its data? [y/N] ", st.Name, st.ID, st.Owner)
			answer, _ := bufio.NewReader(o.Stdin).ReadString('\n')
			if a := strings.ToLower(strings.TrimSpace(answer)); a != "y" && a != "yes" {
				return sandbox.Errorf(sandbox.CodeInvalidRequest, "not destroyed")
			}
			c.Name = st.ID
		}
		rec, err := cl.Destroy(ctx, c.Name)
		if err != nil {
			return err
		}
		return g.out(o, rec, rec.ID, func() {
			writeLine(o.Stdout, "Destroyed sandbox %s (id %s).", rec.Name, rec.ID)
		})
	})
}

// ExtendCmd is `gaib sandbox extend`.
type ExtendCmd struct {
	Name string `arg:"" help:"Sandbox name or id."`
	TTL  string `name:"ttl" required:"" help:"Time to add: 90m, 48h, 2d, 1w."`
}

// Run extends the sandbox.
func (c *ExtendCmd) Run(ctx context.Context, g *Globals, o *IO) error {
	return g.withClient(func(cl *client.Client) error {
		rec, err := cl.Extend(ctx, c.Name, c.TTL)
		if err != nil {
			return err
		}
		return g.out(o, rec, rec.ExpiresAt.Format("2006-01-02T15:04:05Z07:00"), func() {
			writeLine(o.Stdout, "Sandbox %s now expires %s (%s).", rec.Name,
				rec.ExpiresAt.Local().Format("2006-01-02 15:04:05"), relative(rec.ExpiresAt, rec.UpdatedAt))
		})
	})
}
