package jetstream

import (
	"context"
	"errors"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/arrakis/gaib/sandbox"
)

// ReserveName atomically binds name to id. Exactly one of any number of concurrent
// reservations of a name succeeds; the others get an error matching sandbox.ErrNameTaken.
func (s *Store) ReserveName(ctx context.Context, name, id string) error {
	_, err := s.names.Create(ctx, name, []byte(id))
	if errors.Is(err, jetstream.ErrKeyExists) {
		return sandbox.Errorf(sandbox.CodeNameTaken, "sandbox name %q is taken", name)
	}
	return err
}

// LookupName returns the id bound to name, or an error matching sandbox.ErrNotFound.
func (s *Store) LookupName(ctx context.Context, name string) (string, error) {
	e, err := s.names.Get(ctx, name)
	if errors.Is(err, jetstream.ErrKeyNotFound) || errors.Is(err, jetstream.ErrInvalidKey) {
		return "", sandbox.Errorf(sandbox.CodeNotFound, "no sandbox named %q", name)
	}
	if err != nil {
		return "", err
	}
	return string(e.Value()), nil
}

// ReleaseName frees name if it is still bound to id, so a newer sandbox that took the name
// meanwhile keeps it.
func (s *Store) ReleaseName(ctx context.Context, name, id string) error {
	_, err := casUpdate(ctx, s.names, name, func(old []byte) ([]byte, error) {
		if string(old) != id {
			return nil, errUnchanged
		}
		return nil, errDelete
	})
	return err
}

// Names returns the whole name index (name → id).
func (s *Store) Names(ctx context.Context) (map[string]string, error) {
	return allValues(ctx, s.names)
}

// allValues reads every key of a small bucket.
func allValues(ctx context.Context, kv jetstream.KeyValue) (map[string]string, error) {
	w, err := kv.WatchAll(ctx, jetstream.IgnoreDeletes())
	if err != nil {
		return nil, err
	}
	defer func() { _ = w.Stop() }()
	out := map[string]string{}
	for e := range w.Updates() {
		if e == nil {
			break
		}
		out[e.Key()] = string(e.Value())
	}
	return out, nil
}
