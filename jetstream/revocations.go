package jetstream

import (
	"context"
	"encoding/json"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/arrakis/gaib/sandbox"
)

// revocation is the value of a revoked key: when it was revoked, and until when the
// revocation must stay in the account JWT (the expiry of the last credential issued for
// the key; zero: forever).
type revocation struct {
	At    time.Time `json:"at"`
	Until time.Time `json:"until,omitzero"`
}

// Revoke records that every credential of the NATS user key pub issued up to at is
// revoked, and keeps the entry until until (zero: forever). Revoking again keeps the later
// time and the later end.
func (s *Store) Revoke(ctx context.Context, pub string, at, until time.Time) error {
	_, err := casUpdate(ctx, s.revocations, pub, func(old []byte) ([]byte, error) {
		r := revocation{At: at.UTC().Truncate(time.Second), Until: until.UTC()}
		var prev revocation
		if old != nil && json.Unmarshal(old, &prev) == nil {
			if prev.At.After(r.At) {
				r.At = prev.At
			}
			if prev.Until.IsZero() || (!r.Until.IsZero() && prev.Until.After(r.Until)) {
				r.Until = prev.Until
			}
		}
		return json.Marshal(r)
	})
	return err
}

// Revocations returns every key still revoked (whose entry has not run out), with its
// revocation time. It implements auth.Revocations.
func (s *Store) Revocations(ctx context.Context) (map[string]time.Time, error) {
	raw, err := allValues(ctx, s.revocations)
	if err != nil {
		return nil, err
	}
	now := time.Now()
	out := make(map[string]time.Time, len(raw))
	for pub, v := range raw {
		var r revocation
		if err := json.Unmarshal([]byte(v), &r); err != nil {
			return nil, sandbox.Errorf(sandbox.CodeInternal, "revocation %s is corrupt", pub)
		}
		if r.Until.IsZero() || r.Until.After(now) {
			out[pub] = r.At
		}
	}
	return out, nil
}

// PruneRevocations deletes the entries whose credentials have all expired: the servers
// refuse those credentials anyway, and the account JWT stays small.
func (s *Store) PruneRevocations(ctx context.Context) (int, error) {
	raw, err := allValues(ctx, s.revocations)
	if err != nil {
		return 0, err
	}
	n := 0
	for pub, v := range raw {
		var r revocation
		if json.Unmarshal([]byte(v), &r) == nil && !r.Until.IsZero() && r.Until.Before(time.Now()) {
			if err := s.revocations.Delete(ctx, pub); err != nil {
				return n, err
			}
			n++
		}
	}
	return n, nil
}

// WatchRevocations calls fn with every change of the revocation list from now on (the key
// revoked and when, or deleted), until ctx ends; it returns when the watch is set up. The
// account publisher applies them to its copy of the list.
func (s *Store) WatchRevocations(ctx context.Context, fn func(pub string, at time.Time, deleted bool)) error {
	w, err := s.revocations.WatchAll(ctx, jetstream.UpdatesOnly())
	if err != nil {
		return err
	}
	go func() {
		defer func() { _ = w.Stop() }()
		for {
			select {
			case <-ctx.Done():
				return
			case e, ok := <-w.Updates():
				if !ok {
					return
				}
				if e == nil {
					continue
				}
				var r revocation
				deleted := e.Operation() != jetstream.KeyValuePut || json.Unmarshal(e.Value(), &r) != nil ||
					(!r.Until.IsZero() && r.Until.Before(time.Now()))
				fn(e.Key(), r.At, deleted)
			}
		}
	}()
	return nil
}
