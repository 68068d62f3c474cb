package cli

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/arrakis/gaib/sandbox"
)

const (
	ansiReset  = "\033[0m"
	ansiGreen  = "\033[32m"
	ansiYellow = "\033[33m"
	ansiRed    = "\033[31m"
	ansiDim    = "\033[2m"
)

func (o *IO) paint(color, s string) string {
	if !o.Color {
		return s
	}
	return color + s + ansiReset
}

func (o *IO) status(s sandbox.Status) string {
	switch s {
	case sandbox.StatusRunning:
		return o.paint(ansiGreen, string(s))
	case sandbox.StatusProvisioning, sandbox.StatusDestroying, sandbox.StatusExpired:
		return o.paint(ansiYellow, string(s))
	default:
		return o.paint(ansiDim, string(s))
	}
}

// relative renders t relative to now: "in 23h59m", "5m ago".
func relative(t, now time.Time) string {
	d := t.Sub(now).Round(time.Minute)
	switch {
	case d == 0:
		return "now"
	case d > 0:
		return "in " + sandbox.FormatTTL(d)
	default:
		return sandbox.FormatTTL(-d) + " ago"
	}
}

// printRecord prints one sandbox as aligned key/value lines.
func (o *IO) printRecord(r sandbox.Record, health []sandbox.Health) {
	now := time.Now()
	w := tabwriter.NewWriter(o.Stdout, 0, 2, 2, ' ', 0)
	row := func(k, v string) { fmt.Fprintf(w, "%s:\t%s\n", k, v) }
	row("Name", r.Name)
	row("ID", r.ID)
	row("Owner", r.Owner)
	row("Status", o.status(r.Status))
	row("Created", fmt.Sprintf("%s (%s)", r.CreatedAt.Local().Format(time.DateTime), relative(r.CreatedAt, now)))
	if r.Status.Active() {
		row("Expires", fmt.Sprintf("%s (%s)", r.ExpiresAt.Local().Format(time.DateTime), relative(r.ExpiresAt, now)))
	}
	if r.DestroyedAt != nil {
		row("Destroyed", r.DestroyedAt.Local().Format(time.DateTime))
	}
	row("TTL", r.TTL)
	guilds := "none"
	if len(r.Guilds) > 0 {
		guilds = strings.Join(r.Guilds, ", ")
	}
	row("Guilds", guilds)
	row("Schema", r.Resources.Schema)
	row("Redis prefix", r.Resources.RedisPrefix)
	row("NATS prefix", r.Resources.NATSPrefix)
	if r.MigrationVersion != "" {
		row("Migrations", r.MigrationVersion)
	}
	if r.Error != nil {
		row("Error", o.paint(ansiRed, fmt.Sprintf("%s: %s", r.Error.Code, r.Error.Message)))
	}
	for _, h := range health {
		v := o.paint(ansiGreen, "ok")
		if !h.OK {
			v = o.paint(ansiRed, "FAIL "+h.Message)
		}
		row("Health "+h.Plane, v)
	}
	_ = w.Flush()
}

// printTable prints sandboxes one a line.
func (o *IO) printTable(rs []sandbox.Record) {
	if len(rs) == 0 {
		fmt.Fprintln(o.Stdout, "No sandboxes. Create one with: gaib sandbox create NAME")
		return
	}
	now := time.Now()
	w := tabwriter.NewWriter(o.Stdout, 0, 2, 2, ' ', 0)
	fmt.Fprintln(w, "NAME\tID\tOWNER\tSTATUS\tGUILDS\tAGE\tEXPIRES")
	for _, r := range rs {
		exp := "-"
		if r.Status.Active() {
			exp = relative(r.ExpiresAt, now)
		}
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%d\t%s\t%s\n", r.Name, r.ID, r.Owner, o.status(r.Status),
			len(r.Guilds), sandbox.FormatTTL(now.Sub(r.CreatedAt).Round(time.Second)), exp)
	}
	_ = w.Flush()
}

// out prints v as JSON in JSON mode, else calls human (unless quiet, then prints quiet).
func (g *Globals) out(o *IO, v any, quiet string, human func()) error {
	switch {
	case g.JSON:
		return writeJSON(o.Stdout, v)
	case g.Quiet:
		if quiet != "" {
			fmt.Fprintln(o.Stdout, quiet)
		}
	default:
		human()
	}
	return nil
}

func writeLine(w io.Writer, format string, args ...any) { fmt.Fprintf(w, format+"\n", args...) }
