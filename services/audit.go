package services

import (
	"context"
	"errors"

	"github.com/arrakis/gaib/sandbox"
)

// Audit returns one page of a sandbox's audit trail, oldest first (owner or admin). It
// finds the sandbox by name or id, also after destroy; once the record itself is gone
// (past the retention) the trail is still there by id, and its first entry says whose
// sandbox it was.
func (s *Sandboxes) Audit(ctx context.Context, c Caller, req sandbox.AuditRequest) (sandbox.AuditResponse, error) {
	limit := req.Limit
	switch {
	case limit == 0:
		limit = sandbox.DefaultAuditLimit
	case limit < 0 || limit > sandbox.MaxAuditLimit:
		return sandbox.AuditResponse{}, sandbox.Errorf(sandbox.CodeInvalidRequest, "limit must be between 1 and %d", sandbox.MaxAuditLimit)
	}
	id, owner, err := s.auditTarget(ctx, req.Sandbox)
	if err != nil {
		return sandbox.AuditResponse{}, err
	}
	if !c.Admin() && c.Name != owner {
		return sandbox.AuditResponse{}, sandbox.Errorf(sandbox.CodeForbidden,
			"sandbox %q belongs to %s: only its owner or an admin may read its audit trail", req.Sandbox, owner)
	}
	entries, more, err := s.store.AuditTrail(ctx, id, req.After, limit)
	if err != nil {
		return sandbox.AuditResponse{}, err
	}
	return sandbox.AuditResponse{SandboxID: id, Entries: entries, More: more}, nil
}

// auditTarget is the id and owner of the sandbox whose trail ref asks for.
func (s *Sandboxes) auditTarget(ctx context.Context, ref string) (id, owner string, err error) {
	rec, err := s.ResolveAny(ctx, ref)
	if err == nil {
		return rec.ID, rec.Owner, nil
	}
	if !errors.Is(err, sandbox.ErrNotFound) || !sandbox.ValidID(ref) {
		return "", "", err
	}
	first, _, terr := s.store.AuditTrail(ctx, ref, 0, 1)
	if terr != nil {
		return "", "", terr
	}
	if len(first) > 0 {
		if r := first[0].After; r != nil {
			return ref, r.Owner, nil
		}
		if r := first[0].Before; r != nil {
			return ref, r.Owner, nil
		}
	}
	return "", "", sandbox.Errorf(sandbox.CodeNotFound, "no sandbox and no audit trail with id %q", ref)
}
