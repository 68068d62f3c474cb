package jetstream

import (
	"context"
	"encoding/json"
	"errors"
	"sort"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/arrakis/gaib/sandbox"
)

// CreateUser adds an identity; exactly one of concurrent creations of a name wins, the
// others get name_taken. A revoked identity is replaced (its keys stay revoked).
func (s *Store) CreateUser(ctx context.Context, u sandbox.User) error {
	_, err := casUpdate(ctx, s.users, u.Name, func(old []byte) ([]byte, error) {
		if old != nil {
			prev, err := decodeUser(u.Name, old)
			if err != nil {
				return nil, err
			}
			if prev.Active() {
				return nil, sandbox.Errorf(sandbox.CodeNameTaken, "identity %q exists: revoke it first to issue a new credential", u.Name)
			}
		}
		return json.Marshal(u)
	})
	return err
}

// User returns an identity, or an error matching sandbox.ErrNotFound.
func (s *Store) User(ctx context.Context, name string) (sandbox.User, error) {
	if err := sandbox.ValidateIdentity(name); err != nil {
		return sandbox.User{}, sandbox.Errorf(sandbox.CodeNotFound, "no identity %q", name)
	}
	e, err := s.users.Get(ctx, name)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return sandbox.User{}, sandbox.Errorf(sandbox.CodeNotFound, "no identity %q", name)
	}
	if err != nil {
		return sandbox.User{}, err
	}
	return decodeUser(name, e.Value())
}

// UpdateUser applies fn to an identity by compare-and-swap.
func (s *Store) UpdateUser(ctx context.Context, name string, fn func(*sandbox.User) error) (sandbox.User, error) {
	var out sandbox.User
	_, err := casUpdate(ctx, s.users, name, func(old []byte) ([]byte, error) {
		if old == nil {
			return nil, sandbox.Errorf(sandbox.CodeNotFound, "no identity %q", name)
		}
		u, err := decodeUser(name, old)
		if err != nil {
			return nil, err
		}
		if err := fn(&u); err != nil {
			return nil, err
		}
		out = u
		return json.Marshal(u)
	})
	return out, err
}

// Users returns every identity, by name.
func (s *Store) Users(ctx context.Context) ([]sandbox.User, error) {
	raw, err := allValues(ctx, s.users)
	if err != nil {
		return nil, err
	}
	out := make([]sandbox.User, 0, len(raw))
	for name, v := range raw {
		u, err := decodeUser(name, []byte(v))
		if err != nil {
			return nil, err
		}
		out = append(out, u)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

func decodeUser(name string, b []byte) (sandbox.User, error) {
	var u sandbox.User
	if err := json.Unmarshal(b, &u); err != nil || u.Name != name {
		return u, sandbox.Errorf(sandbox.CodeInternal, "identity record %s is corrupt", name)
	}
	return u, nil
}
