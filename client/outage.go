package client

import (
	"context"
	"errors"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/arrakis/gaib/sandbox"
)

// Outage says how a long-running call (Watch, Tail) behaves while the mesh is away: it
// keeps trying, reports the outage once when it starts and once when it ends, and gives up
// with an unavailable error when the mesh stays away longer than Patience.
type Outage struct {
	// Lost is called once when the mesh stops answering, with why. Optional.
	Lost func(err error)
	// Back is called when the mesh answers again after Lost, with how long it was away.
	// Optional.
	Back func(away time.Duration)
	// Patience is how long the mesh may stay away. Default: the client's timeout.
	Patience time.Duration
}

// retryEvery is how often a long-running call tries again while the mesh is away.
const retryEvery = 250 * time.Millisecond

// outageTracker follows one outage at a time.
type outageTracker struct {
	Outage
	url   string
	since time.Time
	last  error
}

func (c *Client) tracker(o Outage) *outageTracker {
	if o.Patience <= 0 {
		o.Patience = c.timeout
	}
	return &outageTracker{Outage: o, url: c.url}
}

// failed records that the mesh did not answer (or answered with an internal error, as a
// service does while it shuts down). It returns the error to give up with once the outage
// has lasted longer than the patience, else nil (try again).
func (t *outageTracker) failed(err error) error {
	t.last = err
	if t.since.IsZero() {
		t.since = time.Now()
		if t.Lost != nil {
			t.Lost(err)
		}
	}
	if time.Since(t.since) <= t.Patience {
		return nil
	}
	if errors.Is(err, errInternal) {
		return err
	}
	return Unreachable(t.url, err)
}

// ok records that the mesh answered, ending an outage. It reports whether one ended.
func (t *outageTracker) ok() bool {
	if t.since.IsZero() {
		return false
	}
	away := time.Since(t.since)
	t.since = time.Time{}
	if t.Back != nil {
		t.Back(away)
	}
	return true
}

// down reports whether an outage is under way.
func (t *outageTracker) down() bool { return !t.since.IsZero() }

// transient reports whether err means the mesh is away (restarting, unreachable, no
// service answering yet, a service failing as it stops) rather than an answer.
func transient(err error) bool {
	return errors.Is(err, sandbox.ErrUnavailable) || errors.Is(err, errInternal) || errors.Is(err, nats.ErrConnectionClosed) ||
		errors.Is(err, nats.ErrDisconnected) || errors.Is(err, nats.ErrConnectionReconnecting) ||
		errors.Is(err, nats.ErrNoResponders) || errors.Is(err, nats.ErrTimeout) ||
		errors.Is(err, context.DeadlineExceeded)
}

// drops returns a channel told when nc loses its server, and a function to stop.
func drops(nc *nats.Conn) (<-chan nats.Status, func()) {
	ch := nc.StatusChanged(nats.DISCONNECTED, nats.RECONNECTING, nats.CLOSED)
	return ch, func() { nc.RemoveStatusListener(ch) }
}

// errInternal matches any error with code internal (errors.Is compares codes).
var errInternal = &sandbox.Error{Code: sandbox.CodeInternal, Message: "internal"}
