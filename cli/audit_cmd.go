package cli

import (
	"context"
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/arrakis/gaib/client"
	"github.com/arrakis/gaib/sandbox"
)

// AuditCmd is `gaib sandbox audit`.
type AuditCmd struct {
	Name string `arg:"" help:"Sandbox name (also once destroyed) or id."`
}

// Help shows examples of the audit trail.
func (AuditCmd) Help() string {
	return detail("Works after the sandbox is destroyed; once its record is dropped (--retention), by id.",
		"gaib sandbox audit demo", "gaib sandbox audit k3v9x0a1bc --json")
}

// Run prints every change made to the sandbox, oldest first: when, who, what, and what
// changed (status, expiry, guilds).
func (c *AuditCmd) Run(ctx context.Context, g *Globals, o *IO) error {
	return g.withClient(func(cl *client.Client) error {
		trail, err := auditTrail(ctx, cl, c.Name)
		if err != nil {
			return err
		}
		if g.JSON {
			return writeJSON(o.Stdout, trail)
		}
		if g.Quiet {
			for _, e := range trail.Entries {
				fmt.Fprintf(o.Stdout, "%s %s %s\n", e.At.UTC().Format(time.RFC3339), e.Actor, e.Action)
			}
			return nil
		}
		w := tabwriter.NewWriter(o.Stdout, 0, 2, 2, ' ', 0)
		fmt.Fprintln(w, "TIME\tACTOR\tACTION\tCHANGES")
		for _, e := range trail.Entries {
			changes := strings.Join(e.Changes(), ", ")
			if e.Detail != "" {
				changes = strings.TrimPrefix(changes+"; "+e.Detail, "; ")
			}
			fmt.Fprintf(w, "%s\t%s\t%s\t%s\n", e.At.Local().Format(time.DateTime), e.Actor, e.Action, changes)
		}
		return w.Flush()
	})
}

// auditTrail reads a sandbox's whole audit trail, page by page; after the first page it
// asks by id, so a new sandbox taking the name meanwhile cannot mix in.
func auditTrail(ctx context.Context, cl *client.Client, ref string) (sandbox.AuditResponse, error) {
	out := sandbox.AuditResponse{Entries: []sandbox.AuditEntry{}}
	req := sandbox.AuditRequest{Sandbox: ref, Limit: sandbox.MaxAuditLimit}
	for {
		page, err := client.Call[sandbox.AuditResponse](ctx, cl, sandbox.ServiceSandbox, sandbox.OpAudit, req)
		if err != nil {
			return out, err
		}
		out.SandboxID = page.SandboxID
		out.Entries = append(out.Entries, page.Entries...)
		if !page.More || len(page.Entries) == 0 {
			return out, nil
		}
		req.Sandbox, req.After = page.SandboxID, page.Entries[len(page.Entries)-1].Seq
	}
}
