package router

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/arrakis/gaib/sandbox"
)

// Router consumes the gateway stream and republishes each event, unchanged, to its
// sandbox or to production. Several routers may run against one gateway; they elect one
// active router through a lease and the others stand by, ready to take over.
type Router struct {
	nc     *nats.Conn
	js     jetstream.JetStream
	state  jetstream.KeyValue // set by ensureStorage
	routes jetstream.KeyValue // watched by the router itself (Start); nil with New
	table  *Table
	cfg    Config
	log    *slog.Logger
	stats  counters
	health health

	active  atomic.Bool
	acked   atomic.Uint64 // position last recorded
	leader  atomic.Pointer[string]
	lastRev uint64 // revision of our last write (run goroutine only)

	cancel   context.CancelFunc
	done     sync.WaitGroup
	stopOnce sync.Once
}

// Start starts a router on nc, a connection dedicated to it: the hot path must not share
// a connection with the control plane (a flood of large events would starve or disconnect
// it), and nc must not buffer publishes while reconnecting (connect it with
// ConnectOptions). The router watches the routes bucket itself (routes, or when nil the
// bucket Config.RoutesBucket opened on nc, so that the watch too stays off the control
// plane's connection), creates its state bucket and dead-letter stream, and runs until Stop
// or until ctx ends: standing by, taking over, recovering and restarting on its own. Start
// returns once the route table is loaded.
func Start(ctx context.Context, nc *nats.Conn, routes jetstream.KeyValue, cfg Config, log *slog.Logger) (*Router, error) {
	if nc.Opts.ReconnectBufSize >= 0 {
		return nil, sandbox.Errorf(sandbox.CodeInvalidRequest,
			"the router's connection must not buffer publishes while reconnecting (connect with router.ConnectOptions)")
	}
	r, err := newRouter(nc, NewTable(), cfg, log)
	if err != nil {
		return nil, err
	}
	if routes == nil {
		if routes, err = r.js.KeyValue(ctx, r.cfg.RoutesBucket); err != nil {
			return nil, fmt.Errorf("routes bucket %s: %w", r.cfg.RoutesBucket, err)
		}
	}
	r.routes = routes
	if err := r.ensureStorage(ctx); err != nil {
		return nil, err
	}
	runCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	stop := context.AfterFunc(ctx, cancel)
	r.cancel = func() { stop(); cancel() }
	loaded := make(chan struct{})
	r.done.Go(func() { r.watch(runCtx, loaded) })
	select {
	case <-loaded:
	case <-ctx.Done():
		r.Stop()
		return nil, ctx.Err()
	}
	r.done.Go(func() { r.run(runCtx) })
	return r, nil
}

// New returns a router that publishes through js's connection and routes with table, fed
// by the caller (see Watch). Run it with Run.
//
// Deprecated: use Start, which owns its connection, watch and restarts.
func New(js jetstream.JetStream, table *Table, cfg Config, log *slog.Logger) *Router {
	r, err := newRouter(js.Conn(), table, cfg, log)
	if err != nil {
		panic(err) // only invalid options, which newRouter never builds
	}
	return r
}

// Run routes (or stands by) until ctx ends, then stops cleanly.
//
// Deprecated: use Start.
func (r *Router) Run(ctx context.Context) error {
	if r.state == nil {
		if err := r.ensureStorage(ctx); err != nil {
			return err
		}
	}
	r.run(ctx)
	return nil
}

func newRouter(nc *nats.Conn, table *Table, cfg Config, log *slog.Logger) (*Router, error) {
	cfg = cfg.withDefaults(nc.MaxPayload())
	js, err := jetstream.New(nc,
		jetstream.WithPublishAsyncMaxPending(2*cfg.Window),
		jetstream.WithPublishAsyncTimeout(cfg.PublishTimeout))
	if err != nil {
		return nil, err
	}
	r := &Router{nc: nc, js: js, table: table, cfg: cfg, log: log, cancel: func() {}}
	r.setLeader("")
	return r, nil
}

// Stop stops the router: the active one stops pulling, waits for what it published to be
// stored, records its position and releases the lease, so that a standby takes over at
// once. It is safe to call more than once.
func (r *Router) Stop() {
	r.stopOnce.Do(func() {
		r.cancel()
		r.done.Wait()
		r.health.mu.Lock()
		r.health.stopped = true
		r.health.mu.Unlock()
	})
}

// Table is the router's route table.
func (r *Router) Table() *Table { return r.table }

// Active says whether this router is the one routing the gateway.
func (r *Router) Active() bool { return r.active.Load() }

