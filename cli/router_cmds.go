package cli

import (
	"context"
	"fmt"
	"text/tabwriter"

	"github.com/arrakis/gaib/client"
	"github.com/arrakis/gaib/sandbox"
	"github.com/arrakis/gaib/services"
)

// RouterCmd groups the router commands.
type RouterCmd struct {
	Stats  RouterStatsCmd  `cmd:"" help:"Counters of every running router."`
	Lookup RouterLookupCmd `cmd:"" help:"Where a guild's events go."`
}

// RouterStatsCmd is `gaib router stats`.
type RouterStatsCmd struct{}

// Run prints one row per router.
func (RouterStatsCmd) Run(ctx context.Context, g *Globals, o *IO) error {
	return g.withClient(func(cl *client.Client) error {
		stats, err := cl.RouterStats(ctx)
		if err != nil {
			return err
		}
		return g.out(o, stats, "", func() {
			w := tabwriter.NewWriter(o.Stdout, 0, 2, 2, ' ', tabwriter.AlignRight)
			fmt.Fprintln(w, "ROUTER\tIN\tSANDBOX\tPRODUCTION\tNO GUILD\tPARSE ERR\tPUBLISH ERR\tUNROUTABLE\tLAG\tROUTES\t")
			for _, s := range stats {
				fmt.Fprintf(w, "%s\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t\n", s.Instance, s.EventsIn, s.ToSandbox,
					s.ToProduction, s.NoGuild, s.ParseErrors, s.PublishErrors, s.Unroutable, s.Lag, s.Routes)
			}
			_ = w.Flush()
		})
	})
}

// RouterLookupCmd is `gaib router lookup`.
type RouterLookupCmd struct {
	Guild string `arg:"" help:"Discord guild id."`
}

// Run prints where the guild's events go.
func (c *RouterLookupCmd) Run(ctx context.Context, g *Globals, o *IO) error {
	return g.withClient(func(cl *client.Client) error {
		resp, err := client.Call[services.LookupResponse](ctx, cl, sandbox.ServiceRouter, "lookup", services.LookupRequest{Guild: c.Guild})
		if err != nil {
			return err
		}
		return g.out(o, resp, resp.SandboxID, func() {
			if !resp.Routed {
				writeLine(o.Stdout, "Guild %s goes to production (events.…).", resp.Guild)
				return
			}
			writeLine(o.Stdout, "Guild %s goes to sandbox %s (sandbox.%s.events.…).", resp.Guild, resp.SandboxID, resp.SandboxID)
		})
	})
}
