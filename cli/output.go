package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"

	"sigs.k8s.io/yaml"

	"github.com/arrakis/gaib/sandbox"
)

const (
	ansiReset  = "\033[0m"
	ansiGreen  = "\033[32m"
	ansiYellow = "\033[33m"
	ansiRed    = "\033[31m"
	ansiDim    = "\033[2m"
)

// Output formats of -o/--output.
const (
	formatHuman = ""
	formatJSON  = "json"
	formatYAML  = "yaml"
	formatName  = "name"
	formatWide  = "wide"
)

// structured says whether output is a document (JSON or YAML) rather than text.
func (g *Globals) structured() bool { return g.Output == formatJSON || g.Output == formatYAML }

// names says whether output is only the names of things, one a line (-o name or -q).
func (g *Globals) names() bool { return g.Output == formatName || g.Quiet }

// wide says whether tables show every column, uncut.
func (g *Globals) wide() bool { return g.Output == formatWide }

// chatty says whether notes for a person (progress, hints) go to stderr.
func (g *Globals) chatty() bool { return !g.structured() && !g.Quiet }

func (o *IO) paint(color, s string) string {
	s = clean(s)
	if !o.Color || color == "" {
		return s
	}
	return color + s + ansiReset
}

// statusColor is the color of a sandbox status.
func statusColor(s sandbox.Status) string {
	switch s {
	case sandbox.StatusRunning:
		return ansiGreen
	case sandbox.StatusProvisioning, sandbox.StatusDestroying, sandbox.StatusExpired:
		return ansiYellow
	default:
		return ansiDim
	}
}

// printRecord prints one sandbox as aligned key/value lines, with the health of each plane.
func (o *IO) printRecord(w io.Writer, r sandbox.Record, health []sandbox.Health) {
	now := time.Now()
	var rows [][2]string
	row := func(k, v string) { rows = append(rows, [2]string{k, v}) }
	row("Name", o.paint("", r.Name))
	row("ID", clean(r.ID))
	row("Owner", clean(r.Owner))
	row("Status", o.paint(statusColor(r.Status), string(r.Status)))
	row("Created", fmt.Sprintf("%s (%s)", r.CreatedAt.Local().Format(time.DateTime), relative(r.CreatedAt, now)))
	if r.Status.Active() {
		row("Expires", fmt.Sprintf("%s (%s)", r.ExpiresAt.Local().Format(time.DateTime), relative(r.ExpiresAt, now)))
	}
	if r.DestroyedAt != nil {
		row("Destroyed", fmt.Sprintf("%s (%s)", r.DestroyedAt.Local().Format(time.DateTime), relative(*r.DestroyedAt, now)))
	}
	row("TTL", clean(r.TTL))
	guilds := "none"
	if len(r.Guilds) > 0 {
		guilds = strings.Join(r.Guilds, ", ")
	}
	row("Guilds", clean(guilds))
	row("Schema", clean(r.Resources.Schema))
	row("Redis prefix", clean(r.Resources.RedisPrefix))
	row("NATS prefix", clean(r.Resources.NATSPrefix))
	if r.MigrationVersion != "" {
		row("Migrations", clean(r.MigrationVersion))
	}
	if l := r.Lease; l != nil {
		row("In progress", clean(fmt.Sprintf("%s by %s on instance %s, since %s", l.Op, l.Actor, l.Holder, relative(l.Since, now))))
	}
	if len(r.TornDown) > 0 {
		row("Torn down", clean(strings.Join(r.TornDown, ", ")))
	}
	if r.Error != nil {
		row("Error", o.paint(ansiRed, fmt.Sprintf("%s: %s", r.Error.Code, r.Error.Message)))
	}
	for _, h := range health {
		v := o.paint(ansiGreen, "ok")
		if h.Detail != "" {
			v += " " + o.paint(ansiDim, "("+clean(h.Detail)+")")
		}
		if !h.OK {
			v = o.paint(ansiRed, "FAIL "+h.Message)
		}
		row("Health "+clean(h.Plane), v)
	}
	keyWidth := 0
	for _, kv := range rows {
		keyWidth = max(keyWidth, displayWidth(kv[0])+1)
	}
	var b strings.Builder
	for _, kv := range rows {
		b.WriteString(pad(kv[0]+":", keyWidth) + "  " + kv[1] + "\n")
	}
	_, _ = io.WriteString(w, b.String())
}

