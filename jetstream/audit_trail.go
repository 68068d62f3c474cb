package jetstream

import (
	"context"
	"encoding/json"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/arrakis/gaib/sandbox"
)

// auditPageBytes bounds one page of an audit trail, so that it fits in one NATS message
// whatever the entries hold.
const auditPageBytes = 512 << 10

// AuditTrail reads sandbox id's audit entries in stream order, starting after sequence
// after, at most limit of them (and auditPageBytes); more says whether entries follow. It
// reads through a short-lived ephemeral consumer filtered on the sandbox's subjects, so
// the cost is the sandbox's entries, not the whole stream.
func (s *Store) AuditTrail(ctx context.Context, id string, after uint64, limit int) (entries []sandbox.AuditEntry, more bool, err error) {
	if !sandbox.ValidID(id) {
		return nil, false, sandbox.Errorf(sandbox.CodeInvalidID, "%q is not a sandbox id", id)
	}
	cfg := jetstream.ConsumerConfig{
		FilterSubject: sandbox.AuditFilter(id), AckPolicy: jetstream.AckNonePolicy,
		DeliverPolicy: jetstream.DeliverAllPolicy, InactiveThreshold: time.Minute, MemoryStorage: true, Replicas: 1,
	}
	if after > 0 {
		cfg.DeliverPolicy, cfg.OptStartSeq = jetstream.DeliverByStartSequencePolicy, after+1
	}
	c, err := s.js.CreateConsumer(ctx, sandbox.StreamAudit, cfg)
	if err != nil {
		return nil, false, err
	}
	defer func() { _ = s.js.DeleteConsumer(context.WithoutCancel(ctx), sandbox.StreamAudit, c.CachedInfo().Name) }()
	pending := c.CachedInfo().NumPending
	entries = []sandbox.AuditEntry{}
	if pending == 0 {
		return entries, false, nil
	}
	batch, err := c.Fetch(int(min(pending, uint64(limit))), jetstream.FetchMaxWait(10*time.Second))
	if err != nil {
		return nil, false, err
	}
	size := 0
	for m := range batch.Messages() {
		md, err := m.Metadata()
		if err != nil {
			return nil, false, err
		}
		if size += len(m.Data()); size > auditPageBytes && len(entries) > 0 {
			return entries, true, nil
		}
		var e sandbox.AuditEntry
		if err := json.Unmarshal(m.Data(), &e); err != nil {
			return nil, false, sandbox.Errorf(sandbox.CodeInternal, "audit entry %d is corrupt", md.Sequence.Stream)
		}
		e.Seq = md.Sequence.Stream
		entries = append(entries, e)
		more = md.NumPending > 0
	}
	return entries, more, batch.Error()
}
