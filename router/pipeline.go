package router

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/arrakis/gaib/sandbox"
)

// item is one gateway event on its way through the pipeline, in gateway order.
type item struct {
	msg jetstream.Msg
	seq uint64
	// stored is when the gateway stored the event (Unix ns): with seq, its message id.
	stored int64
	sent   time.Time // before it was published; every later item was published after it
	out    *nats.Msg // nil: nothing to publish (already stored, or not routable)
	dest   destination
	fut    jetstream.PubAckFuture // nil with out set: the first publish failed before sending
	err    error                  // that failure
	size   int                    // bytes held in the window
}

// pipeline routes one run of the consumer: pull reads, routes and publishes in gateway
// order; settle waits for each output to be stored, in the same order, retrying failures,
// and acknowledges. Together they hold at most Window events and WindowBytes bytes.
type pipeline struct {
	r      *Router
	cons   jetstream.Consumer
	skip   map[uint64]bool // already stored (from recovery): acknowledged, not published
	queue  chan *item
	window *budget
	// draining is set when the router stops: settle waits for what is in flight but no
	// longer retries.
	draining atomic.Bool

	published atomic.Uint64 // items read, counted before publishing
	// failing is set while settle retries an event: pull publishes nothing meanwhile.
	failing    atomic.Bool
	reconnects uint64 // the connection's reconnects when the run started
	// routeRev is the route table revision the events in flight were routed with (pull's
	// goroutine only).
	routeRev uint64
	// lastOf is the gateway sequence of each guild's last published output (pull's
	// goroutine only): a guild has one output in flight at most.
	lastOf    map[string]uint64
	mu        sync.Mutex
	settled   uint64    // items settled
	acked     uint64    // gateway sequence of the last item settled
	ackedSent time.Time // and when it was published
	// progress, when not nil, is closed by the next settle (someone waits for it).
	progress chan struct{}
}

func (r *Router) newPipeline(cons jetstream.Consumer, skip map[uint64]bool, acked uint64) *pipeline {
	return &pipeline{
		r: r, cons: cons, skip: skip, acked: acked, ackedSent: time.Now(), reconnects: r.nc.Stats().Reconnects,
		routeRev: r.table.Revision(), lastOf: map[string]uint64{},
		queue:  make(chan *item, r.cfg.Window),
		window: newBudget(r.cfg.WindowBytes),
	}
}

// position returns the record of what is settled, as of now: Since is a time no event
// after Acked had been published before.
func (p *pipeline) position() record {
	now := time.Now() // before reading the counters: anything published later is after now
	published := p.published.Load()
	p.mu.Lock()
	defer p.mu.Unlock()
	rec := record{Acked: p.acked, Since: p.ackedSent.UnixNano()}
	if published == p.settled {
		rec.Since, rec.Clean = now.UnixNano(), true
	}
	return rec
}

// pull reads the gateway and publishes, until ctx ends or the consumer fails; it closes
// the queue when it returns.
func (p *pipeline) pull(ctx context.Context) error {
	defer close(p.queue)
	r := p.r
	it, err := p.cons.Messages(jetstream.PullMaxMessagesWithBytesLimit(r.cfg.Window, r.cfg.PullBytes))
	if err != nil {
		return err
	}
	defer it.Stop()
	stop := context.AfterFunc(ctx, it.Stop)
	defer stop()
	var last, delivered uint64
	for {
		msg, err := it.Next()
		if errors.Is(err, jetstream.ErrNoHeartbeat) && ctx.Err() == nil {
			continue // the iterator pulls again; a message lost meanwhile shows as a gap
		}
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("gateway consumer: %w", err)
		}
		meta, err := msg.Metadata()
		if err != nil {
			return fmt.Errorf("gateway message: %w", err)
		}
		// Every delivery, redeliveries included, takes the next consumer sequence: a gap is a
		// message lost on the way in (a client buffer overflow), which must not be
		// acknowledged by the next one. Start over from the recorded position instead.
		if delivered != 0 && meta.Sequence.Consumer != delivered+1 {
			return fmt.Errorf("gateway delivery %d lost (next %d)", delivered+1, meta.Sequence.Consumer)
		}
		delivered = meta.Sequence.Consumer
		seq := meta.Sequence.Stream
		if seq <= last {
			continue // a redelivery of an event this pipeline already holds
		}
		last = seq
		r.stats.in.Add(1)
		x := &item{msg: msg, seq: seq, stored: meta.Timestamp.UnixNano(), sent: time.Now()}
		// Counted before publishing: position() must never believe nothing is in flight.
		p.published.Add(1)
		var halt error
		if p.skip[seq] {
			delete(p.skip, seq)
			r.stats.skipped.Add(1)
		} else if halt = p.publish(ctx, x); halt != nil && x.err == nil {
			return nil // ctx ended before it was published
		}
		select {
		case p.queue <- x:
		case <-ctx.Done():
			return nil
		}
		if halt != nil {
			return halt
		}
	}
}

