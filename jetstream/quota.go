package jetstream

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"slices"

	"github.com/arrakis/gaib/sandbox"
)

// ownerSlots is the value of an owner's key: the ids of its sandboxes not destroyed.
type ownerSlots struct {
	IDs []string `json:"ids"`
}

// ownerKey encodes an owner into a valid KV key (owners may contain '@').
func ownerKey(owner string) string { return base64.RawURLEncoding.EncodeToString([]byte(owner)) }

// AcquireSlot takes one of owner's max slots for id by compare-and-swap on the owner's key,
// so that concurrent creates by one owner never exceed max. Taking a slot id already holds
// succeeds.
func (s *Store) AcquireSlot(ctx context.Context, owner, id string, max int) error {
	_, err := casUpdate(ctx, s.owners, ownerKey(owner), func(old []byte) ([]byte, error) {
		slots, err := decodeSlots(old)
		if err != nil {
			return nil, err
		}
		if slices.Contains(slots.IDs, id) {
			return nil, errUnchanged
		}
		if len(slots.IDs) >= max {
			return nil, sandbox.Errorf(sandbox.CodeQuotaExceeded,
				"owner %q already has %d sandboxes (the limit is %d): destroy one first", owner, len(slots.IDs), max)
		}
		slots.IDs = append(slots.IDs, id)
		return json.Marshal(slots)
	})
	return err
}

// ReleaseSlot gives id's slot back to owner; releasing a slot not held is a no-op.
func (s *Store) ReleaseSlot(ctx context.Context, owner, id string) error {
	_, err := casUpdate(ctx, s.owners, ownerKey(owner), func(old []byte) ([]byte, error) {
		slots, err := decodeSlots(old)
		if err != nil {
			return nil, err
		}
		i := slices.Index(slots.IDs, id)
		if i < 0 {
			return nil, errUnchanged
		}
		slots.IDs = slices.Delete(slots.IDs, i, i+1)
		if len(slots.IDs) == 0 {
			return nil, errDelete
		}
		return json.Marshal(slots)
	})
	return err
}

func decodeSlots(b []byte) (ownerSlots, error) {
	var s ownerSlots
	if b == nil {
		return s, nil
	}
	err := json.Unmarshal(b, &s)
	return s, err
}

// Slots returns every owner's quota slots (owner → sandbox ids).
func (s *Store) Slots(ctx context.Context) (map[string][]string, error) {
	raw, err := allValues(ctx, s.owners)
	if err != nil {
		return nil, err
	}
	out := make(map[string][]string, len(raw))
	for key, v := range raw {
		owner, err := base64.RawURLEncoding.DecodeString(key)
		if err != nil {
			continue // not a key this package wrote
		}
		slots, err := decodeSlots([]byte(v))
		if err != nil {
			return nil, err
		}
		out[string(owner)] = slots.IDs
	}
	return out, nil
}

// meshPool is the quota key of the mesh-wide sandbox limit; "*" is never an identity.
const meshPool = "*"

// AcquireMeshSlot takes one of the mesh's max sandbox slots for id (compare-and-swap, so
// concurrent creates never exceed max). Taking a slot id already holds succeeds.
func (s *Store) AcquireMeshSlot(ctx context.Context, id string, max int) error {
	err := s.AcquireSlot(ctx, meshPool, id, max)
	if errors.Is(err, sandbox.ErrQuotaExceeded) {
		return sandbox.Errorf(sandbox.CodeQuotaExceeded,
			"the mesh already holds %d sandboxes, its limit (--max-sandboxes, sized so their database connections fit): try again after one is destroyed", max)
	}
	return err
}

// ReleaseMeshSlot gives id's mesh-wide slot back.
func (s *Store) ReleaseMeshSlot(ctx context.Context, id string) error {
	return s.ReleaseSlot(ctx, meshPool, id)
}
