package client

import (
	"context"
	"errors"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/arrakis/gaib/sandbox"
)

// WatchOptions say how Watch follows a sandbox.
type WatchOptions struct {
	// Outage is how Watch rides out the mesh going away.
	Outage
	// Refresh also calls fn this often with the current record when nothing changed (a
	// screen then shows fresh health). Zero: only on changes.
	Refresh time.Duration
}

// maxPoll is the longest one long poll waits for a change (the service caps it at 25s).
const maxPoll = 20 * time.Second

// errRepoll: the connection blinked while a poll was out; ask again.
var errRepoll = errors.New("connection changed during the poll")

// Watch calls fn with sandbox ref's record at once and then on every change, by
// long-polling the sandbox service's watch endpoint. It returns nil when ctx ends, or
// after fn saw the sandbox destroyed; fn's error when it fails; the service's error (not
// found, forbidden); or an unavailable error when the mesh stays away longer than the
// outage patience. Through a mesh restart it keeps asking, reports the outage through
// opts.Outage, and when the mesh is back calls fn again with the current record even if
// nothing changed, so that a screen is redrawn.
func (c *Client) Watch(ctx context.Context, ref string, opts WatchOptions, fn func(sandbox.Record) error) error {
	lost, stop := drops(c.nc)
	defer stop()
	tr := c.tracker(opts.Outage)
	wait := maxPoll
	if opts.Refresh > 0 {
		wait = min(opts.Refresh, maxPoll)
	}
	var rev uint64
	first := true
	for ctx.Err() == nil {
		if !c.nc.IsConnected() {
			if c.nc.IsClosed() {
				return c.closedError()
			}
			if err := tr.failed(nats.ErrDisconnected); err != nil {
				return err
			}
			SleepCtx(ctx, retryEvery)
			continue
		}
		since := rev
		if tr.down() {
			since = 0 // during an outage, an answer at once says the mesh is back
		}
		rec, err := c.poll(ctx, lost, ref, since, wait)
		switch {
		case ctx.Err() != nil:
			return nil
		case errors.Is(err, errRepoll):
			continue
		case err != nil && transient(err):
			if err := tr.failed(err); err != nil {
				return err
			}
			SleepCtx(ctx, retryEvery)
			continue
		case err != nil:
			return err
		}
		back := tr.ok()
		ref = rec.ID
		if rec.Revision > rev || first || back || opts.Refresh > 0 {
			if err := fn(rec); err != nil {
				return err
			}
		}
		first = false
		rev = max(rev, rec.Revision)
		if rec.Status == sandbox.StatusDestroyed {
			return nil
		}
	}
	return nil
}

// poll asks once for a record newer than rev, waiting up to wait. When the connection
// drops meanwhile the request is abandoned at once (its answer would never come): the
// result is then nats.ErrDisconnected, or errRepoll if the connection is already back.
func (c *Client) poll(ctx context.Context, lost <-chan nats.Status, ref string, rev uint64, wait time.Duration) (sandbox.Record, error) {
	pctx, cancel := context.WithCancel(ctx)
	defer cancel()
	type result struct {
		rec sandbox.Record
		err error
	}
	done := make(chan result, 1)
	go func() {
		rec, err := callWithin[sandbox.Record](pctx, c, wait+c.timeout, wait+c.timeout, sandbox.ServiceSandbox, sandbox.OpWatch,
			sandbox.WatchRequest{Sandbox: ref, Revision: rev, Wait: wait.String()})
		done <- result{rec, err}
	}()
	select {
	case r := <-done:
		return r.rec, r.err
	case <-lost:
		cancel()
		<-done
		if c.nc.IsConnected() {
			return sandbox.Record{}, errRepoll
		}
		return sandbox.Record{}, nats.ErrDisconnected
	}
}

// closedError is why a closed connection cannot be used: its credential was refused, or
// it gave up reconnecting.
func (c *Client) closedError() error {
	err := c.nc.LastError()
	if err == nil {
		err = nats.ErrConnectionClosed
	}
	if aerr := AuthError(c.url, err); aerr != nil {
		return aerr
	}
	return Unreachable(c.url, err)
}
