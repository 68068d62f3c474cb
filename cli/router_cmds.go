package cli

import (
	"cmp"
	"context"
	"fmt"

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

// Help is the detailed help of `gaib router stats`.
func (RouterStatsCmd) Help() string {
	return examples("gaib router stats", "gaib router stats -o json")
}

// Run prints one row per router.
func (RouterStatsCmd) Run(ctx context.Context, g *Globals, o *IO) error {
	return g.withClient(func(cl *client.Client) error {
		stats, err := cl.RouterStats(ctx)
		if err != nil {
			return err
		}
		names := make([]string, len(stats))
		for i, s := range stats {
			names[i] = s.Instance
		}
		return g.outList(o, stats, names, func() error {
			t := newTable("ROUTER~", "IN>", "SANDBOX>", "PRODUCTION>", "NO GUILD>", "PARSE ERR>", "PUBLISH ERR>", "UNROUTABLE>", "LAG>", "ROUTES>")
			for _, s := range stats {
				t.row(s.Instance, fmt.Sprint(s.EventsIn), fmt.Sprint(s.ToSandbox), fmt.Sprint(s.ToProduction), fmt.Sprint(s.NoGuild),
					fmt.Sprint(s.ParseErrors), fmt.Sprint(s.PublishErrors), fmt.Sprint(s.Unroutable), fmt.Sprint(s.Lag), fmt.Sprint(s.Routes))
			}
			return g.render(o, t)
		})
	})
}

// RouterLookupCmd is `gaib router lookup`.
type RouterLookupCmd struct {
	Guild string `arg:"" help:"Discord guild id."`
}

// Help is the detailed help of `gaib router lookup`.
func (RouterLookupCmd) Help() string {
	return detail("The answer is the router's live table: the sandbox (and its owner) the guild routes to, or production.",
		"gaib router lookup 123456789012345678")
}

// Run prints where the guild's events go.
func (c *RouterLookupCmd) Run(ctx context.Context, g *Globals, o *IO) error {
	return g.withClient(func(cl *client.Client) error {
		resp, err := client.Call[services.LookupResponse](ctx, cl, sandbox.ServiceRouter, "lookup", services.LookupRequest{Guild: c.Guild})
		if err != nil {
			return err
		}
		return g.out(o, resp, cmp.Or(resp.Sandbox, resp.SandboxID), func() {
			switch {
			case !resp.Routed:
				writeLine(o.Stdout, "Guild %s goes to production (%s).", resp.Guild, resp.Subject)
			case resp.Sandbox != "":
				writeLine(o.Stdout, "Guild %s goes to sandbox %s of %s (id %s; %s).", resp.Guild, resp.Sandbox, resp.Owner, resp.SandboxID, resp.Subject)
			default:
				writeLine(o.Stdout, "Guild %s goes to sandbox %s (%s).", resp.Guild, resp.SandboxID, resp.Subject)
			}
		})
	})
}
