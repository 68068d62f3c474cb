package router

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/arrakis/gaib/sandbox"
)

// Config configures a Router.
type Config struct {
	// Durable is the name of the router's durable consumer on the gateway stream; routers
	// sharing it share the work. Default "router".
	Durable string
	// Window bounds the events published and not yet acknowledged by the output streams.
	// Default 1024.
	Window int
	// AckWait is how long the gateway waits for an acknowledgement before redelivering.
	// Default 10s.
	AckWait time.Duration
	// Route overrides the output subject (benchmarks: a bare pass-through). Default: by
	// guild, through the route table.
	Route func(subject string, payload []byte) string
}

// Router consumes the gateway stream and republishes each event, unchanged, to its
// sandbox or to production.
type Router struct {
	js    jetstream.JetStream
	table *Table
	cfg   Config
	log   *slog.Logger
	stats counters

	mu   sync.Mutex
	cons jetstream.Consumer // set once Run has created it
}

// New returns a router that publishes through js (created with a publish window at least
// cfg.Window) and routes with table.
func New(js jetstream.JetStream, table *Table, cfg Config, log *slog.Logger) *Router {
	if cfg.Durable == "" {
		cfg.Durable = "router"
	}
	if cfg.Window <= 0 {
		cfg.Window = 1024
	}
	if cfg.AckWait <= 0 {
		cfg.AckWait = 10 * time.Second
	}
	r := &Router{js: js, table: table, cfg: cfg, log: log}
	if cfg.Route == nil {
		r.cfg.Route = r.route
	}
	return r
}

// Table is the router's route table.
func (r *Router) Table() *Table { return r.table }

// route returns the output subject of a gateway event, counting what it decided.
func (r *Router) route(subject string, payload []byte) string {
	out, ok := sandbox.StripGateway(subject)
	if !ok {
		r.stats.unroutable.Add(1)
		return ""
	}
	guild, err := GuildID(payload)
	switch {
	case err != nil:
		r.stats.parseErrors.Add(1)
	case guild == "":
		r.stats.noGuild.Add(1)
	default:
		if id, ok := r.table.Lookup(guild); ok {
			r.stats.toSandbox.Add(1)
			return sandbox.SandboxSubject(id, out)
		}
	}
	r.stats.toProduction.Add(1)
	return out
}

// pending is an event published and waiting for the output stream's acknowledgement.
type pending struct {
	in  jetstream.Msg
	out *nats.Msg
	ack jetstream.PubAckFuture
}

// Run routes until ctx ends. The input is acknowledged only after its output is stored,
// and each output carries a message id derived from the input's stream sequence, so a
// redelivery after a crash is stored once. Events are published in gateway order.
func (r *Router) Run(ctx context.Context) error {
	cons, err := r.consumer(ctx)
	if err != nil {
		return fmt.Errorf("router consumer: %w", err)
	}
	r.mu.Lock()
	r.cons = cons
	r.mu.Unlock()
	it, err := cons.Messages(jetstream.PullMaxMessages(r.cfg.Window))
	if err != nil {
		return err
	}
	queue := make(chan pending, r.cfg.Window)
	ackerDone := make(chan error, 1)
	go func() { ackerDone <- r.acker(ctx, queue) }()
	stop := context.AfterFunc(ctx, it.Stop)
	defer stop()

	var runErr error
	for {
		msg, err := it.Next()
		if err != nil {
			if !errors.Is(err, jetstream.ErrMsgIteratorClosed) {
				runErr = err
			}
			break
		}
		r.stats.in.Add(1)
		p, ok := r.publish(msg)
		if !ok {
			continue
		}
		select {
		case queue <- p:
		case <-ctx.Done():
		}
	}
	close(queue)
	if err := <-ackerDone; err != nil && runErr == nil {
		runErr = err
	}
	return runErr
}

