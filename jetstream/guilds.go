package jetstream

import (
	"context"
	"encoding/json"
	"errors"
	"sort"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/arrakis/gaib/sandbox"
)

// AllowGuild puts a guild on the allow-list (replacing its entry).
func (s *Store) AllowGuild(ctx context.Context, g sandbox.AllowedGuild) error {
	b, err := json.Marshal(g)
	if err != nil {
		return err
	}
	_, err = s.guilds.Put(ctx, g.Guild, b)
	return err
}

// DenyGuild takes a guild off the allow-list; it reports whether it was there.
func (s *Store) DenyGuild(ctx context.Context, guild string) (bool, error) {
	if _, err := s.AllowedGuild(ctx, guild); err != nil {
		if errors.Is(err, sandbox.ErrNotFound) {
			return false, nil
		}
		return false, err
	}
	return true, s.guilds.Delete(ctx, guild)
}

// AllowedGuild returns a guild's allow-list entry, or an error matching sandbox.ErrNotFound.
func (s *Store) AllowedGuild(ctx context.Context, guild string) (sandbox.AllowedGuild, error) {
	e, err := s.guilds.Get(ctx, guild)
	if errors.Is(err, jetstream.ErrKeyNotFound) || errors.Is(err, jetstream.ErrInvalidKey) {
		return sandbox.AllowedGuild{}, sandbox.Errorf(sandbox.CodeNotFound, "guild %s is not on the allow-list", guild)
	}
	if err != nil {
		return sandbox.AllowedGuild{}, err
	}
	var g sandbox.AllowedGuild
	if err := json.Unmarshal(e.Value(), &g); err != nil {
		return g, sandbox.Errorf(sandbox.CodeInternal, "allow-list entry %s is corrupt", guild)
	}
	return g, nil
}

// AllowedGuilds returns the allow-list, by guild id.
func (s *Store) AllowedGuilds(ctx context.Context) ([]sandbox.AllowedGuild, error) {
	raw, err := allValues(ctx, s.guilds)
	if err != nil {
		return nil, err
	}
	out := make([]sandbox.AllowedGuild, 0, len(raw))
	for key, v := range raw {
		var g sandbox.AllowedGuild
		if err := json.Unmarshal([]byte(v), &g); err != nil {
			return nil, sandbox.Errorf(sandbox.CodeInternal, "allow-list entry %s is corrupt", key)
		}
		out = append(out, g)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Guild < out[j].Guild })
	return out, nil
}
