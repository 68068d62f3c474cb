package router

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// record is the router's durable state, one key per durable in the state bucket. The key
// is the lease (Owner, renewed by compare-and-swap on its revision) and the checkpoint at
// once: only the lease holder can move the position, and a router that lost the lease
// finds out on its next write.
type record struct {
	// Owner is the active router's instance ("" once released by a clean stop).
	Owner string `json:"owner,omitempty"`
	// Acked is the gateway sequence up to which every event is stored downstream (or was
	// deliberately not forwarded).
	Acked uint64 `json:"acked"`
	// Since (Unix ns, the writer's clock) is a time before which no event after Acked had
	// been published: recovery reads outputs back from there.
	Since int64 `json:"since,omitempty"`
	// Clean says nothing after Acked was published: recovery reads nothing back.
	Clean bool `json:"clean,omitempty"`
}

func (rec record) encode() []byte {
	b, _ := json.Marshal(rec)
	return b
}

// lease is this router's hold on the active role.
type lease struct {
	rev uint64 // revision of our last write
	// renewed is when our last successful write was sent (this router's clock).
	renewed time.Time
	// taken is the record as it was when we took the lease, and upper the latest time a
	// previous holder can have published: min(now, its last renewal + LeaseTTL).
	taken record
	upper time.Time
}

// errLeaseLost means another router holds the lease now.
var errLeaseLost = errors.New("lease lost to another router")

// acquire waits until this router holds the lease: when the key is missing, released,
// ours, or has not changed for LeaseTTL as seen from here (the holder stopped renewing,
// and has stopped publishing LeaseTTL/4 before). Standby routers spend their life here.
func (r *Router) acquire(ctx context.Context) (*lease, error) {
	var seenRev uint64
	var seenAt time.Time
	tick := time.NewTicker(r.cfg.renewEvery())
	defer tick.Stop()
	for {
		l, err := r.tryAcquire(ctx, &seenRev, &seenAt)
		r.health.set(partLease, err)
		if l != nil {
			return l, nil
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-tick.C:
		}
	}
}

func (r *Router) tryAcquire(ctx context.Context, seenRev *uint64, seenAt *time.Time) (*lease, error) {
	key := r.cfg.Durable
	e, err := r.state.Get(ctx, key)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		rec := r.initialRecord(ctx)
		rec.Owner = r.cfg.Instance
		sent := time.Now()
		rev, err := r.state.Create(ctx, key, rec.encode())
		if errors.Is(err, jetstream.ErrKeyExists) {
			return nil, nil // another router created it first: watch it from now on
		}
		if err != nil {
			return nil, err
		}
		r.setLeader(rec.Owner)
		return &lease{rev: rev, renewed: sent, taken: rec, upper: sent}, nil
	}
	if err != nil {
		return nil, err
	}
	var rec record
	if err := json.Unmarshal(e.Value(), &rec); err != nil {
		r.log.Error("router: unreadable state record; treating it as missing", "key", key, "err", err)
		rec = r.initialRecord(ctx)
	}
	r.setLeader(rec.Owner)
	if e.Revision() != *seenRev {
		*seenRev, *seenAt = e.Revision(), time.Now()
	}
	ours := rec.Owner == r.cfg.Instance && e.Revision() == r.lastRev
	if rec.Owner != "" && !ours && time.Since(*seenAt) < r.cfg.LeaseTTL {
		r.health.set(partPipeline, nil) // standing by is doing our part
		return nil, nil
	}
	taken := rec
	taken.Owner = r.cfg.Instance
	sent := time.Now()
	rev, err := r.state.Update(ctx, key, taken.encode(), e.Revision())
	if errors.Is(err, jetstream.ErrKeyRevisionMismatch) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	r.setLeader(taken.Owner)
	if !ours {
		r.stats.takeovers.Add(1)
		r.log.Info("router: took the lease", "instance", r.cfg.Instance, "from", rec.Owner, "acked", rec.Acked)
	}
	upper := e.Created().Add(r.cfg.LeaseTTL)
	if now := time.Now(); rec.Owner == "" || upper.After(now) {
		upper = now
	}
	return &lease{rev: rev, renewed: sent, taken: rec, upper: upper}, nil
}

// initialRecord is the position of a durable without a record: the consumer's ack floor
// when it exists (a router of an earlier version routed up to there), else the start of
// the gateway stream (a first start).
func (r *Router) initialRecord(ctx context.Context) record {
	rec := record{Clean: true, Since: time.Now().UnixNano()}
	cons, err := r.js.Consumer(ctx, r.cfg.Stream, r.cfg.Durable)
	if err == nil {
		if info, err := cons.Info(ctx); err == nil {
			rec.Acked = info.AckFloor.Stream
		}
	}
	r.log.Warn("router: no recorded position; starting from the consumer's ack floor or the stream start", "acked", rec.Acked)
	return rec
}

// write stores rec under the lease. A revision mismatch means the lease is lost.
func (r *Router) write(ctx context.Context, l *lease, rec record) error {
	rec.Owner = r.cfg.Instance
	sent := time.Now()
	rev, err := r.state.Update(ctx, r.cfg.Durable, rec.encode(), l.rev)
	if errors.Is(err, jetstream.ErrKeyRevisionMismatch) || errors.Is(err, jetstream.ErrKeyNotFound) {
		return errLeaseLost
	}
	if err != nil {
		return err
	}
	l.rev, l.renewed = rev, sent
	r.lastRev = rev
	r.acked.Store(rec.Acked)
	return nil
}

// release writes the final record with no owner, so a standby takes over at once.
func (r *Router) release(ctx context.Context, l *lease, rec record) error {
	rec.Owner = ""
	rev, err := r.state.Update(ctx, r.cfg.Durable, rec.encode(), l.rev)
	if err != nil {
		return err
	}
	l.rev = rev
	r.acked.Store(rec.Acked)
	r.setLeader("")
	return nil
}
