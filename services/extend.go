package services

import (
	"context"

	"github.com/arrakis/gaib/sandbox"
)

// Extend adds TTL to a running sandbox's expiry (owner or admin); the time left afterwards
// must stay within the server's maximum. Its NATS credential keeps its old expiry: connect
// again for one that lives as long as the sandbox.
func (s *Sandboxes) Extend(ctx context.Context, c Caller, req sandbox.ExtendRequest) (sandbox.Record, error) {
	ttl, err := sandbox.ParseTTL(req.TTL)
	if err != nil {
		return sandbox.Record{}, err
	}
	rec, err := s.Resolve(ctx, req.Sandbox)
	if err != nil {
		return rec, err
	}
	if err := authorize(c, rec, "extend"); err != nil {
		return sandbox.Record{}, err
	}
	before := rec
	rec, err = s.store.UpdateRecord(ctx, rec.ID, func(r *sandbox.Record) error {
		if r.Status != sandbox.StatusRunning {
			return sandbox.Errorf(sandbox.CodeWrongState, "sandbox %q is %s; only a running sandbox can be extended", r.Name, r.Status)
		}
		now := s.now()
		exp := r.ExpiresAt
		if exp.Before(now) {
			exp = now
		}
		exp = exp.Add(ttl)
		if left := exp.Sub(now); left > s.cfg.TTL.Max {
			return sandbox.Errorf(sandbox.CodeInvalidTTL,
				"extending by %s would leave %s to live; the maximum is %s (ttl must be between %s and %s)",
				sandbox.FormatTTL(ttl), sandbox.FormatTTL(left), sandbox.FormatTTL(s.cfg.TTL.Max),
				sandbox.FormatTTL(s.cfg.TTL.Min), sandbox.FormatTTL(s.cfg.TTL.Max))
		}
		r.ExpiresAt, r.UpdatedAt = exp, now
		return nil
	})
	if err != nil {
		return rec, err
	}
	s.audit(ctx, c.Name, "extend", &before, &rec)
	return rec, nil
}
