package jetstream

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"

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
	// The entry's own id makes a retried publish store it once.
	id := fmt.Sprintf("%s.%s.%d", e.SandboxID, e.Action, e.At.UnixNano())
	return retryErr(ctx, func() error {
		_, err := s.js.Publish(ctx, sandbox.AuditSubject(e.SandboxID, e.Action), b, jetstream.WithMsgID(id))
		return err
	})
}
