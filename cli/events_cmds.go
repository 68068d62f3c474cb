package cli

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

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

// gatewaySubject maps an event type to its gateway subject.
func gatewaySubject(typ string) string {
	if typ == "interaction" || strings.HasPrefix(typ, "interaction.") {
		return sandbox.GatewaySubject(sandbox.CommandsPrefix + "." + typ)
	}
	return sandbox.GatewaySubject(sandbox.EventsPrefix + "." + typ)
}

func (c *PublishCmd) validate() error {
	if c.Guild != "" {
		if err := sandbox.ValidateGuildID(c.Guild); err != nil {
			return err
		}
	}
	for _, tok := range strings.Split(c.Type, ".") {
		if tok == "" || strings.ContainsAny(tok, " \t*>") {
			return sandbox.Errorf(sandbox.CodeInvalidRequest, "event type %q is not a dotted name like member.join", c.Type)
		}
	}
	if !json.Valid([]byte(c.Data)) || !strings.HasPrefix(strings.TrimSpace(c.Data), "{") {
		return sandbox.Errorf(sandbox.CodeInvalidRequest, "--data must be a JSON object")
	}
	if c.Count < 1 || c.Count > 1_000_000 {
		return sandbox.Errorf(sandbox.CodeInvalidRequest, "--count must be between 1 and 1000000")
	}
	return nil
}

// payload builds event i and returns it with its message id (its event_id).
func (c *PublishCmd) payload(i int) ([]byte, string) {
	id := uuid4()
	var guild any
	if c.Guild != "" {
		guild = c.Guild
	}
	var v any
	if c.Raw {
		d := map[string]any{}
		_ = json.Unmarshal([]byte(c.Data), &d)
		if c.Guild != "" {
			d["guild_id"] = c.Guild
		}
		v = map[string]any{"op": 0, "t": strings.ToUpper(strings.ReplaceAll(c.Type, ".", "_")), "s": i + 1, "d": d}
	} else {
		v = map[string]any{
			"event_id": id, "event_type": c.Type, "shard_id": 0, "timestamp": time.Now().UnixMilli(),
			"guild_id": guild, "channel_id": nil, "user_id": nil, "data": json.RawMessage(c.Data),
		}
	}
	b, _ := json.Marshal(v)
	return b, id
}

// Run publishes the events, each with its event_id as message id (a retry never stores
// one twice), and waits, within --timeout, until the stream stored them all.
func (c *PublishCmd) Run(ctx context.Context, g *Globals, o *IO) error {
	if err := c.validate(); err != nil {
		return err
	}
	return g.withClient(func(cl *client.Client) error {
		nc, subject, where := cl.Conn(), gatewaySubject(c.Type), ""
		if c.Sandbox != "" {
			snc, rec, err := cl.SandboxConn(ctx, c.Sandbox)
			if err != nil {
				return err
			}
			defer snc.Close()
			nc, where = snc, "sandbox "+rec.Name
			subject = sandbox.SandboxSubject(rec.ID, strings.TrimPrefix(subject, sandbox.GatewayPrefix+"."))
		}
		ctx, cancel := context.WithTimeout(ctx, g.Timeout)
		defer cancel()
		denied := cl.Denied()
		if c.Sandbox != "" {
			denied = nil // the sandbox's own connection may publish in its namespace
		}
		last, err := publishEvents(ctx, nc, denied, subject, c.Count, c.payload)
		if err != nil {
			return err
		}
		if where == "" {
			where = cl.Destination(ctx, c.Guild)
		}
		res := map[string]any{"subject": subject, "count": c.Count, "last_sequence": last, "destination": where}
		return g.out(o, res, fmt.Sprint(last), func() {
			writeLine(o.Stdout, "Published %d event(s) on %s (sequence %d); they go to %s.", c.Count, subject, last, where)
		})
	})
}

// publishWindow bounds the events in flight.
const publishWindow = 256

