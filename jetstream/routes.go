package jetstream

import (
	"context"
	"errors"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/arrakis/gaib/sandbox"
)

// ClaimRoute atomically routes guild to sandbox id and returns the route's revision.
// Exactly one of concurrent claims of a guild wins; the others get an error matching
// sandbox.ErrGuildTaken. Claiming a guild id already holds succeeds.
func (s *Store) ClaimRoute(ctx context.Context, guild, id string) (uint64, error) {
	return casUpdate(ctx, s.routes, guild, func(old []byte) ([]byte, error) {
		switch {
		case old == nil:
			return []byte(id), nil
		case string(old) == id:
			return nil, errUnchanged
		default:
			return nil, sandbox.Errorf(sandbox.CodeGuildTaken,
				"guild %s is registered to another sandbox", guild)
		}
	})
}

// ReleaseRoute removes guild's route if it still points at id and returns the revision
// of the bucket after the change (0 when there was nothing to remove).
func (s *Store) ReleaseRoute(ctx context.Context, guild, id string) (uint64, error) {
	if _, err := casUpdate(ctx, s.routes, guild, func(old []byte) ([]byte, error) {
		if string(old) != id {
			return nil, errUnchanged
		}
		return nil, errDelete
	}); err != nil {
		return 0, err
	}
	return s.RoutesRevision(ctx)
}

// Route returns the sandbox id guild is routed to, or an error matching
// sandbox.ErrNotFound.
func (s *Store) Route(ctx context.Context, guild string) (string, error) {
	e, err := s.routes.Get(ctx, guild)
	if errors.Is(err, jetstream.ErrKeyNotFound) || errors.Is(err, jetstream.ErrInvalidKey) {
		return "", sandbox.Errorf(sandbox.CodeNotFound, "guild %s is not registered", guild)
	}
	if err != nil {
		return "", err
	}
	return string(e.Value()), nil
}

// Routes returns the whole route table (guild → sandbox id).
func (s *Store) Routes(ctx context.Context) (map[string]string, error) {
	return allValues(ctx, s.routes)
}

// RoutesBucket is the route table's bucket, for routers that watch it.
func (s *Store) RoutesBucket() jetstream.KeyValue { return s.routes }

// RoutesRevision returns the last sequence of the route bucket's stream: a router that
// has applied this revision has seen every route change made so far.
func (s *Store) RoutesRevision(ctx context.Context) (uint64, error) {
	st, err := s.routes.Status(ctx)
	if err != nil {
		return 0, err
	}
	if b, ok := st.(*jetstream.KeyValueBucketStatus); ok {
		return b.StreamInfo().State.LastSeq, nil
	}
	return 0, errors.New("route bucket status has no stream info")
}

// RoutesTo returns every guild routed to sandbox id, whatever its record says (teardown
// removes them all, so no route outlives its sandbox).
func (s *Store) RoutesTo(ctx context.Context, id string) ([]string, error) {
	all, err := s.Routes(ctx)
	if err != nil {
		return nil, err
	}
	var out []string
	for g, to := range all {
		if to == id {
			out = append(out, g)
		}
	}
	return out, nil
}