// Healthy returns nil when the router can do its part (routing, or standing by with a
// readable lease), else why not. It asks nothing of the server: cheap for readiness probes.
func (r *Router) Healthy() error {
	if r.nc.IsClosed() {
		return sandbox.Errorf(sandbox.CodeUnavailable, "router unhealthy: connection closed")
	}
	return r.health.check(r.cfg.StallAfter)
}

func (r *Router) setLeader(s string) { r.leader.Store(&s) }

// watch keeps the table fed from the routes bucket, restarting the watch when it fails;
// loaded is closed once a watch has loaded the table.
func (r *Router) watch(ctx context.Context, loaded chan<- struct{}) {
	var once sync.Once
	for ctx.Err() == nil {
		ready, ended := make(chan struct{}), make(chan struct{})
		go func() {
			select {
			case <-ready:
				r.health.set(partWatch, nil)
				once.Do(func() { close(loaded) })
			case <-ended:
			}
		}()
		err := Watch(ctx, r.routes, r.table, ready)
		close(ended)
		if ctx.Err() != nil {
			return
		}
		r.health.set(partWatch, err)
		r.log.Error("router: route watch stopped; restarting", "err", err)
		sleep(ctx, time.Second)
	}
}

// run stands by until it holds the lease, routes while it does, and starts over.
func (r *Router) run(ctx context.Context) {
	for ctx.Err() == nil {
		l, err := r.acquire(ctx)
		if err != nil {
			return // ctx ended
		}
		err = r.lead(ctx, l)
		r.active.Store(false)
		if err != nil && ctx.Err() == nil {
			r.health.set(partPipeline, err)
			r.log.Error("router: routing stopped; starting over", "err", err)
			sleep(ctx, r.cfg.renewEvery())
		}
	}
}

// lead routes while this router holds the lease l: it reads back what a previous run
// stored after the recorded position, positions the consumer right after that position,
// and runs the pipeline, renewing the lease and recording the position as it goes. An
// uncertain publish restarts that cycle from the position it records then.
func (r *Router) lead(ctx context.Context, l *lease) error {
	r.active.Store(true)
	rec, upper := l.taken, l.upper
	for {
		r.acked.Store(rec.Acked)
		rcv, err := r.recoverStored(ctx, rec, upper)
		if err != nil {
			return r.stepDown(l, rec, fmt.Errorf("recovery: %w", err))
		}
		// Renew before touching the consumer (reading back may have taken a while, and only
		// the lease holder may reposition it), recording that events after the position may
		// be published from now on.
		if rec.Clean {
			rec.Since, rec.Clean = time.Now().UnixNano(), false
		}
		if err := r.write(ctx, l, rec); err != nil {
			return err
		}
		cons, err := r.openConsumer(ctx, rec.Acked+1)
		if err != nil {
			return r.stepDown(l, rec, err)
		}
		r.stats.recoveries.Add(1)
		p := r.newPipeline(cons, rcv.stored, rec.Acked)
		rec, err = r.route(ctx, l, p, rcv)
		if !errors.Is(err, errUncertain) {
			return err
		}
		r.log.Warn("router: reading outputs back after an uncertain publish", "err", err)
		upper = time.Now()
	}
}

// stepDown releases the lease after a failure before routing started, keeping rec, so
// that any router (this one included) retries from there.
func (r *Router) stepDown(l *lease, rec record, err error) error {
	ctx, cancel := context.WithTimeout(context.Background(), r.cfg.renewEvery())
	defer cancel()
	_ = r.release(ctx, l, rec)
	return err
}

