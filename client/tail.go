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

// ErrSandboxGone ends a tail: the sandbox was destroyed or expired (its stream deleted, its
// credential revoked), or has been being destroyed for a while.
var ErrSandboxGone = errors.New("the sandbox is gone")

// TailOptions say where a tail starts and how it follows.
type TailOptions struct {
	// FromStart starts at the first event still stored, not at the next one.
	FromStart bool
	// Outage is how the tail rides out the mesh going away.
	Outage
	// Changed is called with the sandbox's record when the tail starts and on every
	// change (status, guilds, expiry), on the goroutine that calls fn. Optional.
	Changed func(sandbox.Record)
}

// getWait bounds one read of the stream.
const getWait = 5 * time.Second

// Tail follows sandbox ref's own stream with the sandbox's own credential (so only its
// owner and admins may) and calls fn with each event, in stream order, until ctx ends
// (nil), fn fails (its error), the sandbox stops running (ErrSandboxGone: destroyed or
// expired; once it is being destroyed no event is read, and the tail ends when it is
// destroyed or a moment later), or the mesh stays away longer than the outage patience
// (unavailable). It reads the stream by sequence (direct get), so nothing is missed or
// shown twice, even across a mesh restart; a subscription to the sandbox's subjects wakes
// it on each new event. Beside it, it watches the sandbox's record with the caller's own
// connection: a destroy ends the tail at once, whatever happens to the sandbox's
// connection.
func (c *Client) Tail(ctx context.Context, ref string, opts TailOptions, fn func(Event) error) error {
	t := &tail{c: c, opts: opts, fn: fn, tr: c.tracker(opts.Outage), wake: make(chan struct{}, 1)}
	if err := t.open(ctx, ref); err != nil {
		return err
	}
	defer t.close()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	records := make(chan sandbox.Record, 16)
	watched := make(chan error, 1)
	id := t.rec.ID
	go func() {
		watched <- c.Watch(ctx, id, WatchOptions{Outage: Outage{Patience: t.tr.Patience}}, func(r sandbox.Record) error {
			select {
			case records <- r:
			case <-ctx.Done():
			}
			return nil
		})
	}()
	t.changed(t.rec)
	for {
		if ctx.Err() != nil {
			return nil
		}
		if !t.ending.IsZero() {
			// Being destroyed: no event comes any more; wait a moment for the end of it.
			select {
			case <-ctx.Done():
				return nil
			case r := <-records:
				if t.changed(r) {
					return ErrSandboxGone
				}
			case err := <-watched:
				return t.watchEnded(ctx, err, records)
			case <-time.After(time.Until(t.ending.Add(destroyGrace))):
				return ErrSandboxGone
			}
			continue
		}
		// Record changes first: a destroyed sandbox ends the tail before its stream goes.
		select {
		case r := <-records:
			if t.changed(r) {
				return ErrSandboxGone
			}
			continue
		case err := <-watched:
			return t.watchEnded(ctx, err, records)
		default:
		}
		next, err := t.read(ctx)
		if err != nil {
			return err
		}
		if next {
			continue
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.wake:
		case r := <-records:
			if t.changed(r) {
				return ErrSandboxGone
			}
		case err := <-watched:
			return t.watchEnded(ctx, err, records)
		case <-time.After(t.idle()):
		}
	}
}

// tail is the state of one Tail.
type tail struct {
	c    *Client
	opts TailOptions
	fn   func(Event) error
	tr   *outageTracker
	wake chan struct{}

	nc   *nats.Conn
	subs []*nats.Subscription
	st   jetstream.Stream
	rec  sandbox.Record
	rev  uint64
	seq  uint64
	// ending is when the sandbox was seen being destroyed.
	ending time.Time
}

// destroyGrace is how long a tail whose sandbox is being destroyed waits to see it
// destroyed (a destroy takes a moment; one that stopped half-way may take for ever).
const destroyGrace = 10 * time.Second