// consumer returns the router's durable consumer on the gateway stream. When a previous
// run stopped with events delivered but not acknowledged (a crash), the consumer is
// recreated at its ack floor: redelivering the tail in gateway order keeps per-guild order,
// and the outputs' message ids drop what was already stored.
func (r *Router) consumer(ctx context.Context) (jetstream.Consumer, error) {
	cfg := jetstream.ConsumerConfig{
		Durable:       r.cfg.Durable,
		Description:   "gaib router: routes gateway events to sandboxes and production",
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       r.cfg.AckWait,
		MaxAckPending: 4 * r.cfg.Window,
		DeliverPolicy: jetstream.DeliverAllPolicy,
	}
	old, err := r.js.Consumer(ctx, sandbox.StreamGateway, r.cfg.Durable)
	switch {
	case errors.Is(err, jetstream.ErrConsumerNotFound):
	case err != nil:
		return nil, err
	default:
		info, err := old.Info(ctx)
		if err != nil {
			return nil, err
		}
		if info.NumAckPending > 0 || info.Config.AckPolicy != cfg.AckPolicy {
			r.log.Info("router: resuming from the ack floor", "floor", info.AckFloor.Stream, "unacked", info.NumAckPending)
			if err := r.js.DeleteConsumer(ctx, sandbox.StreamGateway, r.cfg.Durable); err != nil && !errors.Is(err, jetstream.ErrConsumerNotFound) {
				return nil, err
			}
			cfg.DeliverPolicy = jetstream.DeliverByStartSequencePolicy
			cfg.OptStartSeq = info.AckFloor.Stream + 1
		}
	}
	return r.js.CreateOrUpdateConsumer(ctx, sandbox.StreamGateway, cfg)
}

// publish sends msg to its output asynchronously. Events with nowhere to go are
// terminated (never redelivered).
func (r *Router) publish(msg jetstream.Msg) (pending, bool) {
	meta, err := msg.Metadata()
	if err != nil {
		r.log.Error("router: message without metadata", "err", err)
		return pending{}, false
	}
	subject := r.cfg.Route(msg.Subject(), msg.Data())
	if subject == "" {
		_ = msg.Term()
		return pending{}, false
	}
	out := &nats.Msg{Subject: subject, Data: msg.Data(), Header: outputHeaders(msg.Headers())}
	out.Header.Set(jetstream.MsgIDHeader, "gw-"+strconv.FormatUint(meta.Sequence.Stream, 10))
	p := pending{in: msg, out: out}
	p.ack, err = r.js.PublishMsgAsync(out)
	if err != nil {
		p.ack = nil // the acker publishes it synchronously
	}
	return p, true
}

// outputHeaders copies the event's headers without the JetStream controls meant for the
// gateway stream (expected sequences, message id, TTL, rollup).
func outputHeaders(h nats.Header) nats.Header {
	out := nats.Header{}
	for k, v := range h {
		if strings.HasPrefix(k, "Nats-") {
			continue
		}
		out[k] = v
	}
	return out
}

// acker waits for each output's acknowledgement in order and then acknowledges its input.
// A failed publish is retried synchronously with the same message id until it is stored
// or ctx ends, so nothing after it is acknowledged first.
func (r *Router) acker(ctx context.Context, queue <-chan pending) error {
	for p := range queue {
		if !r.stored(ctx, p) {
			return ctx.Err()
		}
		if err := p.in.Ack(); err != nil {
			r.log.Warn("router: ack", "err", err)
		}
	}
	return nil
}

// stored waits until p's output is in its stream, retrying failed publishes.
func (r *Router) stored(ctx context.Context, p pending) bool {
	if p.ack != nil {
		select {
		case <-p.ack.Ok():
			return true
		case err := <-p.ack.Err():
			r.stats.publishErrors.Add(1)
			r.log.Warn("router: publish failed, retrying", "subject", p.out.Subject, "err", err)
		case <-ctx.Done():
			return false
		}
	}
	for backoff := 10 * time.Millisecond; ; backoff = min(2*backoff, time.Second) {
		pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		_, err := r.js.PublishMsg(pctx, p.out)
		cancel()
		if err == nil {
			return true
		}
		r.stats.publishErrors.Add(1)
		select {
		case <-time.After(backoff):
		case <-ctx.Done():
			return false
		}
	}
}

// Counters returns the router's counters and the routes loaded, without asking the
// server for the lag (cheap enough for every metrics scrape).
func (r *Router) Counters() Stats {
	s := r.stats.snapshot()
	s.Routes, s.Revision = r.table.Len(), r.table.Revision()
	return s
}

// Stats returns the router's counters, the routes loaded and the gateway lag.
func (r *Router) Stats(ctx context.Context) Stats {
	s := r.Counters()
	r.mu.Lock()
	cons := r.cons
	r.mu.Unlock()
	if cons != nil {
		if info, err := cons.Info(ctx); err == nil {
			s.Lag = info.NumPending + uint64(info.NumAckPending)
		}
	}
	return s
}