// errDisrupted ends a run whose connection failed: what it published last may be lost
// while later events would be stored, so nothing more is published before the outputs
// are read back.
var errDisrupted = fmt.Errorf("%w: connection disrupted", errUncertain)

// publish routes x and sends its output asynchronously, once the window has room.
func (p *pipeline) publish(ctx context.Context, x *item) error {
	r := p.r
	// A route change moves a guild's events to another stream. An event of that guild
	// still in flight under the old route (held while its sandbox's stream is missing, say)
	// would be routed again, on the new route, after later events of the guild had been
	// stored there. So everything routed under the previous table settles first: route
	// changes are rare, a wait of one window is cheap.
	if rev := r.table.Revision(); rev != p.routeRev {
		if err := p.awaitSettled(ctx); err != nil {
			return err
		}
		p.routeRev = rev
	}
	hdr, data := x.msg.Headers(), x.msg.Data()
	if size := eventSize(hdr, data); size > r.cfg.MaxEventBytes {
		if _, ok := sandbox.StripGateway(x.msg.Subject()); !ok && r.cfg.Route == nil {
			r.stats.unroutable.Add(1)
			return nil
		}
		x.out, x.dest = r.deadLetter(x.seq, x.stored, x.msg.Subject(), size), toDeadLetter
	} else {
		r.observeRead(x.msg.Subject(), data)
		subject, dest, guild, why := r.decide(x.msg.Subject(), data)
		// One output per guild in flight: with a window of them, one lost with a stream
		// leader or refused (a leader stepping down answers "unavailable") would be
		// overtaken by the guild's next outputs, already on their way, and its retry stored
		// after them. Other guilds' events go on meanwhile.
		if guild != "" {
			if err := p.awaitSettledThrough(ctx, p.lastOf[guild]); err != nil {
				return err
			}
			p.lastOf[guild] = x.seq
		}
		switch why {
		case notJSON:
			r.stats.parseErrors.Add(1)
		case noGuild:
			r.stats.noGuild.Add(1)
		}
		if dest == dropped {
			r.stats.unroutable.Add(1)
			return nil
		}
		x.out, x.dest = output(subject, x.seq, x.stored, hdr, data), dest
	}
	x.size = len(x.out.Data)
	if err := p.window.acquire(ctx, x.size); err != nil {
		return err
	}
	// Nothing overtakes an event being retried.
	for p.failing.Load() {
		if !sleep(ctx, 5*time.Millisecond) {
			return ctx.Err()
		}
	}
	// After a reconnect, the events published before it may be lost: publishing more would
	// store them ahead of those.
	if r.nc.Stats().Reconnects != p.reconnects {
		x.err = errDisrupted
		return errDisrupted
	}
	x.fut, x.err = r.js.PublishMsgAsync(x.out, noRetry)
	if x.err != nil {
		return fmt.Errorf("%w: %v", errDisrupted, x.err)
	}
	return nil
}

// awaitSettled waits until every item published before the current one is settled.
func (p *pipeline) awaitSettled(ctx context.Context) error {
	for {
		p.mu.Lock()
		done := p.settled+1 >= p.published.Load() // the current item is counted already
		p.mu.Unlock()
		if done {
			return nil
		}
		if !sleep(ctx, time.Millisecond) {
			return ctx.Err()
		}
	}
}

