package jetstream

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/arrakis/gaib/sandbox"
)

// SandboxConfig returns sandbox id's config: an empty one (Revision 0) when it has none.
func (s *Store) SandboxConfig(ctx context.Context, id string) (sandbox.Config, error) {
	if !sandbox.ValidID(id) {
		return sandbox.Config{}, sandbox.Errorf(sandbox.CodeInvalidID, "%.40q is not a sandbox id", id)
	}
	e, err := s.config.Get(ctx, id)
	switch {
	case errors.Is(err, jetstream.ErrKeyNotFound):
		return sandbox.Config{SandboxID: id, Vars: []sandbox.ConfigVar{}}, nil
	case err != nil:
		return sandbox.Config{}, err
	}
	return decodeConfig(id, e)
}

// UpdateSandboxConfig applies fn to sandbox id's config and stores the result by compare-and-swap,
// calling fn again on a fresh copy when another writer got there first; fn reports whether
// it changed anything (nothing is written when not). It creates the config only when the
// key never held one: a config removed with its sandbox (DeleteSandboxConfig leaves a marker) is
// never brought back by a change that raced with the destroy, which gets wrong_state.
func (s *Store) UpdateSandboxConfig(ctx context.Context, id string, fn func(*sandbox.Config) (bool, error)) (sandbox.Config, error) {
	if !sandbox.ValidID(id) {
		return sandbox.Config{}, sandbox.Errorf(sandbox.CodeInvalidID, "%.40q is not a sandbox id", id)
	}
	createRefused := false
	for range maxCASAttempts {
		cfg, err := s.SandboxConfig(ctx, id)
		if err != nil {
			return cfg, err
		}
		if cfg.Revision == 0 && createRefused {
			return sandbox.Config{}, sandbox.Errorf(sandbox.CodeWrongState, "the config of sandbox %s was removed with it", id)
		}
		changed, err := fn(&cfg)
		if err != nil || !changed {
			return cfg, err
		}
		b, err := encodeConfig(cfg)
		if err != nil {
			return cfg, err
		}
		// Revision 0 asks that the key hold no message at all, not even a removal marker.
		rev, err := s.config.Update(ctx, id, b, cfg.Revision)
		if err == nil {
			cfg.Revision = rev
			return cfg, nil
		}
		if !isConflict(err) {
			return cfg, err
		}
		createRefused = cfg.Revision == 0
	}
	return sandbox.Config{}, errors.New("compare-and-swap: too much contention on the config of " + id)
}

// DeleteSandboxConfig removes sandbox id's config for good: the marker it leaves keeps
// UpdateSandboxConfig from creating it again. It is idempotent.
func (s *Store) DeleteSandboxConfig(ctx context.Context, id string) error {
	if !sandbox.ValidID(id) {
		return sandbox.Errorf(sandbox.CodeInvalidID, "%.40q is not a sandbox id: refusing to delete its config", id)
	}
	return s.config.Purge(ctx, id)
}

// SandboxConfigKeys returns, for every sandbox id with a config, its keys: what orphan detection
// compares with the records.
func (s *Store) SandboxConfigKeys(ctx context.Context) (map[string][]string, error) {
	raw, err := allValues(ctx, s.config)
	if err != nil {
		return nil, err
	}
	out := make(map[string][]string, len(raw))
	for id, v := range raw {
		var cfg sandbox.Config
		_ = json.Unmarshal([]byte(v), &cfg) // a corrupt config is still an id holding one
		keys := make([]string, 0, len(cfg.Vars))
		for _, cv := range cfg.Vars {
			keys = append(keys, cv.Key)
		}
		out[id] = keys
	}
	return out, nil
}

// decodeConfig reads a stored config and checks that it is the valid config of its key.
func decodeConfig(id string, e jetstream.KeyValueEntry) (sandbox.Config, error) {
	var cfg sandbox.Config
	if err := json.Unmarshal(e.Value(), &cfg); err != nil {
		return sandbox.Config{}, sandbox.Errorf(sandbox.CodeInternal, "config of %s is corrupt: %v", id, err)
	}
	if err := cfg.Validate(id); err != nil {
		return sandbox.Config{}, err
	}
	if cfg.Vars == nil {
		cfg.Vars = []sandbox.ConfigVar{}
	}
	cfg.Revision = e.Revision()
	return cfg, nil
}

// encodeConfig is the stored form: JSON without HTML escaping, so a value takes at most
// about twice its length.
func encodeConfig(cfg sandbox.Config) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(cfg); err != nil {
		return nil, err
	}
	return bytes.TrimSpace(b.Bytes()), nil
}
