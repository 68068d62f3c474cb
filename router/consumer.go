package router

import (
	"context"
	"errors"
	"fmt"

	"github.com/nats-io/nats.go/jetstream"
)

// consumerConfig is the router's durable consumer. It always delivers from the start of
// the stream as far as its configuration goes, so that every later update is accepted;
// where it actually resumes is set by a reset to the recorded position, never by the
// deliver policy.
func (r *Router) consumerConfig() jetstream.ConsumerConfig {
	return jetstream.ConsumerConfig{
		Durable:     r.cfg.Durable,
		Description: "gaib router: routes gateway events to sandboxes and production (position set by the router)",
		// Acknowledging in order lets one ack cover a batch; the router's record, not the
		// ack floor, is what it resumes from.
		AckPolicy:     jetstream.AckAllPolicy,
		AckWait:       r.cfg.AckWait,
		MaxAckPending: 4 * r.cfg.Window,
		DeliverPolicy: jetstream.DeliverAllPolicy,
	}
}

// compatible says whether an existing consumer can be reused by updating it: the fields
// the server refuses to change must already be what the router needs.
func compatible(have, want jetstream.ConsumerConfig) bool {
	return have.AckPolicy == want.AckPolicy && have.DeliverSubject == "" &&
		have.FilterSubject == "" && len(have.FilterSubjects) == 0 && len(have.PriorityGroups) == 0
}

// openConsumer returns the durable consumer positioned to deliver gateway sequence next
// first. Only the lease holder calls it, so replacing a consumer never pulls it from under
// another router: no other router consumes while this one holds the lease.
func (r *Router) openConsumer(ctx context.Context, next uint64) (jetstream.Consumer, error) {
	want := r.consumerConfig()
	old, err := r.js.Consumer(ctx, r.cfg.Stream, r.cfg.Durable)
	switch {
	case errors.Is(err, jetstream.ErrConsumerNotFound):
		r.log.Warn("router: durable consumer missing; creating it at the recorded position", "durable", r.cfg.Durable, "next", next)
		if _, err := r.js.CreateConsumer(ctx, r.cfg.Stream, want); err != nil {
			return nil, fmt.Errorf("create consumer: %w", err)
		}
	case err != nil:
		return nil, fmt.Errorf("consumer: %w", err)
	default:
		have := old.CachedInfo().Config
		if !compatible(have, want) {
			if err := r.recreate(ctx, want); err != nil {
				return nil, err
			}
			break
		}
		// Keep the start the consumer was created with: the server refuses to change it.
		want.DeliverPolicy, want.OptStartSeq, want.OptStartTime = have.DeliverPolicy, have.OptStartSeq, have.OptStartTime
		if _, err := r.js.UpdateConsumer(ctx, r.cfg.Stream, want); err != nil {
			return nil, fmt.Errorf("update consumer: %w", err)
		}
	}
	if _, err := r.js.ResetConsumerToSequence(ctx, r.cfg.Stream, r.cfg.Durable, next); err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		// A server without consumer reset (before 2.14), or a consumer created at a later
		// start sequence: recreate it starting at next.
		r.log.Warn("router: consumer reset refused; recreating the consumer at the recorded position", "next", next, "err", err)
		want = r.consumerConfig()
		want.DeliverPolicy, want.OptStartSeq = jetstream.DeliverByStartSequencePolicy, next
		if err := r.recreate(ctx, want); err != nil {
			return nil, err
		}
	}
	return r.js.Consumer(ctx, r.cfg.Stream, r.cfg.Durable)
}

// recreate replaces the durable consumer with one configured as want.
func (r *Router) recreate(ctx context.Context, want jetstream.ConsumerConfig) error {
	if err := r.js.DeleteConsumer(ctx, r.cfg.Stream, r.cfg.Durable); err != nil && !errors.Is(err, jetstream.ErrConsumerNotFound) {
		return fmt.Errorf("replace consumer: %w", err)
	}
	if _, err := r.js.CreateConsumer(ctx, r.cfg.Stream, want); err != nil {
		return fmt.Errorf("replace consumer: %w", err)
	}
	return nil
}