// unhealthy returns the planes whose health check failed.
func unhealthy(health []sandbox.Health) []string {
	var bad []string
	for _, h := range health {
		if !h.OK {
			bad = append(bad, h.Plane)
		}
	}
	return bad
}

// printTable prints sandboxes one a line.
func (g *Globals) printTable(o *IO, rs []sandbox.Record) error {
	if len(rs) == 0 {
		writeLine(o.Stdout, "No sandboxes. Create one with: gaib sandbox create NAME")
		return nil
	}
	now := time.Now()
	t := newTable("NAME~", "ID", "OWNER~", "STATUS", "GUILDS~", "CREATED", "EXPIRES")
	for _, r := range rs {
		exp := "-"
		if r.Status.Active() {
			exp = relative(r.ExpiresAt, now)
		}
		guilds := fmt.Sprint(len(r.Guilds))
		if g.wide() && len(r.Guilds) > 0 {
			guilds = strings.Join(r.Guilds, ",")
		}
		t.add(cell{text: r.Name}, cell{text: r.ID}, cell{text: r.Owner}, cell{text: string(r.Status), color: statusColor(r.Status)},
			cell{text: guilds}, cell{text: relative(r.CreatedAt, now)}, cell{text: exp})
	}
	return g.render(o, t)
}

// render writes a table to stdout, fitted to the terminal unless -o wide.
func (g *Globals) render(o *IO, t *table) error {
	width := o.Width
	if g.wide() {
		width = 0
	}
	return t.render(o.Stdout, width, o.Color)
}

// out prints one result: the document v as JSON or YAML, its name (-o name, -q), or the
// human text.
func (g *Globals) out(o *IO, v any, name string, human func()) error {
	switch {
	case g.structured():
		return g.document(o.Stdout, v)
	case g.names():
		if name != "" {
			fmt.Fprintln(o.Stdout, clean(name))
		}
	default:
		human()
	}
	return nil
}

// outList prints a list result: the document, the names one a line, or the human table.
func (g *Globals) outList(o *IO, v any, names []string, human func() error) error {
	switch {
	case g.structured():
		return g.document(o.Stdout, v)
	case g.names():
		for _, n := range names {
			fmt.Fprintln(o.Stdout, clean(n))
		}
		return nil
	}
	return human()
}

// document writes v in the structured format: indented JSON, or YAML.
func (g *Globals) document(w io.Writer, v any) error {
	if g.Output == formatYAML {
		return writeYAML(w, v)
	}
	return writeJSON(w, v)
}

// streamed writes one item of a stream (watch, events): a JSON document a line, or a YAML
// document each starting with "---".
func (g *Globals) streamed(w io.Writer, v any) error {
	if g.Output == formatYAML {
		if _, err := io.WriteString(w, "---\n"); err != nil {
			return err
		}
		return writeYAML(w, v)
	}
	return writeJSONLine(w, v)
}

// writeLine prints one human line; every string argument is cleaned of control
// characters first (the format is gaib's own).
func writeLine(w io.Writer, format string, args ...any) {
	for i, a := range args {
		switch v := a.(type) {
		case string:
			args[i] = clean(v)
		case fmt.Stringer:
			args[i] = clean(v.String())
		case error:
			args[i] = clean(v.Error())
		}
	}
	fmt.Fprintf(w, format+"\n", args...)
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// writeJSONLine writes v as one compact JSON line (streams: watch, events).
func writeJSONLine(w io.Writer, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	_, err = w.Write(append(b, '\n'))
	return err
}

// writeYAML writes v as YAML, with the same field names as its JSON.
func writeYAML(w io.Writer, v any) error {
	b, err := yaml.Marshal(v)
	if err != nil {
		return err
	}
	_, err = w.Write(b)
	return err
}
