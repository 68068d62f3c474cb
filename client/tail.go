package client

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/arrakis/gaib/sandbox"
)

// Event is one message of a sandbox's stream, as the tail shows it.
type Event struct {
	Subject  string          `json:"subject"`
	Sequence uint64          `json:"sequence"`
	Time     time.Time       `json:"time"`
	Data     json.RawMessage `json:"data"`
}

// ErrSandboxGone ends a tail: the sandbox was destroyed (its stream deleted, its
// credential revoked).
var ErrSandboxGone = errors.New("the sandbox was destroyed")

// TailOptions say where a tail starts.
type TailOptions struct {
	// FromStart starts at the first event still stored, not at the next one.
	FromStart bool
}

// Tail follows sandbox ref's own stream with the sandbox's own credential (so only its
// owner and admins may) and calls fn with each event, in stream order, until ctx ends (nil),
// fn fails (its error), or the sandbox is destroyed (ErrSandboxGone). It reads the stream by
// sequence (direct get), so nothing is missed or shown twice, and wakes on each new event
// through a subscription to the sandbox's subjects. It returns the sandbox's record through
// started before the first event, for a header line.
func (c *Client) Tail(ctx context.Context, ref string, opts TailOptions, started func(sandbox.Record), fn func(Event) error) error {
	nc, rec, err := c.SandboxConn(ctx, ref)
	if err != nil {
		return err
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return err
	}
	st, err := js.Stream(ctx, sandbox.SandboxStream(rec.ID))
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		return ErrSandboxGone
	}
	if err != nil {
		return err
	}
	seq := st.CachedInfo().State.LastSeq + 1
	if opts.FromStart {
		seq = 1
	}
	wake := make(chan struct{}, 1)
	for _, subj := range sandbox.SandboxStreamSubjects(rec.ID) {
		sub, err := nc.Subscribe(subj, func(*nats.Msg) {
			select {
			case wake <- struct{}{}:
			default:
			}
		})
		if err != nil {
			return err
		}
		defer func() { _ = sub.Unsubscribe() }()
	}
	if started != nil {
		started(rec)
	}
	for {
		msg, err := st.GetMsg(ctx, seq, jetstream.WithGetMsgSubject(sandbox.SandboxWildcard(rec.ID)))
		switch {
		case ctx.Err() != nil:
			return nil
		case errors.Is(err, jetstream.ErrMsgNotFound):
			select {
			case <-ctx.Done():
				return nil
			case <-wake:
			case <-time.After(time.Second):
			}
			continue
		case errors.Is(err, jetstream.ErrStreamNotFound), nc.IsClosed():
			return ErrSandboxGone
		case err != nil:
			SleepCtx(ctx, time.Second) // the mesh may be restarting: the connection reconnects
			continue
		}
		seq = msg.Sequence + 1
		ev := Event{Subject: msg.Subject, Sequence: msg.Sequence, Time: msg.Time, Data: msg.Data}
		if !json.Valid(ev.Data) {
			b, _ := json.Marshal(string(ev.Data))
			ev.Data = b
		}
		if err := fn(ev); err != nil {
			return err
		}
	}
}
