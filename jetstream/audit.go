package jetstream

import (
	"context"
	"encoding/json"
	"time"

	"github.com/arrakis/gaib/sandbox"
)

// AuditEntry is one change, as stored in the audit stream (the wire type lives in sandbox).
type AuditEntry = sandbox.AuditEntry

// Audit stores e in the audit stream (gaib.audit.<id>.<action>) and waits for the ack.
func (s *Store) Audit(ctx context.Context, e AuditEntry) error {
	if e.At.IsZero() {
		e.At = time.Now().UTC()
	}
	b, err := json.Marshal(e)
	if err != nil {
		return err
	}
	_, err = s.js.Publish(ctx, sandbox.AuditSubject(e.SandboxID, e.Action), b)
	return err
}
