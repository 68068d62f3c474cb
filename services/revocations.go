package services

import (
	"context"
	"time"

	"github.com/arrakis/gaib/jetstream"
	"github.com/arrakis/gaib/sandbox"
)

// RevocationList is the list of revoked NATS user keys the account JWT carries (it
// implements the source of auth.Publisher):
//   - the keys revoked in the revocation bucket (identities revoked by an admin, and
//     sandboxes whose record was dropped before their last credential expired);
//   - the key of every sandbox being or already destroyed, derived from its id, until its
//     last credential expires. Nothing is written for it: the record's status says it,
//     so a destroy costs no extra write and a crash cannot lose a revocation.
type RevocationList struct {
	Store  *jetstream.Store
	Issuer Issuer
}

// Revocations returns every key still revoked, with its revocation time.
func (l RevocationList) Revocations(ctx context.Context) (map[string]time.Time, error) {
	out, err := l.Store.Revocations(ctx)
	if err != nil {
		return nil, err
	}
	records, _, err := l.Store.Records(ctx)
	if err != nil {
		return nil, err
	}
	for _, r := range records {
		if pub, at, ok := l.sandboxRevocation(r); ok {
			out[pub] = at
		}
	}
	return out, nil
}

// sandboxRevocation is the revocation a sandbox's record implies, if any.
func (l RevocationList) sandboxRevocation(r sandbox.Record) (pub string, at time.Time, ok bool) {
	if r.Status != sandbox.StatusDestroying && r.Status != sandbox.StatusDestroyed {
		return "", time.Time{}, false
	}
	if r.ExpiresAt.Add(credentialGrace).Before(time.Now()) {
		return "", time.Time{}, false // its credentials have all expired
	}
	pub, err := l.Issuer.SandboxKey(r.ID)
	return pub, r.UpdatedAt, err == nil
}

// Revoke records a revoked key in the revocation bucket.
func (l RevocationList) Revoke(ctx context.Context, pub string, at, until time.Time) error {
	return l.Store.Revoke(ctx, pub, at, until)
}

// Watch calls apply with each revocation as it happens, until ctx ends: the bucket's
// changes, and each sandbox that starts being destroyed.
func (l RevocationList) Watch(ctx context.Context, apply func(pub string, at time.Time, deleted bool)) error {
	if err := l.Store.WatchRevocations(ctx, apply); err != nil {
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
			if pub, at, ok := l.sandboxRevocation(r); ok {
				apply(pub, at, false)
			}
		}
	}()
	return nil
}
