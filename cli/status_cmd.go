package cli

import (
	"context"
	"fmt"
	"io"
	"reflect"
	"strings"
	"time"

	"github.com/arrakis/gaib/client"
	"github.com/arrakis/gaib/sandbox"
)

// StatusCmd is `gaib sandbox status`.
type StatusCmd struct {
	Name  string `arg:"" help:"Sandbox name or id (a destroyed sandbox is found by its old name too)."`
	Watch bool   `short:"w" help:"Follow the sandbox: show it again on every change, and its health every 15s, until it is destroyed (Ctrl-C to stop). Rides out a mesh restart."`
}

// Help is the detailed help of `gaib sandbox status`.
func (StatusCmd) Help() string {
	return detail("Status checks every plane of a running sandbox live (its schema and role, Redis user, event stream, guild routes) and exits 7 when one is unhealthy. "+
		"With --watch it redraws in place on a terminal (one document a line with -o json), says when the mesh goes away and comes back, "+
		"gives up (exit 5) when it stays away longer than --timeout, and ends when the sandbox is destroyed.",
		"gaib sandbox status demo",
		"gaib sandbox status demo --watch",
		"gaib sandbox status demo -o json | jq .health")
}

// healthEvery is how often --watch checks the planes again when nothing changed.
const healthEvery = 15 * time.Second

// Run shows the sandbox.
func (c *StatusCmd) Run(ctx context.Context, g *Globals, o *IO) error {
	if c.Watch {
		return g.withLongClient(func(cl *client.Client) error { return c.watch(ctx, g, o, cl) })
	}
	return g.withClient(func(cl *client.Client) error {
		st, err := cl.Get(ctx, c.Name)
		if err != nil {
			return err
		}
		if err := g.out(o, st, string(st.Status), func() { o.printRecord(o.Stdout, st.Record, st.Health) }); err != nil {
			return err
		}
		if bad := unhealthy(st.Health); len(bad) > 0 {
			msg := ""
			if !g.Quiet {
				msg = fmt.Sprintf("gaib: sandbox %s is unhealthy: %s", clean(st.Name), clean(strings.Join(bad, ", ")))
			}
			return &exitError{code: ExitUnhealthy, msg: msg}
		}
		return nil
	})
}

// watch shows the sandbox on every change until it is destroyed.
func (c *StatusCmd) watch(ctx context.Context, g *Globals, o *IO, cl *client.Client) error {
	v := &watchView{g: g, o: o, url: cl.URL(), patience: g.Timeout}
	err := cl.Watch(ctx, c.Name, client.WatchOptions{
		Refresh: healthEvery,
		Outage:  client.Outage{Patience: g.Timeout, Lost: v.lost, Back: v.back},
	}, func(rec sandbox.Record) error {
		st := sandbox.StatusResponse{Record: rec}
		if rec.Status == sandbox.StatusRunning {
			if full, err := cl.Get(ctx, rec.ID); err == nil && full.Revision == rec.Revision {
				st = full
			}
		}
		return v.show(st)
	})
	switch {
	case ctx.Err() != nil:
		return nil // Ctrl-C: a quiet end
	case err != nil:
		v.note("")
		return err
	}
	v.note(fmt.Sprintf("Sandbox %s was destroyed.", clean(v.last.Name)))
	return nil
}

// watchView renders `status --watch`: in place on a terminal, one block per change on a
// pipe, one document per change with -o json|yaml, the status alone with -o name.
type watchView struct {
	g        *Globals
	o        *IO
	url      string
	patience time.Duration
	last     sandbox.StatusResponse
	shown    bool
	// footer is the last line on a terminal: what the watch is doing.
	footer string
	screen screen
}

// show renders st when it differs from what is shown (on a terminal: always, for the
// clock and the relative times).
func (v *watchView) show(st sandbox.StatusResponse) error {
	same := v.shown && st.Revision == v.last.Revision && reflect.DeepEqual(st.Health, v.last.Health)
	v.last, v.shown = st, true
	if v.terminal() {
		v.footer = fmt.Sprintf("Watching sandbox %s · updated %s · Ctrl-C to stop", clean(st.Name), time.Now().Format(time.TimeOnly))
		v.draw()
		return nil
	}
	if same {
		return nil
	}
	switch {
	case v.g.structured():
		return v.g.streamed(v.o.Stdout, st)
	case v.g.names():
		_, err := fmt.Fprintln(v.o.Stdout, st.Status)
		return err
	}
	writeLine(v.o.Stdout, "%s", v.o.paint(ansiDim, "— "+time.Now().Format(time.TimeOnly)))
	v.o.printRecord(v.o.Stdout, st.Record, st.Health)
	return nil
}

// terminal says whether the view redraws in place.
func (v *watchView) terminal() bool {
	return v.o.StdoutIsTerminal && !v.g.structured() && !v.g.names()
}

func (v *watchView) draw() {
	var b strings.Builder
	if v.shown {
		v.o.printRecord(&b, v.last.Record, v.last.Health)
	}
	b.WriteString(v.o.paint(ansiDim, v.footer) + "\n")
	v.screen.draw(v.o.Stdout, b.String(), v.o.Width)
}

// lost says the mesh went away.
func (v *watchView) lost(err error) {
	until := time.Now().Add(v.patience).Format(time.TimeOnly)
	if v.terminal() {
		v.footer = fmt.Sprintf("The mesh at %s is unreachable (%s); retrying until %s · Ctrl-C to stop", v.url, clean(err.Error()), until)
		v.draw()
		return
	}
	if !v.g.Quiet {
		writeLine(v.o.Stderr, "gaib: lost the mesh at %s (%s); retrying until %s", v.url, err.Error(), until)
	}
}

// back says the mesh answers again (the next show redraws).
func (v *watchView) back(away time.Duration) {
	if !v.terminal() && !v.g.Quiet {
		writeLine(v.o.Stderr, "gaib: the mesh is back after %s; watching sandbox %s again", shortDuration(away), v.last.Name)
	}
}

// note ends the view with a last line (on a terminal it replaces the footer).
func (v *watchView) note(text string) {
	if v.terminal() {
		if text != "" {
			v.footer = text
			v.draw()
		}
		return
	}
	if text != "" && !v.g.Quiet {
		fmt.Fprintln(v.o.Stderr, text)
	}
}

// screen redraws a block of lines in place: it moves the cursor up over what it drew last
// and clears from there down, so the scrollback above stays. Lines are cut to the
// terminal's width, so that none wraps and the count stays exact.
type screen struct {
	lines int
}

func (s *screen) draw(w io.Writer, text string, width int) {
	var b strings.Builder
	if s.lines > 0 {
		fmt.Fprintf(&b, "\033[%dA\r\033[J", s.lines)
	}
	lines := strings.Split(strings.TrimSuffix(text, "\n"), "\n")
	for _, l := range lines {
		b.WriteString(cutLine(l, width) + "\n")
	}
	s.lines = len(lines)
	_, _ = io.WriteString(w, b.String())
}