// publishEvents publishes count events built by payload on subject with a bounded window,
// and returns the stream sequence of the last one.
func publishEvents(ctx context.Context, nc *nats.Conn, denied <-chan error, subject string, count int, payload func(int) ([]byte, string)) (uint64, error) {
	js, err := jetstream.New(nc, jetstream.WithPublishAsyncMaxPending(publishWindow))
	if err != nil {
		return 0, err
	}
	var last uint64
	futures := make([]jetstream.PubAckFuture, 0, publishWindow)
	wait := func() error {
		for _, f := range futures {
			select {
			case ack := <-f.Ok():
				last = ack.Sequence
			case err := <-f.Err():
				return publishError(subject, err)
			case err := <-denied:
				return publishError(subject, err)
			case <-ctx.Done():
				return sandbox.Errorf(sandbox.CodeUnavailable, "publish to %s: no acknowledgement in time (%v); publishing again is safe: events carry message ids", subject, ctx.Err())
			}
		}
		futures = futures[:0]
		return nil
	}
	for i := range count {
		data, id := payload(i)
		f, err := js.PublishAsync(subject, data, jetstream.WithMsgID(id))
		if err != nil {
			return 0, publishError(subject, err)
		}
		if futures = append(futures, f); len(futures) == cap(futures) {
			if err := wait(); err != nil {
				return 0, err
			}
		}
	}
	return last, wait()
}

func publishError(subject string, err error) error {
	switch {
	case errors.Is(err, nats.ErrPermissionViolation):
		return sandbox.Errorf(sandbox.CodeForbidden, "your credential may not publish to %s (the gateway is for admins and the gateway; use --sandbox NAME for your own sandbox)", subject)
	case errors.Is(err, jetstream.ErrNoStreamResponse), errors.Is(err, nats.ErrNoResponders):
		return sandbox.Errorf(sandbox.CodeUnavailable, "publish to %s: no stream stores it (is `gaib serve` running?)", subject)
	}
	return sandbox.Errorf(sandbox.CodeUnavailable, "publish to %s: %v", subject, err)
}

// TailCmd is `gaib sandbox events`.
type TailCmd struct {
	Name  string `arg:"" help:"Sandbox name or id."`
	All   bool   `help:"Start from the first event still stored, not from now."`
	Count int    `help:"Exit after this many events (default: follow until Ctrl-C)."`
}

// errEnoughEvents stops a tail after --count events.
var errEnoughEvents = errors.New("enough events")

// Run tails the sandbox's own stream with its own credential (see client.Tail). It stops
// when the sandbox is destroyed.
func (c *TailCmd) Run(ctx context.Context, g *Globals, o *IO) error {
	return g.withClient(func(cl *client.Client) error {
		var name, prefix string
		started := func(rec sandbox.Record) {
			name, prefix = rec.Name, sandbox.SandboxPrefix+"."+rec.ID+"."
			if !g.JSON && !g.Quiet {
				fmt.Fprintf(o.Stderr, "Tailing events of sandbox %s (%s>); Ctrl-C to stop.\n", rec.Name, prefix)
			}
		}
		n := 0
		err := cl.Tail(ctx, c.Name, client.TailOptions{FromStart: c.All}, started, func(ev client.Event) error {
			if g.JSON {
				if err := writeJSONLine(o.Stdout, ev); err != nil {
					return err
				}
			} else {
				writeLine(o.Stdout, "%s  %s  %s", ev.Time.Local().Format("15:04:05.000"),
					strings.TrimPrefix(ev.Subject, prefix), compact(ev.Data, 200))
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
			if !g.JSON && !g.Quiet {
				fmt.Fprintf(o.Stderr, "Sandbox %s was destroyed; its events are gone.\n", name)
			}
			return nil
		}
		return err
	})
}

// uuid4 returns a random RFC 4122 version 4 UUID.
func uuid4() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

// compact shortens a payload for one line of output.
func compact(b []byte, n int) string {
	s := strings.Join(strings.Fields(string(b)), " ")
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}
