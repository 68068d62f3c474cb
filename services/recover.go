package services

import (
	"context"
	"errors"

	"github.com/arrakis/gaib/sandbox"
)

// recoverRecord finishes or undoes the work on sandbox id when its lease's holder died:
// an abandoned create is undone and an abandoned destroy finished (both by destroying it).
// It reports whether the sandbox was recovered (its name, slots and routes are free now).
func (s *Sandboxes) recoverRecord(ctx context.Context, id string) bool {
	rec, err := s.store.Record(ctx, id)
	if errors.Is(err, sandbox.ErrNotFound) {
		return false
	}
	if err != nil || !s.abandoned(ctx, rec.Lease) {
		return false
	}
	action := "recover-" + rec.Lease.Op
	s.log.Info("recovering abandoned work", "sandbox", id, "op", rec.Lease.Op, "holder", rec.Lease.Holder)
	_, err = s.destroy(ctx, rec, sandbox.ActorCleanup, action)
	return err == nil
}

// recoverName recovers the sandbox holding name if its create or destroy was abandoned.
func (s *Sandboxes) recoverName(ctx context.Context, name string) bool {
	id, err := s.store.LookupName(ctx, name)
	return err == nil && s.recoverRecord(ctx, id)
}

// recoverGuild recovers the sandbox holding guild if its create or destroy was abandoned.
func (s *Sandboxes) recoverGuild(ctx context.Context, guild string) bool {
	id, _, err := s.store.Route(ctx, guild)
	return err == nil && s.recoverRecord(ctx, id)
}

// recoverSlots recovers owner's sandboxes whose create or destroy was abandoned; it
// reports whether any slot was freed.
func (s *Sandboxes) recoverSlots(ctx context.Context, owner string) bool {
	slots, err := s.store.Slots(ctx)
	if err != nil {
		return false
	}
	freed := false
	for _, id := range slots[owner] {
		freed = s.recoverRecord(ctx, id) || freed
	}
	return freed
}
