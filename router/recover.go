package router

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/arrakis/gaib/sandbox"
)

// recovered is what a router learned by reading its outputs back: the events after the
// recorded position that are already stored downstream.
type recovered struct {
	stored map[uint64]bool
	// last is the highest of them; until the position passes it, records keep since.
	last  uint64
	since int64
}

// recoverStored finds the gateway events after rec.Acked that a previous run (of this or
// another router) stored before it stopped. Every output carries its gateway sequence in
// a header; the outputs that can be after the position were stored between rec.Since and
// upper (the previous holder stopped publishing before its lease ran out), so the output
// streams are read back, headers only, over that interval widened by the clock skew. An
// output found in a stream tenants can write to counts only if its payload is the gateway
// event's: a forged header cannot make the router skip an event.
func (r *Router) recoverStored(ctx context.Context, rec record, upper time.Time) (recovered, error) {
	out := recovered{stored: map[uint64]bool{}, since: rec.Since}
	if rec.Clean {
		return out, nil
	}
	lo := time.Unix(0, rec.Since).Add(-r.cfg.ClockSkew)
	hi := upper.Add(r.cfg.ClockSkew)
	untrusted, err := r.streamNames(ctx, sandbox.TenantWritableFilter())
	if err != nil {
		return out, err
	}
	seen := map[string]bool{}
	for _, filter := range sandbox.RouterOutputFilters() {
		names, err := r.streamNames(ctx, filter)
		if err != nil {
			return out, err
		}
		for name := range names {
			if seen[name] {
				continue
			}
			seen[name] = true
			if err := r.scan(ctx, name, lo, hi, rec.Acked, untrusted[name], &out); err != nil {
				return out, fmt.Errorf("read back %s: %w", name, err)
			}
		}
	}
	r.log.Info("router: read back the outputs after the recorded position",
		"acked", rec.Acked, "from", lo, "to", hi, "streams", len(seen), "already_stored", len(out.stored))
	return out, nil
}

// streamNames returns the streams whose subjects overlap filter.
func (r *Router) streamNames(ctx context.Context, filter string) (map[string]bool, error) {
	l := r.js.StreamNames(ctx, jetstream.WithStreamListSubject(filter))
	names := map[string]bool{}
	for n := range l.Name() {
		names[n] = true
	}
	return names, l.Err()
}

// scan reads stream's messages stored between lo and hi and records the router outputs
// of gateway events after acked. It reads up to the stream's last sequence as its leader
// reports it: the reading consumer may sit on a replica still catching up (a node that
// just returned), and stopping at that replica's end would miss outputs.
func (r *Router) scan(ctx context.Context, name string, lo, hi time.Time, acked uint64, verify bool, out *recovered) error {
	st, err := r.js.Stream(ctx, name)
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		return nil // deleted meanwhile (a destroyed sandbox)
	}
	if err != nil {
		return err
	}
	state := st.CachedInfo().State
	if state.Msgs == 0 || state.LastTime.Before(lo) {
		return nil
	}
	oc, err := st.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{
		DeliverPolicy: jetstream.DeliverByStartTimePolicy, OptStartTime: &lo, HeadersOnly: true,
	})
	if err != nil {
		return err
	}
	for empty := 0; ; {
		batch, err := oc.Fetch(1000, jetstream.FetchMaxWait(time.Second))
		if err != nil {
			return err
		}
		n, done := 0, false
		// Stop as soon as the interval or the stream is read: waiting for the rest of the
		// batch would cost a fetch's wait per stream, and a takeover must finish reading
		// back well within its lease (a standby takes the lease from a router that does not
		// renew it while reading back).
		for m := range batch.Messages() {
			n++
			meta, err := m.Metadata()
			if err != nil {
				return err
			}
			if meta.Timestamp.After(hi) {
				done = true
				break
			}
			if err := r.note(ctx, st, name, m, meta.Sequence.Stream, acked, verify, out); err != nil {
				return err
			}
			if meta.Sequence.Stream >= state.LastSeq {
				done = true
				break
			}
		}
		if done {
			return nil
		}
		if err := batch.Error(); err != nil && !errors.Is(err, jetstream.ErrNoMessages) {
			return err
		}
		if n > 0 {
			empty = 0
			continue
		}
		// Nothing came for a while: either the last message was deleted since the leader
		// reported it, or the replica is stuck.
		if empty++; empty >= 10 {
			if _, err := st.GetMsg(ctx, state.LastSeq); errors.Is(err, jetstream.ErrMsgNotFound) {
				return nil
			}
			return fmt.Errorf("read back stalled before sequence %d", state.LastSeq)
		}
	}
}

// note records the gateway event that output m (sequence seq of stream st) carries, if it
// is after acked (and, when verify, really carries that event's payload).
func (r *Router) note(ctx context.Context, st jetstream.Stream, name string, m jetstream.Msg, seq, acked uint64, verify bool, out *recovered) error {
	gwSeq, err := strconv.ParseUint(m.Headers().Get(sandbox.HeaderGatewaySeq), 10, 64)
	if err != nil || gwSeq <= acked || out.stored[gwSeq] {
		return nil
	}
	if verify {
		same, err := r.samePayload(ctx, st, seq, gwSeq)
		if err != nil {
			return err
		}
		if !same {
			r.log.Warn("router: an output header does not match its gateway event; ignoring it", "stream", name, "seq", seq, "gateway_seq", gwSeq)
			return nil
		}
	}
	out.stored[gwSeq] = true
	out.last = max(out.last, gwSeq)
	return nil
}

// samePayload says whether message seq of st carries gateway event gwSeq's payload. An
// event gone from the gateway (expired) is never routed again, so it counts as stored.
func (r *Router) samePayload(ctx context.Context, st jetstream.Stream, seq, gwSeq uint64) (bool, error) {
	gw, err := r.js.Stream(ctx, r.cfg.Stream)
	if err != nil {
		return false, err
	}
	ev, err := gw.GetMsg(ctx, gwSeq)
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return true, nil
	}
	if err != nil {
		return false, err
	}
	m, err := st.GetMsg(ctx, seq)
	if err != nil {
		return false, err
	}
	return bytes.Equal(m.Data, ev.Data), nil
}
