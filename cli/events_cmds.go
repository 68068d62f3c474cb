package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/arrakis/gaib/client"
	"github.com/arrakis/gaib/sandbox"
)

// EventsCmd groups the developer event tools.
type EventsCmd struct {
	Publish PublishCmd `cmd:"" help:"Publish Arrakis-style events into the gateway stream (a stand-in for the Discord gateway)."`
}

// PublishCmd is `gaib events publish`.
type PublishCmd struct {
	Sandbox string `placeholder:"NAME" help:"Publish into this sandbox's own namespace, with its credential (developers); without it, into the gateway (admins and the gateway only)."`
	Guild   string `help:"Guild id of the events (omit for a guild-less event such as a DM)." placeholder:"ID"`
	Type    string `default:"member.join" help:"Event type; published on gateway.events.<type> (interaction: gateway.commands.interaction)."`
	Data    string `default:"{}" help:"JSON object for the event's data field."`
	Count   int    `default:"1" help:"How many events to publish."`
	Raw     bool   `help:"Publish a raw Discord dispatch ({op,t,s,d:{guild_id}}) instead of an Arrakis envelope."`
}

// events is what the flags describe.
func (c *PublishCmd) events() client.Events {
	return client.Events{Guild: c.Guild, Type: c.Type, Data: json.RawMessage(c.Data), Count: c.Count, Raw: c.Raw}
}

// Help is the detailed help of `gaib events publish`.
func (PublishCmd) Help() string {
	return detail("Without --sandbox the events go into the gateway's stream, as the Arrakis gateway publishes them, and the router sends each to the sandbox "+
		"that has its guild or to production; publish says where. With --sandbox they go straight into that sandbox's own stream, with its credential.",
		"gaib events publish --guild 123456789012345678 --type member.join",
		`gaib events publish --guild 123456789012345678 --type message.create --data '{"content":"hi"}' --count 10`,
		"gaib events publish --sandbox demo --type interaction --raw")
}

// Run publishes the events, each with its event_id as message id (a retry never stores
// one twice), waits, within --timeout, until the stream stored them all, and says where
// they go.
func (c *PublishCmd) Run(ctx context.Context, g *Globals, o *IO) error {
	if err := c.events().Validate(); err != nil {
		return err
	}
	return g.withClient(func(cl *client.Client) error {
		ctx, cancel := context.WithTimeout(ctx, g.Timeout)
		defer cancel()
		res, err := cl.PublishEvents(ctx, c.events(), c.Sandbox)
		if err != nil {
			return err
		}
		return g.out(o, res, fmt.Sprint(res.LastSequence), func() {
			what, them := fmt.Sprintf("%d %s event", c.Count, c.Type), "it"
			if c.Count > 1 {
				what, them = what+"s", "them"
			}
			if c.Guild != "" {
				what += " of guild " + c.Guild
			}
			writeLine(o.Stdout, "Published %s on %s (last sequence %d).", what, res.Subject, res.LastSequence)
			if c.Sandbox != "" {
				writeLine(o.Stdout, "%s went straight into %s.", capitalize(them), res.Destination)
				return
			}
			writeLine(o.Stdout, "The router sends %s to %s.", them, res.Destination)
		})
	})
}

// TailCmd is `gaib sandbox events`.
type TailCmd struct {
	Name  string `arg:"" help:"Sandbox name or id."`
	All   bool   `help:"Start from the first event still stored, not from now."`
	Count int    `help:"Exit after this many events (default: follow until the sandbox is destroyed, or Ctrl-C)."`
	Full  bool   `help:"Show every event whole on a terminal too (there each is cut to the terminal's width)."`
}

// Help is the detailed help of `gaib sandbox events`.
func (TailCmd) Help() string {
	return detail("Events are read from the sandbox's own stream with the sandbox's credential, in order, none missed or shown twice. "+
		"Changes of the sandbox (status, guilds, expiry) are noted on stderr. The tail rides out a mesh restart and says so, "+
		"gives up (exit 5) when the mesh stays away longer than --timeout, and ends (exit 0) when the sandbox is destroyed or expires.",
		"gaib sandbox events demo",
		"gaib sandbox events demo --all --count 10 -o json",
		"gaib sandbox events demo --full | less")
}

// errEnoughEvents stops a tail after --count events.
var errEnoughEvents = errors.New("enough events")