// open connects as the sandbox, finds its stream and subscribes to its subjects. The
// first open decides where the tail starts.
func (t *tail) open(ctx context.Context, ref string) error {
	nc, rec, err := t.c.SandboxConn(ctx, ref)
	if err != nil {
		return err
	}
	js, err := jetstream.New(nc)
	if err != nil {
		nc.Close()
		return err
	}
	sctx, cancel := context.WithTimeout(ctx, getWait)
	defer cancel()
	st, err := js.Stream(sctx, sandbox.SandboxStream(rec.ID))
	switch {
	case errors.Is(err, jetstream.ErrStreamNotFound):
		nc.Close()
		return ErrSandboxGone
	case err != nil:
		nc.Close()
		return err
	}
	for _, subj := range sandbox.SandboxStreamSubjects(rec.ID) {
		sub, err := nc.Subscribe(subj, func(*nats.Msg) {
			select {
			case t.wake <- struct{}{}:
			default:
			}
		})
		if err != nil {
			nc.Close()
			return err
		}
		t.subs = append(t.subs, sub)
	}
	if t.nc == nil { // the first open
		t.rec, t.seq = rec, st.CachedInfo().State.LastSeq+1
		if t.opts.FromStart {
			t.seq = 1
		}
	}
	t.nc, t.st = nc, st
	return nil
}

func (t *tail) close() {
	for _, s := range t.subs {
		_ = s.Unsubscribe()
	}
	t.subs = nil
	t.nc.Close()
}

// read reads and hands on the next event. It reports whether there may be more at once;
// an error ends the tail.
func (t *tail) read(ctx context.Context) (bool, error) {
	if t.nc.IsClosed() {
		// The sandbox's credential stopped working: revoked by a destroy (the record watch
		// says so in a moment), or refused while the mesh restarted. Connect again.
		t.close()
		switch err := t.open(ctx, t.rec.ID); {
		case err == nil:
		case errors.Is(err, sandbox.ErrWrongState):
			return false, nil // no longer running: the record watch ends the tail
		case transient(err):
			return false, t.tr.failed(err)
		default:
			return false, err
		}
	}
	if !t.nc.IsConnected() {
		return false, t.tr.failed(nats.ErrDisconnected)
	}
	gctx, cancel := context.WithTimeout(ctx, getWait)
	msg, err := t.st.GetMsg(gctx, t.seq, jetstream.WithGetMsgSubject(sandbox.SandboxWildcard(t.rec.ID)))
	cancel()
	switch {
	case ctx.Err() != nil:
		return false, nil
	case errors.Is(err, jetstream.ErrMsgNotFound):
		t.tr.ok()
		return false, nil
	case errors.Is(err, jetstream.ErrStreamNotFound):
		return false, ErrSandboxGone
	case err != nil:
		return false, t.tr.failed(err)
	}
	t.tr.ok()
	t.seq = msg.Sequence + 1
	ev := Event{Subject: msg.Subject, Sequence: msg.Sequence, Time: msg.Time, Data: msg.Data}
	if !json.Valid(ev.Data) {
		b, _ := json.Marshal(string(ev.Data))
		ev.Data = b
	}
	return true, t.fn(ev)
}

// idle is how long the tail waits for a wake-up before reading again: a little while
// normally, briefly during an outage.
func (t *tail) idle() time.Duration {
	if t.tr.down() {
		return retryEvery
	}
	return time.Second
}

// changed hands a newer record to opts.Changed and reports whether the tail is over: the
// sandbox is destroyed or expired. One being destroyed ends the reading of events.
func (t *tail) changed(r sandbox.Record) bool {
	if r.Revision > t.rev {
		t.rev, t.rec = r.Revision, r
		if t.opts.Changed != nil {
			t.opts.Changed(r)
		}
	}
	if r.Status == sandbox.StatusDestroying && t.ending.IsZero() {
		t.ending = time.Now()
	}
	return r.Status == sandbox.StatusDestroyed || r.Status == sandbox.StatusExpired
}

// watchEnded ends the tail when the record watch ended: nil means it saw the sandbox
// destroyed (its last record is in records).
func (t *tail) watchEnded(ctx context.Context, err error, records <-chan sandbox.Record) error {
	for drained := false; !drained; {
		select {
		case r := <-records:
			t.changed(r)
		default:
			drained = true
		}
	}
	switch {
	case ctx.Err() != nil:
		return nil
	case err != nil:
		return err
	}
	return ErrSandboxGone
}
