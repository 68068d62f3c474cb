package cli

import (
	"context"
	"strings"

	"github.com/arrakis/gaib/client"
	"github.com/arrakis/gaib/sandbox"
	"github.com/arrakis/gaib/services"
)

// CleanupCmd groups the cleanup commands.
type CleanupCmd struct {
	Run       CleanupRunCmd       `cmd:"" help:"Sweep now: expire sandboxes, finish interrupted creates and destroys, drop old records."`
	Reconcile CleanupReconcileCmd `cmd:"" help:"Check every running sandbox and repair what differs from what create made (lost ACL users or roles, changed passwords, routes left pending)."`
	Orphans   CleanupOrphansCmd   `cmd:"" help:"List resources (schemas, roles, Redis users and keys, sandbox messages, routes) that belong to no live sandbox."`
}

// CleanupRunCmd is `gaib cleanup run`.
type CleanupRunCmd struct{}

// Help is the detailed help of `gaib cleanup run`.
func (CleanupRunCmd) Help() string {
	return detail("The mesh sweeps by itself every --sweep-interval; this runs one now (admins). It exits 1 when a sandbox could not be cleaned up.",
		"gaib cleanup run")
}

// Run asks the cleanup service for a sweep.
func (CleanupRunCmd) Run(ctx context.Context, g *Globals, o *IO) error {
	return g.withClient(func(cl *client.Client) error {
		rep, err := client.Call[services.SweepReport](ctx, cl, sandbox.ServiceCleanup, "run", services.SweepRequest{})
		if err != nil {
			return err
		}
		if err := g.out(o, rep, "", func() {
			writeLine(o.Stdout, "Expired %d, destroyed %d, dropped %d old records, %d failed.",
				len(rep.Expired), len(rep.Destroyed), len(rep.Purged), len(rep.Failed))
			for _, e := range rep.Errors {
				writeLine(o.Stdout, "  %s", e)
			}
		}); err != nil {
			return err
		}
		if len(rep.Failed) > 0 && !g.structured() {
			return sandbox.Errorf(sandbox.CodeInternal, "%d sandboxes could not be cleaned up", len(rep.Failed))
		}
		return nil
	})
}

// CleanupOrphansCmd is `gaib cleanup orphans`.
type CleanupOrphansCmd struct {
	Remove bool `help:"Delete what is found (live sandboxes are never touched)."`
}

// Help is the detailed help of `gaib cleanup orphans`.
func (CleanupOrphansCmd) Help() string {
	return detail("Orphans are compared with the live records of every store; a live sandbox is never flagged or touched.",
		"gaib cleanup orphans", "gaib cleanup orphans --remove")
}

// Run lists (and with --remove deletes) orphaned resources.
func (c *CleanupOrphansCmd) Run(ctx context.Context, g *Globals, o *IO) error {
	return g.withClient(func(cl *client.Client) error {
		rep, err := client.Call[services.OrphanReport](ctx, cl, sandbox.ServiceCleanup, "orphans", services.OrphansRequest{Remove: c.Remove})
		if err != nil {
			return err
		}
		return g.out(o, rep, "", func() {
			if len(rep.Orphans) == 0 {
				writeLine(o.Stdout, "No orphaned resources.")
				return
			}
			t := newTable("SANDBOX ID", "STORE", "WHAT~")
			for _, or := range rep.Orphans {
				what := strings.Join(or.Kinds, ", ")
				if len(or.Keys) > 0 {
					what += " (" + strings.Join(or.Keys, ", ") + ")"
				}
				t.row(or.ID, or.Store, what)
			}
			_ = g.render(o, t)
			switch {
			case !c.Remove:
				writeLine(o.Stdout, "Run `gaib cleanup orphans --remove` to delete them.")
			case len(rep.Errors) == 0:
				writeLine(o.Stdout, "Removed.")
			default:
				for _, e := range rep.Errors {
					writeLine(o.Stdout, "  failed: %s", e)
				}
			}
		})
	})
}

// CleanupReconcileCmd is `gaib cleanup reconcile`.
type CleanupReconcileCmd struct{}

// Help explains the reconcile.
func (CleanupReconcileCmd) Help() string {
	return detail("The cleanup also does this every --reconcile-interval (1m); each repair is logged and counted in gaib_reconcile_repairs_total.",
		"gaib cleanup reconcile", "gaib cleanup reconcile --json")
}

// Run asks the cleanup service to reconcile now.
func (CleanupReconcileCmd) Run(ctx context.Context, g *Globals, o *IO) error {
	return g.withClient(func(cl *client.Client) error {
		rep, err := client.Call[services.ReconcileReport](ctx, cl, sandbox.ServiceCleanup, "reconcile", struct{}{})
		if err != nil {
			return err
		}
		if err := g.out(o, rep, "", func() {
			writeLine(o.Stdout, "Repaired %d, could not repair %d.", len(rep.Repaired), len(rep.Failed))
			for _, r := range rep.Repaired {
				writeLine(o.Stdout, "  %s %s: %s", r.Sandbox, r.Plane, r.Problem)
			}
			for _, f := range rep.Failed {
				writeLine(o.Stdout, "  failed: %s", f)
			}
		}); err != nil {
			return err
		}
		if len(rep.Failed) > 0 && !g.JSON {
			return sandbox.Errorf(sandbox.CodeInternal, "%d repairs failed", len(rep.Failed))
		}
		return nil
	})
}
