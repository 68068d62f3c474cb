package jetstream

import (
	"context"
	"encoding/json"
	"errors"
	"sort"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/arrakis/gaib/sandbox"
)

// CreateToken stores a new bearer token under its id; an id in use gives name_taken.
func (s *Store) CreateToken(ctx context.Context, t sandbox.Token) error {
	b, err := json.Marshal(t)
	if err != nil {
		return err
	}
	_, err = s.tokens.Create(ctx, t.ID, b)
	if errors.Is(err, jetstream.ErrKeyExists) {
		return sandbox.Errorf(sandbox.CodeNameTaken, "token id %s is in use", t.ID)
	}
	return err
}

// Token returns a bearer token by id, or an error matching sandbox.ErrNotFound.
func (s *Store) Token(ctx context.Context, id string) (sandbox.Token, error) {
	if !sandbox.ValidTokenID(id) {
		return sandbox.Token{}, sandbox.Errorf(sandbox.CodeNotFound, "no token %q", id)
	}
	e, err := s.tokens.Get(ctx, id)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return sandbox.Token{}, sandbox.Errorf(sandbox.CodeNotFound, "no token %q", id)
	}
	if err != nil {
		return sandbox.Token{}, err
	}
	return decodeToken(id, e.Value())
}

// Tokens returns the tokens issued to identity, oldest first.
func (s *Store) Tokens(ctx context.Context, identity string) ([]sandbox.Token, error) {
	raw, err := allValues(ctx, s.tokens)
	if err != nil {
		return nil, err
	}
	out := []sandbox.Token{}
	for id, v := range raw {
		t, err := decodeToken(id, []byte(v))
		if err != nil {
			return nil, err
		}
		if t.Identity == identity {
			out = append(out, t)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].CreatedAt.Before(out[j].CreatedAt) })
	return out, nil
}

// DeleteToken removes a bearer token: it stops working at once.
func (s *Store) DeleteToken(ctx context.Context, id string) error {
	return s.tokens.Purge(ctx, id)
}

func decodeToken(id string, b []byte) (sandbox.Token, error) {
	var t sandbox.Token
	if err := json.Unmarshal(b, &t); err != nil || t.ID != id {
		return t, sandbox.Errorf(sandbox.CodeInternal, "token record %s is corrupt", id)
	}
	return t, nil
}
