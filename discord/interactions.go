package discord

import (
	"context"
	"encoding/json"
	"errors"
	"strconv"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/arrakis/gaib/sandbox"
)

// interactionLifetime is how long Discord accepts follow-ups with an interaction token,
// and so how long the interactions bucket keeps an entry (bucket MaxAge: a per-key TTL
// would be lost by the compare-and-swap updates).
const interactionLifetime = 15 * time.Minute

// answerWindow is how long Discord waits for the first answer to an interaction.
const answerWindow = 3 * time.Second

// States of an interaction routed to a sandbox. pending → answered (the worker's callback
// came through the proxy) or pending → guarded (the deadline guard answered); each move
// is a compare-and-swap on the entry, so exactly one of them happens.
const (
	statePending  = "pending"
	stateAnswered = "answered"
	stateGuarded  = "guarded"
)

// Interaction types that matter to the guard: Discord only accepts a type 8 answer for an
// autocomplete, so the guard leaves those alone; PING never comes over the gateway.
const (
	interactionPing         = 1
	interactionAutocomplete = 4
)

// interaction is an entry of the interactions bucket, keyed by the hash of its token.
type interaction struct {
	Sandbox       string    `json:"sandbox"`
	ID            string    `json:"id"`
	ApplicationID string    `json:"application_id"`
	Token         string    `json:"token"`
	Type          int       `json:"type"`
	Created       time.Time `json:"created"`
	Due           time.Time `json:"due"`
	State         string    `json:"state"`
}

// guarded reports whether the deadline guard watches this interaction.
func (ix interaction) guarded() bool {
	return ix.Type != interactionPing && ix.Type != interactionAutocomplete
}

// snowflakeEpoch is Discord's epoch (2015-01-01T00:00:00Z) in Unix milliseconds.
const snowflakeEpoch = 1420070400000

// snowflakeTime is the creation time encoded in a Discord id.
func snowflakeTime(id string) (time.Time, bool) {
	n, err := strconv.ParseUint(id, 10, 64)
	if err != nil {
		return time.Time{}, false
	}
	return time.UnixMilli(int64(n>>22) + snowflakeEpoch), true
}

// parseInteraction reads an interaction routed to sandbox id: a raw INTERACTION_CREATE
// dispatch ({"t","d":{…}}) or an Arrakis envelope ({"event_type","data":{…}}).
func parseInteraction(sandboxID string, payload []byte) (interaction, bool) {
	obj, _, ok := eventObject(payload)
	if !ok {
		return interaction{}, false
	}
	var d struct {
		ID            string `json:"id"`
		ApplicationID string `json:"application_id"`
		Token         string `json:"token"`
		Type          int    `json:"type"`
	}
	if json.Unmarshal(obj, &d) != nil || !snowflake(d.ID) || !snowflake(d.ApplicationID) || !tokenShaped(d.Token) {
		return interaction{}, false
	}
	return interaction{Sandbox: sandboxID, ID: d.ID, ApplicationID: d.ApplicationID, Token: d.Token, Type: d.Type, State: statePending}, true
}

// interactions is the interactions bucket.
type interactions struct {
	kv    jetstream.KeyValue
	clock Clock
}

// errNoInteraction: no interaction routed to a sandbox has this token (any more).
var errNoInteraction = errors.New("no interaction routed to a sandbox has this token")

// record stores a newly routed interaction; every instance observing it tries, the first
// one creates it. It reports whether this call created it.
func (s *interactions) record(ctx context.Context, ix interaction) (bool, error) {
	b, err := json.Marshal(ix)
	if err != nil {
		return false, err
	}
	_, err = s.kv.Create(ctx, sandbox.DiscordInteractionKey(ix.Token), b)
	if errors.Is(err, jetstream.ErrKeyExists) {
		return false, nil
	}
	return err == nil, err
}

// lookupWaits are the pauses between reads of an interaction not (yet) in the bucket: the
// worker may call back before the proxy instance that observed the interaction has stored
// it (they receive it at the same moment).
var lookupWaits = []time.Duration{5 * time.Millisecond, 10 * time.Millisecond, 25 * time.Millisecond, 50 * time.Millisecond, 100 * time.Millisecond}

// get returns the interaction with token and its revision, waiting briefly for it.
func (s *interactions) get(ctx context.Context, token string) (interaction, uint64, error) {
	key := sandbox.DiscordInteractionKey(token)
	for attempt := 0; ; attempt++ {
		e, err := s.kv.Get(ctx, key)
		switch {
		case err == nil:
			var ix interaction
			if err := json.Unmarshal(e.Value(), &ix); err != nil || ix.Token != token {
				return interaction{}, 0, errNoInteraction
			}
			return ix, e.Revision(), nil
		case !errors.Is(err, jetstream.ErrKeyNotFound):
			return interaction{}, 0, err
		case attempt == len(lookupWaits):
			return interaction{}, 0, errNoInteraction
		}
		select {
		case <-time.After(lookupWaits[attempt]):
		case <-ctx.Done():
			return interaction{}, 0, ctx.Err()
		}
	}
}

// maxTransitionAttempts bounds the compare-and-swap retries of one transition; only two
// writers (callback and guard) ever race on an entry.
const maxTransitionAttempts = 16

// transition moves the interaction with token from pending to state, atomically. It
// returns the state the entry was in: pending means this call made the move; anything
// else means another writer decided first and nothing was written.
func (s *interactions) transition(ctx context.Context, token, state string) (interaction, error) {
	key := sandbox.DiscordInteractionKey(token)
	for range maxTransitionAttempts {
		e, err := s.kv.Get(ctx, key)
		if errors.Is(err, jetstream.ErrKeyNotFound) {
			return interaction{}, errNoInteraction
		}
		if err != nil {
			return interaction{}, err
		}
		var ix interaction
		if err := json.Unmarshal(e.Value(), &ix); err != nil {
			return interaction{}, err
		}
		if ix.State != statePending {
			return ix, nil
		}
		next := ix
		next.State = state
		b, err := json.Marshal(next)
		if err != nil {
			return interaction{}, err
		}
		if _, err := s.kv.Update(ctx, key, b, e.Revision()); err == nil {
			return ix, nil
		} else if !errors.Is(err, jetstream.ErrKeyExists) && !errors.Is(err, jetstream.ErrKeyRevisionMismatch) {
			return interaction{}, err
		}
	}
	return interaction{}, errors.New("interaction state: too much contention")
}
