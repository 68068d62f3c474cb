package cli

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/arrakis/gaib/sandbox"
)

// EventsCmd groups the developer event tools.
type EventsCmd struct {
	Publish PublishCmd `cmd:"" help:"Publish Arrakis-style events into the gateway stream (a stand-in for the Discord gateway)."`
}

// PublishCmd is `gaib events publish`.
type PublishCmd struct {
	Guild string `help:"Guild id of the events (omit for a guild-less event such as a DM)." placeholder:"ID"`
	Type  string `default:"member.join" help:"Event type; published on gateway.events.<type> (interaction: gateway.commands.interaction)."`
	Data  string `default:"{}" help:"JSON object for the event's data field."`
	Count int    `default:"1" help:"How many events to publish."`
	Raw   bool   `help:"Publish a raw Discord dispatch ({op,t,s,d:{guild_id}}) instead of an Arrakis envelope."`
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

// payload builds event i.
func (c *PublishCmd) payload(i int) []byte {
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
			"event_id": uuid4(), "event_type": c.Type, "shard_id": 0, "timestamp": time.Now().UnixMilli(),
			"guild_id": guild, "channel_id": nil, "user_id": nil, "data": json.RawMessage(c.Data),
		}
	}
	b, _ := json.Marshal(v)
	return b
}

// Run publishes the events and waits until the gateway stream stored them all.
func (c *PublishCmd) Run(ctx context.Context, g *Globals, o *IO) error {
	if err := c.validate(); err != nil {
		return err
	}
	return g.withClient(func(cl *Client) error {
		js, err := jetstream.New(cl.nc, jetstream.WithPublishAsyncMaxPending(1024))
		if err != nil {
			return err
		}
		subject := gatewaySubject(c.Type)
		var last *jetstream.PubAck
		futures := make([]jetstream.PubAckFuture, 0, 1024)
		wait := func() error {
			for _, f := range futures {
				select {
				case ack := <-f.Ok():
					last = ack
				case err := <-f.Err():
					return fmt.Errorf("publish to %s: %w", subject, err)
				case <-ctx.Done():
					return ctx.Err()
				}
			}
			futures = futures[:0]
			return nil
		}
		for i := range c.Count {
			f, err := js.PublishAsync(subject, c.payload(i))
			if err != nil {
				return sandbox.Errorf(sandbox.CodeUnavailable, "publish to %s: %v (is the GATEWAY stream there? start `gaib serve`)", subject, err)
			}
			if futures = append(futures, f); len(futures) == cap(futures) {
				if err := wait(); err != nil {
					return err
				}
			}
		}
		if err := wait(); err != nil {
			return err
		}
		res := map[string]any{"subject": subject, "count": c.Count, "last_sequence": last.Sequence}
		return g.out(o, res, fmt.Sprint(last.Sequence), func() {
			writeLine(o.Stdout, "Published %d event(s) on %s (gateway sequence %d).", c.Count, subject, last.Sequence)
		})
	})
}

// TailCmd is `gaib sandbox events`.
type TailCmd struct {
	Name  string `arg:"" help:"Sandbox name or id."`
	All   bool   `help:"Start from the first event still stored, not from now."`
	Count int    `help:"Exit after this many events (default: follow until Ctrl-C)."`
}

// tailedEvent is one line of `sandbox events --json`.
type tailedEvent struct {
	Subject  string          `json:"subject"`
	Sequence uint64          `json:"sequence"`
	Time     time.Time       `json:"time"`
	Data     json.RawMessage `json:"data"`
}

// Run tails the sandbox's namespace in the sandbox stream with an ordered consumer.
func (c *TailCmd) Run(ctx context.Context, g *Globals, o *IO) error {
	return g.withClient(func(cl *Client) error {
		st, err := cl.Get(ctx, c.Name)
		if err != nil {
			return err
		}
		js, err := jetstream.New(cl.nc)
		if err != nil {
			return err
		}
		policy := jetstream.DeliverNewPolicy
		if c.All {
			policy = jetstream.DeliverAllPolicy
		}
		cons, err := js.OrderedConsumer(ctx, sandbox.StreamSandbox, jetstream.OrderedConsumerConfig{
			FilterSubjects: []string{sandbox.SandboxWildcard(st.ID)}, DeliverPolicy: policy,
		})
		if err != nil {
			return fmt.Errorf("sandbox stream: %w", err)
		}
		it, err := cons.Messages()
		if err != nil {
			return err
		}
		defer it.Stop()
		stop := context.AfterFunc(ctx, it.Stop)
		defer stop()
		if !g.JSON && !g.Quiet {
			fmt.Fprintf(o.Stderr, "Tailing events of sandbox %s (%s>); Ctrl-C to stop.\n", st.Name, st.Resources.NATSPrefix)
		}
		prefix := st.Resources.NATSPrefix
		for n := 0; c.Count == 0 || n < c.Count; n++ {
			msg, err := it.Next()
			if err != nil {
				if ctx.Err() != nil {
					return nil
				}
				return err
			}
			meta, _ := msg.Metadata()
			ev := tailedEvent{Subject: msg.Subject(), Data: msg.Data()}
			if meta != nil {
				ev.Sequence, ev.Time = meta.Sequence.Stream, meta.Timestamp
			}
			if !json.Valid(ev.Data) {
				b, _ := json.Marshal(string(ev.Data))
				ev.Data = b
			}
			switch {
			case g.JSON:
				if err := writeJSONLine(o.Stdout, ev); err != nil {
					return err
				}
			default:
				writeLine(o.Stdout, "%s  %s  %s", ev.Time.Local().Format("15:04:05.000"),
					strings.TrimPrefix(ev.Subject, prefix), compact(ev.Data, 200))
			}
		}
		return nil
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