// awaitSettledThrough waits until the item of gateway sequence seq (0: none) is settled.
func (p *pipeline) awaitSettledThrough(ctx context.Context, seq uint64) error {
	for {
		p.mu.Lock()
		if p.acked >= seq {
			p.mu.Unlock()
			return nil
		}
		if p.progress == nil {
			p.progress = make(chan struct{})
		}
		progress := p.progress
		p.mu.Unlock()
		select {
		case <-progress:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// noRetry turns off the client's own retry on "no responders": it would resend an output
// after later ones; the pipeline retries in order instead.
var noRetry = jetstream.WithRetryAttempts(0)

// errUncertain means an output may or may not have been stored: the pipeline stops and
// the router reads its outputs back before going on.
var errUncertain = errors.New("publish outcome unknown")

// settle waits for each item's output to be stored, in order, and acknowledges the
// gateway. It returns when the queue is closed and drained, or on the first output whose
// outcome is unknown.
func (p *pipeline) settle(ctx context.Context) error {
	var unacked jetstream.Msg
	n := 0
	defer func() {
		if unacked != nil {
			_ = unacked.Ack()
		}
	}()
	for x := range p.queue {
		if err := p.store(ctx, x); err != nil {
			return err
		}
		p.window.release(x.size)
		p.mu.Lock()
		p.settled++
		p.acked, p.ackedSent = x.seq, x.sent
		if p.progress != nil {
			close(p.progress)
			p.progress = nil
		}
		p.mu.Unlock()
		// AckAll: one acknowledgement covers every event before it.
		unacked, n = x.msg, n+1
		if n >= 64 || len(p.queue) == 0 {
			_ = unacked.Ack()
			unacked, n = nil, 0
		}
	}
	return nil
}

// store waits until x's output is stored. A publish that certainly failed is retried with
// backoff, routed again each time on the current table (a guild whose sandbox is gone goes
// where it routes now; while it still routes to a sandbox without a stream the event is
// held, never sent elsewhere). An unknown outcome returns errUncertain.
func (p *pipeline) store(ctx context.Context, x *item) error {
	r := p.r
	if x.out == nil {
		return nil
	}
	err := x.err
	if x.fut != nil {
		select {
		case <-x.fut.Ok():
			r.stats.stored(x.dest)
			r.observeStored(x)
			return nil
		case err = <-x.fut.Err():
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	p.failing.Store(true)
	defer p.failing.Store(false)
	defer r.health.release(x.seq)
	for backoff := 10 * time.Millisecond; ; backoff = min(2*backoff, 2*time.Second) {
		kind := failureKind(err)
		switch kind {
		case failUncertain:
			return fmt.Errorf("%w: gateway event %d to %s: %v", errUncertain, x.seq, x.out.Subject, err)
		case failClosed:
			return err
		case failNoStream:
			r.stats.noStream.Add(1)
		default:
			r.stats.publishErrors.Add(1)
		}
		if r.health.hold(x.seq, x.out.Subject, err) {
			r.log.Warn("router: output not stored; holding the event and retrying", "seq", x.seq, "subject", x.out.Subject, "kind", kind.String(), "err", err)
		}
		if p.draining.Load() {
			return fmt.Errorf("stopping with gateway event %d not stored: %w", x.seq, err)
		}
		if !sleep(ctx, backoff) {
			return ctx.Err()
		}
		if x.dest != toDeadLetter {
			subject, dest, _, _ := r.decide(x.msg.Subject(), x.msg.Data())
			if dest == dropped {
				return nil
			}
			x.out.Subject, x.dest = subject, dest
		}
		pctx, cancel := context.WithTimeout(ctx, r.cfg.PublishTimeout)
		_, err = r.js.PublishMsg(pctx, x.out, noRetry)
		cancel()
		if err == nil {
			r.stats.stored(x.dest)
			r.observeStored(x)
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
	}
}

// failure classifies a failed publish.
type failure uint8

const (
	failOther     failure = iota // refused by the stream: certainly not stored
	failNoStream                 // no stream captures the subject (or it has no leader)
	failClosed                   // the connection is closed for good
	failUncertain                // timed out or disconnected: maybe stored
)

func (f failure) String() string {
	return [...]string{"publish", "no_stream", "closed", "uncertain"}[f]
}

func failureKind(err error) failure {
	var api *jetstream.APIError
	switch {
	case errors.Is(err, jetstream.ErrNoStreamResponse), errors.Is(err, nats.ErrNoResponders):
		return failNoStream
	case errors.As(err, &api):
		if api.ErrorCode == jetstream.JSErrCodeStreamNotFound {
			return failNoStream
		}
		return failOther
	case errors.Is(err, nats.ErrConnectionClosed):
		return failClosed
	case errors.Is(err, nats.ErrReconnectBufExceeded), errors.Is(err, nats.ErrMaxPayload),
		errors.Is(err, nats.ErrConnectionDraining):
		return failOther // never sent
	default:
		return failUncertain
	}
}

// budget bounds the bytes in flight; one item larger than the whole budget still passes
// when nothing else is in flight, so no event can block the pipeline for good.
type budget struct {
	mu    sync.Mutex
	limit int
	used  int
	freed chan struct{} // non-nil while acquire waits; closed by the next release
}

func newBudget(limit int) *budget { return &budget{limit: limit} }

func (b *budget) acquire(ctx context.Context, n int) error {
	for {
		b.mu.Lock()
		if b.used == 0 || b.used+n <= b.limit {
			b.used += n
			b.mu.Unlock()
			return nil
		}
		if b.freed == nil {
			b.freed = make(chan struct{})
		}
		freed := b.freed
		b.mu.Unlock()
		select {
		case <-freed:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

func (b *budget) release(n int) {
	b.mu.Lock()
	b.used -= n
	if b.freed != nil {
		close(b.freed)
		b.freed = nil
	}
	b.mu.Unlock()
}
