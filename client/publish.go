package client

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

	"github.com/arrakis/gaib/sandbox"
)

// Events describes test events to publish (`gaib events publish`, `POST /v1/events`): a
// stand-in for the Discord gateway.
type Events struct {
	// Guild is the events' guild id ("" for guild-less events such as DMs).
	Guild string `json:"guild,omitempty" doc:"Guild id of the events (omit for a guild-less event such as a DM)."`
	// Type is the dotted event type: published on gateway.events.<type>, or
	// gateway.commands.<type> for interaction[.…]. Default member.join.
	Type string `json:"type,omitempty" doc:"Event type, e.g. member.join (interaction: an interaction, on gateway.commands.interaction). Default member.join."`
	// Data is the JSON object of the events' data field. Default {}.
	Data json.RawMessage `json:"data,omitempty" doc:"JSON object for the events' data field. Default {}."`
	// Count is how many events to publish, 1 to MaxEvents. Default 1.
	Count int `json:"count,omitempty" doc:"How many events to publish (1 to 1000000). Default 1."`
	// Raw publishes raw Discord dispatches ({op,t,s,d}) instead of Arrakis envelopes.
	Raw bool `json:"raw,omitempty" doc:"Publish raw Discord dispatches ({op,t,s,d:{guild_id}}) instead of Arrakis envelopes."`
}

// MaxEvents bounds Events.Count.
const MaxEvents = 1_000_000

// withDefaults fills the zero fields.
func (e Events) withDefaults() Events {
	if e.Type == "" {
		e.Type = "member.join"
	}
	if len(e.Data) == 0 {
		e.Data = json.RawMessage(`{}`)
	}
	if e.Count == 0 {
		e.Count = 1
	}
	return e
}

// Validate checks the description; every problem is invalid_request.
func (e Events) Validate() error {
	e = e.withDefaults()
	if e.Guild != "" {
		if err := sandbox.ValidateGuildID(e.Guild); err != nil {
			return err
		}
	}
	for _, tok := range strings.Split(e.Type, ".") {
		if tok == "" || strings.ContainsAny(tok, " \t\r\n*>") || len(e.Type) > 100 {
			return sandbox.Errorf(sandbox.CodeInvalidRequest, "event type %.100q is not a dotted name like member.join", e.Type)
		}
	}
	if !json.Valid(e.Data) || !strings.HasPrefix(strings.TrimSpace(string(e.Data)), "{") {
		return sandbox.Errorf(sandbox.CodeInvalidRequest, "the data must be a JSON object")
	}
	if e.Count < 1 || e.Count > MaxEvents {
		return sandbox.Errorf(sandbox.CodeInvalidRequest, "the count must be between 1 and %d", MaxEvents)
	}
	return nil
}

// GatewaySubject is where the gateway would publish these events.
func (e Events) GatewaySubject() string {
	e = e.withDefaults()
	if e.Type == "interaction" || strings.HasPrefix(e.Type, "interaction.") {
		return sandbox.GatewaySubject(sandbox.CommandsPrefix + "." + e.Type)
	}
	return sandbox.GatewaySubject(sandbox.EventsPrefix + "." + e.Type)
}

// payload builds event i and returns it with its message id (its event_id).
func (e Events) payload(i int) ([]byte, string) {
	id := uuid4()
	var guild any
	if e.Guild != "" {
		guild = e.Guild
	}
	var v any
	if e.Raw {
		d := map[string]any{}
		_ = json.Unmarshal(e.Data, &d)
		if e.Guild != "" {
			d["guild_id"] = e.Guild
		}
		v = map[string]any{"op": 0, "t": strings.ToUpper(strings.ReplaceAll(e.Type, ".", "_")), "s": i + 1, "d": d}
	} else {
		v = map[string]any{
			"event_id": id, "event_type": e.Type, "shard_id": 0, "timestamp": time.Now().UnixMilli(),
			"guild_id": guild, "channel_id": nil, "user_id": nil, "data": e.Data,
		}
	}
	b, _ := json.Marshal(v)
	return b, id
}

// Published is the outcome of a publish.
type Published struct {
	Subject      string `json:"subject"`
	Count        int    `json:"count"`
	LastSequence uint64 `json:"last_sequence"`
	// Destination says where the events go, for a person; Route in detail (absent when
	// no router answered).
	Destination string `json:"destination"`
	Route       *Route `json:"route,omitempty"`
}

// PublishEvents publishes e, each event with its event_id as message id (publishing again
// never stores one twice), waits until the stream stored them all (within ctx), and says
// where they go. Without a sandbox they go into the gateway with this client's connection
// (which must be allowed to: admins and the gateway); with one (a name or id) straight into
// its own stream with its own credential, which connect gives only its owner and admins.
func (c *Client) PublishEvents(ctx context.Context, e Events, sandboxRef string) (Published, error) {
	if err := e.Validate(); err != nil {
		return Published{}, err
	}
	e = e.withDefaults()
	nc, denied, subject := c.nc, c.denied, e.GatewaySubject()
	res := Published{Count: e.Count}
	if sandboxRef != "" {
		snc, rec, err := c.SandboxConn(ctx, sandboxRef)
		if err != nil {
			return res, err
		}
		defer snc.Close()
		nc, denied = snc, nil // the sandbox's own connection may publish in its namespace
		subject = sandbox.SandboxSubject(rec.ID, strings.TrimPrefix(subject, sandbox.GatewayPrefix+"."))
		res.Destination = "sandbox " + rec.Name + "'s own stream"
		res.Route = &Route{To: "sandbox", Subject: subject, SandboxID: rec.ID, Sandbox: rec.Name, Owner: rec.Owner}
	}
	last, err := publishEvents(ctx, nc, denied, subject, e.Count, e.payload)
	if err != nil {
		return res, err
	}
	res.Subject, res.LastSequence = subject, last
	if res.Route == nil {
		if r, err := c.RouteOf(ctx, e.Guild, subject); err == nil {
			res.Route, res.Destination = &r, r.Describe()
		} else {
			res.Destination = "wherever the router sends it (no router answered: " + sandbox.AsError(err).Message + ")"
		}
	}
	return res, nil
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

// uuid4 returns a random RFC 4122 version 4 UUID.
func uuid4() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}
