package services

import (
	"context"
	"time"

	"github.com/arrakis/gaib/jetstream"
	"github.com/arrakis/gaib/sandbox"
)

// RevocationList is what the account JWTs are built from (it implements the source of
// auth.Publisher):
//   - the user keys revoked in the revocation bucket (identities an admin revoked), which
//     the gaib account JWT carries;
//   - the state of every sandbox's own account, derived from the records: live while the
//     sandbox is being created or runs, revoked (every credential issued before the time
//     it stopped running, and no connection at all) once it expired or is being or was
//     destroyed, until its last credential has expired. Nothing is written for it: the
//     record's status says it, so a crash cannot lose a revocation.
type RevocationList struct {
	Store *jetstream.Store
}

// Revocations returns every identity key still revoked, with its revocation time.
func (l RevocationList) Revocations(ctx context.Context) (map[string]time.Time, error) {
	return l.Store.Revocations(ctx)
}

// Sandboxes returns the sandboxes whose accounts the servers must know: id → when its
// credentials were revoked (zero while live).
func (l RevocationList) Sandboxes(ctx context.Context) (map[string]time.Time, error) {
	records, _, err := l.Store.Records(ctx)
	if err != nil {
		return nil, err
	}
	out := map[string]time.Time{}
	for _, r := range records {
		if at, ok := accountState(r, time.Now()); ok {
			out[r.ID] = at
		}
	}
	return out, nil
}

// accountState is the state of sandbox r's account: zero while it is live, else when its
// credentials were revoked; ok is false once nothing of it needs to be on the servers any
// more (its last credential has expired: a revoked account stays revoked there anyway).
func accountState(r sandbox.Record, now time.Time) (revokedAt time.Time, ok bool) {
	switch r.Status {
	case sandbox.StatusProvisioning, sandbox.StatusRunning:
		return time.Time{}, true
	}
	if r.ExpiresAt.Add(credentialGrace).Before(now) && r.Status == sandbox.StatusDestroyed {
		return time.Time{}, false
	}
	switch {
	case r.Status == sandbox.StatusExpired:
		return r.ExpiresAt, true
	case r.Lease != nil && r.Lease.Op == sandbox.LeaseDestroy:
		return r.Lease.Since, true
	case r.DestroyedAt != nil:
		return *r.DestroyedAt, true
	}
	return r.UpdatedAt, true
}

// Revoke records a revoked key in the revocation bucket.
func (l RevocationList) Revoke(ctx context.Context, pub string, at, until time.Time) error {
	return l.Store.Revoke(ctx, pub, at, until)
}

// AccountTarget is what keeps the servers' account JWTs in step (auth.Publisher).
type AccountTarget interface {
	// Apply records a change of the identity revocations.
	Apply(pub string, at time.Time, deleted bool)
	// ApplySandbox records the state of a sandbox's account.
	ApplySandbox(id string, revokedAt time.Time)
}

// Watch hands target every change as it happens, until ctx ends: the revocation bucket's
// changes, and each sandbox whose account state changes (created, destroyed on any
// instance).
func (l RevocationList) Watch(ctx context.Context, target AccountTarget) error {
	if err := l.Store.WatchRevocations(ctx, target.Apply); err != nil {
		return err
	}
	ids, err := l.Store.WatchRecordChanges(ctx)
	if err != nil {
		return err
	}
	go func() {
		for id := range ids {
			r, err := l.Store.Record(ctx, id)
			if err != nil {
				continue
			}
			if at, ok := accountState(r, time.Now()); ok {
				target.ApplySandbox(id, at)
			}
		}
	}()
	return nil
}
