package jetstream

import (
	"context"
	"errors"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/arrakis/gaib/sandbox"
)

// ClaimRoute atomically routes guild to sandbox id (pending: reserved for it, not yet
// active) and returns the route's revision. Exactly one of concurrent claims of a guild
// wins; the others get an error matching sandbox.ErrGuildTaken. Claiming a guild id already
// holds succeeds (and activates it when the claim is active).
func (s *Store) ClaimRoute(ctx context.Context, guild, id string, pending bool) (uint64, error) {
	want := sandbox.RouteValue(id, pending)
	return casUpdate(ctx, s.routes, guild, func(old []byte) ([]byte, error) {
		if old == nil {
			return []byte(want), nil
		}
		holder, active, _ := sandbox.ParseRouteValue(string(old))
		switch {
		case holder != id:
			return nil, sandbox.Errorf(sandbox.CodeGuildTaken, "guild %s is registered to another sandbox", guild)
		case active || pending:
			return nil, errUnchanged
		}
		return []byte(want), nil
	})
}

// ActivateRoute turns guild's pending route for id into an active one: from then on the
// routers send the guild's events to the sandbox. Activating an active route succeeds.
func (s *Store) ActivateRoute(ctx context.Context, guild, id string) (uint64, error) {
	return s.ClaimRoute(ctx, guild, id, false)
}

// ReleaseRoute removes guild's route (pending or active) if it is id's, and returns the
// revision of the bucket after the change (0 when there was nothing to remove).
func (s *Store) ReleaseRoute(ctx context.Context, guild, id string) (uint64, error) {
	removed := false
	if _, err := casUpdate(ctx, s.routes, guild, func(old []byte) ([]byte, error) {
		if holder, _, ok := sandbox.ParseRouteValue(string(old)); !ok || holder != id {
			return nil, errUnchanged
		}
		removed = true
		return nil, errDelete
	}); err != nil || !removed {
		return 0, err
	}
	return s.RoutesRevision(ctx)
}

// Route returns the sandbox id guild is reserved for and whether its route is active, or
// an error matching sandbox.ErrNotFound.
func (s *Store) Route(ctx context.Context, guild string) (id string, active bool, err error) {
	e, err := s.routes.Get(ctx, guild)
	if errors.Is(err, jetstream.ErrKeyNotFound) || errors.Is(err, jetstream.ErrInvalidKey) {
		return "", false, sandbox.Errorf(sandbox.CodeNotFound, "guild %s is not registered", guild)
	}
	if err != nil {
		return "", false, err
	}
	id, active, _ = sandbox.ParseRouteValue(string(e.Value()))
	return id, active, nil
}

// Routes returns the whole route table: guild → the sandbox id it is reserved for
// (pending or active).
func (s *Store) Routes(ctx context.Context) (map[string]string, error) {
	raw, err := allValues(ctx, s.routes)
	if err != nil {
		return nil, err
	}
	for g, v := range raw {
		id, _, _ := sandbox.ParseRouteValue(v)
		raw[g] = id
	}
	return raw, nil
}

// RoutesTo returns every guild reserved for sandbox id (pending or active), whatever its
// record says: teardown removes them all, so no route outlives its sandbox.
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
