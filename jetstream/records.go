package jetstream

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/arrakis/gaib/sandbox"
)

// CreateRecord stores a new record under its id; it fails if the id exists.
func (s *Store) CreateRecord(ctx context.Context, r sandbox.Record) (sandbox.Record, error) {
	b, err := json.Marshal(r)
	if err != nil {
		return r, err
	}
	rev, err := s.sandboxes.Create(ctx, r.ID, b)
	if err != nil {
		return r, fmt.Errorf("create record %s: %w", r.ID, err)
	}
	r.Revision = rev
	return r, nil
}

// Record returns the record of id, or an error matching sandbox.ErrNotFound.
func (s *Store) Record(ctx context.Context, id string) (sandbox.Record, error) {
	if !sandbox.ValidID(id) {
		return sandbox.Record{}, sandbox.Errorf(sandbox.CodeNotFound, "no sandbox with id %q", id)
	}
	e, err := s.sandboxes.Get(ctx, id)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return sandbox.Record{}, sandbox.Errorf(sandbox.CodeNotFound, "no sandbox with id %q", id)
	}
	if err != nil {
		return sandbox.Record{}, err
	}
	return decodeRecord(e)
}

// UpdateRecord applies fn to the current record of id and stores the result by
// compare-and-swap, calling fn again on a fresh copy when another writer got there first.
// An error from fn aborts the update and is returned as is.
func (s *Store) UpdateRecord(ctx context.Context, id string, fn func(*sandbox.Record) error) (sandbox.Record, error) {
	var out sandbox.Record
	rev, err := casUpdate(ctx, s.sandboxes, id, func(old []byte) ([]byte, error) {
		if old == nil {
			return nil, sandbox.Errorf(sandbox.CodeNotFound, "no sandbox with id %q", id)
		}
		var r sandbox.Record
		if err := json.Unmarshal(old, &r); err != nil {
			return nil, fmt.Errorf("record %s: %w", id, err)
		}
		if err := fn(&r); err != nil {
			return nil, err
		}
		r.Revision = 0
		out = r
		return json.Marshal(r)
	})
	out.Revision = rev
	return out, err
}

// DeleteRecord removes the record of id (used to undo a create and to drop destroyed
// records after their retention).
func (s *Store) DeleteRecord(ctx context.Context, id string) error {
	return s.sandboxes.Purge(ctx, id)
}

// Records returns every stored record, in no particular order.
func (s *Store) Records(ctx context.Context) ([]sandbox.Record, error) {
	w, err := s.sandboxes.WatchAll(ctx, jetstream.IgnoreDeletes())
	if err != nil {
		return nil, err
	}
	defer func() { _ = w.Stop() }()
	var out []sandbox.Record
	for e := range w.Updates() {
		if e == nil {
			break // initial values delivered
		}
		r, err := decodeRecord(e)
		if err != nil {
			continue // a corrupt record must not hide the others; status shows it
		}
		out = append(out, r)
	}
	return out, nil
}

// WatchRecord sends the record of id on every change until ctx ends or the record is
// deleted; the channel closes then. It starts with the current value.
func (s *Store) WatchRecord(ctx context.Context, id string) (<-chan sandbox.Record, error) {
	return WatchRecord(ctx, s.sandboxes, id)
}

// WatchRecord watches the record of id in the sandboxes bucket kv, for clients that do not
// open a Store (the CLI).
func WatchRecord(ctx context.Context, kv jetstream.KeyValue, id string) (<-chan sandbox.Record, error) {
	if !sandbox.ValidID(id) {
		return nil, sandbox.Errorf(sandbox.CodeInvalidID, "%q is not a sandbox id", id)
	}
	w, err := kv.Watch(ctx, id)
	if err != nil {
		return nil, err
	}
	ch := make(chan sandbox.Record)
	go func() {
		defer close(ch)
		defer func() { _ = w.Stop() }()
		for {
			select {
			case <-ctx.Done():
				return
			case e, ok := <-w.Updates():
				if !ok {
					return
				}
				if e == nil {
					continue
				}
				if e.Operation() != jetstream.KeyValuePut {
					return
				}
				r, err := decodeRecord(e)
				if err != nil {
					continue
				}
				select {
				case ch <- r:
				case <-ctx.Done():
					return
				}
			}
		}
	}()
	return ch, nil
}

func decodeRecord(e jetstream.KeyValueEntry) (sandbox.Record, error) {
	var r sandbox.Record
	if err := json.Unmarshal(e.Value(), &r); err != nil {
		return r, fmt.Errorf("record %s: %w", e.Key(), err)
	}
	r.Revision = e.Revision()
	return r, nil
}
