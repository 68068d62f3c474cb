package services

import (
	"context"
	"sync"

	"github.com/arrakis/gaib/jetstream"
	"github.com/arrakis/gaib/sandbox"
)

// Directory is every sandbox record in memory, kept current by a watch of the records
// bucket: for parts that look a sandbox up on every request (the Discord proxy).
type Directory struct {
	mu      sync.RWMutex
	records map[string]sandbox.Record
}

// FollowRecords returns a directory of store's records, loaded and then followed until
// ctx ends.
func FollowRecords(ctx context.Context, store *jetstream.Store) (*Directory, error) {
	d := &Directory{records: map[string]sandbox.Record{}}
	loaded, err := store.FollowRecords(ctx, func(r sandbox.Record, deleted bool) {
		d.mu.Lock()
		defer d.mu.Unlock()
		if deleted {
			delete(d.records, r.ID)
		} else {
			d.records[r.ID] = r
		}
	})
	if err != nil {
		return nil, err
	}
	select {
	case <-loaded:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	return d, nil
}

// Record returns the record of id, or an error matching sandbox.ErrNotFound.
func (d *Directory) Record(id string) (sandbox.Record, error) {
	d.mu.RLock()
	r, ok := d.records[id]
	d.mu.RUnlock()
	if !ok {
		return r, sandbox.Errorf(sandbox.CodeNotFound, "no sandbox with id %q", id)
	}
	return r, nil
}
