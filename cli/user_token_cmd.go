package cli

import (
	"context"
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/arrakis/gaib/client"
	"github.com/arrakis/gaib/sandbox"
)

// UserTokenCmd is `gaib user token`: issue, list or revoke the REST API bearer tokens of
// an identity (admins).
type UserTokenCmd struct {
	Name   string `arg:"" help:"The identity the token acts as."`
	TTL    string `name:"ttl" help:"The token stops working after this long (90d, 1w; default: never)."`
	Note   string `help:"What the token is for (shown by --list)."`
	List   bool   `xor:"token-op" help:"List NAME's tokens instead (never their secrets)."`
	Revoke string `xor:"token-op" placeholder:"ID" help:"Revoke NAME's token ID instead (it stops working at once)."`
}

// Help shows examples of tokens.
func (UserTokenCmd) Help() string {
	return detail("A token acts exactly as its identity does over NATS; it is shown once and stored hashed.",
		`gaib user token ci --ttl 30d --note "bot CI"`, "gaib user token ci --list", "gaib user token ci --revoke ID")
}

// Run issues a token and prints it (alone on stdout, so TOKEN=$(gaib user token ci) works),
// or lists or revokes tokens.
func (c *UserTokenCmd) Run(ctx context.Context, g *Globals, o *IO) error {
	return g.withClient(func(cl *client.Client) error {
		switch {
		case c.List:
			return c.list(ctx, g, o, cl)
		case c.Revoke != "":
			t, err := client.Call[sandbox.Token](ctx, cl, sandbox.ServiceUser, sandbox.OpTokenRevoke, sandbox.TokenRevokeRequest{Name: c.Name, ID: c.Revoke})
			if err != nil {
				return err
			}
			return g.out(o, t, t.ID, func() { writeLine(o.Stdout, "Revoked token %s of %s: it no longer works.", t.ID, t.Identity) })
		}
		resp, err := client.Call[sandbox.TokenIssueResponse](ctx, cl, sandbox.ServiceUser, sandbox.OpTokenIssue,
			sandbox.TokenIssueRequest{Name: c.Name, TTL: c.TTL, Note: c.Note})
		if err != nil {
			return err
		}
		if g.JSON {
			return writeJSON(o.Stdout, resp)
		}
		if !g.Quiet {
			fmt.Fprintf(o.Stderr, "Issued token %s for %s; it follows (keep it secret; it is shown once):\n", resp.Info.ID, resp.Info.Identity)
		}
		_, err = fmt.Fprintln(o.Stdout, resp.Token)
		return err
	})
}

func (c *UserTokenCmd) list(ctx context.Context, g *Globals, o *IO, cl *client.Client) error {
	ts, err := client.Call[[]sandbox.Token](ctx, cl, sandbox.ServiceUser, sandbox.OpTokenList, sandbox.UserRequest{Name: c.Name})
	if err != nil {
		return err
	}
	if g.JSON {
		return writeJSON(o.Stdout, ts)
	}
	if g.Quiet {
		for _, t := range ts {
			fmt.Fprintln(o.Stdout, t.ID)
		}
		return nil
	}
	w := tabwriter.NewWriter(o.Stdout, 0, 2, 2, ' ', 0)
	fmt.Fprintln(w, "ID\tCREATED\tBY\tEXPIRES\tNOTE")
	now := time.Now()
	for _, t := range ts {
		exp := "never"
		if !t.Expires.IsZero() {
			exp = relative(t.Expires, now)
		}
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\n", t.ID, relative(t.CreatedAt, now), t.CreatedBy, exp, t.Note)
	}
	return w.Flush()
}