// route runs p until ctx ends (a clean stop: it releases the lease), the lease is lost or
// cannot be renewed in time (it stops publishing at once), or the pipeline fails. It
// returns the last position it recorded.
func (r *Router) route(ctx context.Context, l *lease, p *pipeline, rcv recovered) (record, error) {
	pullCtx, stopPull := context.WithCancel(ctx)
	settleCtx, abort := context.WithCancel(context.WithoutCancel(ctx))
	defer abort()
	pulled, settled := make(chan error, 1), make(chan error, 1)
	go func() { pulled <- p.pull(pullCtx) }()
	go func() { settled <- p.settle(settleCtx) }()

	// position is what may be recorded now: while events a previous run stored are ahead
	// of the position, the read-back must still start from when they were published.
	position := func() record {
		rec := p.position()
		if rec.Acked < rcv.last {
			rec.Since, rec.Clean = min(rec.Since, rcv.since), false
		}
		return rec
	}
	last := position()
	recorded := time.Now()
	// finish stops the pipeline and records where it stopped (releasing the lease when
	// asked), unless the lease is lost.
	finish := func(cause error, drain, releaseLease bool) (record, error) {
		r.active.Store(false) // nothing new is published from here on
		stopPull()
		if drain {
			p.draining.Store(true)
		} else {
			abort()
		}
		pullErr := <-pulled
		settleErr := <-settled
		// Whatever is still unresolved was published on this connection: let it resolve
		// before anyone reads the outputs back.
		select {
		case <-r.js.PublishAsyncComplete():
		case <-time.After(r.cfg.PublishTimeout):
		}
		if errors.Is(cause, errLeaseLost) {
			return last, cause
		}
		rec := position()
		wctx, cancel := context.WithTimeout(context.Background(), r.cfg.PublishTimeout)
		defer cancel()
		var err error
		if releaseLease {
			err = r.release(wctx, l, rec)
		} else {
			err = r.write(wctx, l, rec)
		}
		if err != nil {
			r.log.Warn("router: could not record the position", "err", err)
			rec = last
		}
		if cause == nil {
			cause = errors.Join(pullErr, settleErr)
		}
		return rec, cause
	}

	tick := time.NewTicker(r.cfg.renewEvery())
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return finish(nil, true, true)
		case err := <-pulled:
			pulled <- err // finish reads it again
			if ctx.Err() != nil {
				return finish(nil, true, true)
			}
			if err == nil {
				err = errors.New("gateway consumer stopped")
			}
			return finish(err, true, false)
		case err := <-settled:
			settled <- err
			return finish(err, false, false)
		case <-tick.C:
			due := time.Since(recorded) >= r.cfg.CheckpointInterval
			// Between checkpoints the renewal keeps the recorded position, but events may
			// have been published after it since: never claim otherwise.
			rec := last
			rec.Clean = false
			if due {
				rec = position()
			}
			err := r.write(ctx, l, rec)
			switch {
			case err == nil:
				last = rec
				if due {
					recorded = time.Now()
				}
				r.health.set(partLease, nil)
				r.health.set(partPipeline, nil)
			case errors.Is(err, errLeaseLost):
				r.log.Warn("router: lease lost; stopping at once")
				return finish(err, false, false)
			case ctx.Err() != nil:
			default:
				r.health.set(partLease, err)
				if time.Since(l.renewed) >= r.cfg.fenceAfter() {
					r.log.Error("router: could not renew the lease in time; stopping at once", "err", err)
					return finish(fmt.Errorf("lease not renewed: %w", err), false, false)
				}
			}
		}
	}
}

// sleep waits d, or less when ctx ends (it then returns false).
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// Counters returns the router's counters and the routes loaded, without asking the
// server for the lag (cheap enough for every metrics scrape).
func (r *Router) Counters() Stats {
	s := r.stats.snapshot()
	s.Routes, s.Revision, s.InvalidRoutes = r.table.Len(), r.table.Revision(), r.table.Invalid()
	s.Active, s.Leader, s.Acked = r.active.Load(), *r.leader.Load(), r.acked.Load()
	s.Held = r.health.heldSeq()
	if err := r.Healthy(); err != nil {
		s.LastError = err.Error()
	} else {
		s.Healthy = true
	}
	return s
}

// Stats returns the router's counters, state and the gateway lag. A lag that cannot be
// read makes the stats unhealthy (it is never reported as 0).
func (r *Router) Stats(ctx context.Context) Stats {
	s := r.Counters()
	lag, err := r.lag(ctx)
	if err != nil {
		s.LagUnknown, s.Healthy = true, false
		s.LastError = errors.Join(errorOrNil(s.LastError), fmt.Errorf("lag: %w", err)).Error()
	}
	s.Lag = lag
	return s
}

// lag is the gateway events not yet routed: from the consumer, or when it cannot be read,
// from the stream and the recorded position.
func (r *Router) lag(ctx context.Context) (uint64, error) {
	cons, err := r.js.Consumer(ctx, r.cfg.Stream, r.cfg.Durable)
	if err == nil {
		info := cons.CachedInfo()
		return info.NumPending + uint64(info.NumAckPending), nil
	}
	st, serr := r.js.Stream(ctx, r.cfg.Stream)
	if serr != nil {
		return 0, errors.Join(err, serr)
	}
	last, acked := st.CachedInfo().State.LastSeq, r.acked.Load()
	if last < acked {
		return 0, nil
	}
	return last - acked, nil
}

func errorOrNil(s string) error {
	if s == "" {
		return nil
	}
	return errors.New(s)
}