// Run tails the sandbox's own stream with its own credential (see client.Tail) until the
// sandbox is destroyed, --count events, or Ctrl-C.
func (c *TailCmd) Run(ctx context.Context, g *Globals, o *IO) error {
	return g.withLongClient(func(cl *client.Client) error {
		notes := &tailNotes{g: g, o: o, url: cl.URL(), health: func(id string) []sandbox.Health {
			if st, err := cl.Get(ctx, id); err == nil {
				return st.Health
			}
			return nil
		}}
		width := o.Width
		if c.Full || g.wide() {
			width = 0
		}
		n := 0
		err := cl.Tail(ctx, c.Name, client.TailOptions{
			FromStart: c.All,
			Outage:    client.Outage{Patience: g.Timeout, Lost: notes.lost, Back: notes.back},
			Changed:   notes.changed,
		}, func(ev client.Event) error {
			switch {
			case g.structured():
				if err := g.streamed(o.Stdout, ev); err != nil {
					return err
				}
			case g.names():
				fmt.Fprintln(o.Stdout, ev.Sequence)
			default:
				line := fmt.Sprintf("%s  %s  %s", ev.Time.Local().Format("15:04:05.000"), clean(notes.short(ev.Subject)), compact(ev.Data))
				if width > 0 {
					line = cut(line, width)
				}
				writeLine(o.Stdout, "%s", line)
			}
			if n++; c.Count > 0 && n >= c.Count {
				return errEnoughEvents
			}
			return nil
		})
		switch {
		case errors.Is(err, errEnoughEvents):
			return nil
		case errors.Is(err, client.ErrSandboxGone):
			notes.gone()
			return nil
		}
		return err
	})
}

// tailNotes are the tail's words for a person, on stderr: what it follows, what changed,
// where the mesh went.
type tailNotes struct {
	g    *Globals
	o    *IO
	url  string
	last *sandbox.Record
	// health checks the sandbox's planes, for the header.
	health func(id string) []sandbox.Health
}

// short is an event's subject without the sandbox's prefix.
func (t *tailNotes) short(subject string) string {
	if t.last == nil {
		return subject
	}
	return strings.TrimPrefix(subject, sandbox.SandboxPrefix+"."+t.last.ID+".")
}

func (t *tailNotes) say(format string, args ...any) {
	if t.g.chatty() {
		writeLine(t.o.Stderr, format, args...)
	}
}

// changed notes the sandbox's record: the first one as a header, then what changed.
func (t *tailNotes) changed(r sandbox.Record) {
	prev := t.last
	t.last = &r
	now := time.Now()
	if prev == nil {
		guilds := "no guild"
		switch len(r.Guilds) {
		case 0:
		case 1:
			guilds = "guild " + r.Guilds[0]
		default:
			guilds = "guilds " + strings.Join(r.Guilds, ", ")
		}
		if !t.g.chatty() {
			return
		}
		var planes []string
		for _, h := range t.health(r.ID) {
			state := t.o.paint(ansiGreen, "ok")
			if !h.OK {
				state = t.o.paint(ansiRed, "FAIL "+h.Message)
			}
			planes = append(planes, clean(h.Plane)+" "+state)
		}
		t.say("Following sandbox %s (id %s, owner %s): %s, expires %s, %s.", r.Name, r.ID, r.Owner, string(r.Status), relative(r.ExpiresAt, now), guilds)
		if len(planes) > 0 {
			fmt.Fprintf(t.o.Stderr, "Health: %s\n", strings.Join(planes, ", "))
		}
		t.say("Its events appear below as the router sends them; this ends when the sandbox is destroyed (Ctrl-C to stop).")
		return
	}
	stamp := now.Format("15:04:05.000")
	if r.Status != prev.Status {
		t.say("%s  sandbox %s is %s", stamp, r.Name, string(r.Status))
	}
	for _, g := range r.Guilds {
		if !slices.Contains(prev.Guilds, g) {
			t.say("%s  guild %s now routes to sandbox %s", stamp, g, r.Name)
		}
	}
	for _, g := range prev.Guilds {
		if !slices.Contains(r.Guilds, g) {
			t.say("%s  guild %s no longer routes to sandbox %s", stamp, g, r.Name)
		}
	}
	if !r.ExpiresAt.Equal(prev.ExpiresAt) && r.Status.Active() {
		t.say("%s  sandbox %s now expires %s", stamp, r.Name, relative(r.ExpiresAt, now))
	}
}

func (t *tailNotes) lost(err error) {
	if !t.g.Quiet {
		writeLine(t.o.Stderr, "gaib: lost the mesh at %s (%s); retrying for %s", t.url, err.Error(), shortDuration(t.g.Timeout))
	}
}

func (t *tailNotes) back(away time.Duration) {
	if !t.g.Quiet {
		writeLine(t.o.Stderr, "gaib: the mesh is back after %s; following the events again (none is missed)", shortDuration(away))
	}
}

// gone says why the tail ended.
func (t *tailNotes) gone() {
	if t.last == nil {
		t.say("The sandbox is gone; so are its events.")
		return
	}
	switch t.last.Status {
	case sandbox.StatusExpired:
		t.say("Sandbox %s expired; its events go away with it.", t.last.Name)
	case sandbox.StatusDestroying:
		t.say("Sandbox %s is being destroyed; its events go away with it.", t.last.Name)
	default:
		t.say("Sandbox %s was destroyed; its events are gone.", t.last.Name)
	}
}

// compact is an event's payload on one line: JSON without its insignificant whitespace
// (strings stay exact), cleaned of control characters.
func compact(b []byte) string {
	var buf bytes.Buffer
	if err := json.Compact(&buf, b); err == nil {
		return clean(buf.String())
	}
	return clean(string(b))
}

func capitalize(s string) string { return strings.ToUpper(s[:1]) + s[1:] }
