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
		r, err := unmarshalRecord(id, old)
		if err != nil {
			return nil, err
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

// Records returns every stored record, in no particular order, and the keys whose value is
// not a valid record of that id (corrupt: edited by hand, or not written by gaib). Callers
// that act on what is NOT in the records (orphan removal) must stop when corrupt is not
// empty: a key in the bucket is a sandbox that may be alive.
func (s *Store) Records(ctx context.Context) (records []sandbox.Record, corrupt []string, err error) {
	w, err := s.sandboxes.WatchAll(ctx, jetstream.IgnoreDeletes())
	if err != nil {
		return nil, nil, err
	}
	defer func() { _ = w.Stop() }()
	for e := range w.Updates() {
		if e == nil {
			break // initial values delivered
		}
		r, err := decodeRecord(e)
		if err != nil {
			corrupt = append(corrupt, e.Key())
			continue
		}
		records = append(records, r)
	}
	return records, corrupt, nil
}

// decodeRecord reads a record and checks that it is the record of its key: a record whose
// id differs from its key (or is not an id) is corrupt, never trusted.
func decodeRecord(e jetstream.KeyValueEntry) (sandbox.Record, error) {
	r, err := unmarshalRecord(e.Key(), e.Value())
	r.Revision = e.Revision()
	return r, err
}

func unmarshalRecord(key string, b []byte) (sandbox.Record, error) {
	var r sandbox.Record
	if err := json.Unmarshal(b, &r); err != nil {
		return r, sandbox.Errorf(sandbox.CodeInternal, "record %s is corrupt: %v", key, err)
	}
	if r.ID != key || !sandbox.ValidID(r.ID) {
		return r, sandbox.Errorf(sandbox.CodeInternal, "record %s is corrupt: it names id %q", key, r.ID)
	}
	return r, nil
}

// WatchRecordChanges sends the id of every record written or deleted from now on, until
// ctx ends or the watch fails (the channel closes then).
func (s *Store) WatchRecordChanges(ctx context.Context) (<-chan string, error) {
	return watchChanges(ctx, s.sandboxes)
}

// watchChanges sends the key of every change of kv from now on, until ctx ends or the
// watch fails (the channel closes then).
func watchChanges(ctx context.Context, kv jetstream.KeyValue) (<-chan string, error) {
	w, err := kv.WatchAll(ctx, jetstream.UpdatesOnly())
	if err != nil {
		return nil, err
	}
	ch := make(chan string, 64)
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
				select {
				case ch <- e.Key():
				case <-ctx.Done():
					return
				}
			}
		}
	}()
	return ch, nil
}

// FollowRecords calls fn with every record as it is now and then as it changes (deleted:
// the key was removed), until ctx ends; loaded is closed once the records of now were
// delivered. Corrupt records are skipped.
func (s *Store) FollowRecords(ctx context.Context, fn func(r sandbox.Record, deleted bool)) (loaded <-chan struct{}, err error) {
	w, err := s.sandboxes.WatchAll(ctx)
	if err != nil {
		return nil, err
	}
	done := make(chan struct{})
	go func() {
		defer func() { _ = w.Stop() }()
		initial := true
		for {
			select {
			case <-ctx.Done():
				return
			case e, ok := <-w.Updates():
				if !ok {
					return
				}
				if e == nil {
					if initial {
						initial = false
						close(done)
					}
					continue
				}
				if e.Operation() != jetstream.KeyValuePut {
					fn(sandbox.Record{ID: e.Key()}, true)
					continue
				}
				if r, err := decodeRecord(e); err == nil {
					fn(r, false)
				}
			}
		}
	}()
	return done, nil
}
