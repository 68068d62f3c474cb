package router

import (
	"context"
	"sync"
	"sync/atomic"
)

// Table is the in-memory route table (guild → sandbox id) and the last revision of the
// routes bucket applied to it. Lookups take a read lock only.
type Table struct {
	mu       sync.RWMutex
	routes   map[string]string
	revision uint64
	// changed is closed and replaced whenever revision advances, waking WaitFor.
	changed chan struct{}
	// invalid counts route values that did not decode (applied as no route).
	invalid atomic.Uint64
}

// NewTable returns an empty table.
func NewTable() *Table {
	return &Table{routes: map[string]string{}, changed: make(chan struct{})}
}

// Lookup returns the sandbox id guild routes to.
func (t *Table) Lookup(guild string) (string, bool) {
	t.mu.RLock()
	id, ok := t.routes[guild]
	t.mu.RUnlock()
	return id, ok
}

// Set routes guild to id (id "" removes the route) and records the bucket revision.
func (t *Table) Set(guild, id string, revision uint64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if id == "" {
		delete(t.routes, guild)
	} else {
		t.routes[guild] = id
	}
	t.advance(revision)
}

// advance records revision; the caller holds the lock.
func (t *Table) advance(revision uint64) {
	if revision > t.revision {
		t.revision = revision
		close(t.changed)
		t.changed = make(chan struct{})
	}
}

// Revision is the last bucket revision applied.
func (t *Table) Revision() uint64 {
	t.mu.RLock()
	defer t.mu.RUnlock()
	return t.revision
}

// Len is the number of routes loaded.
func (t *Table) Len() int {
	t.mu.RLock()
	defer t.mu.RUnlock()
	return len(t.routes)
}

// WaitFor blocks until the table has applied revision, or ctx ends.
func (t *Table) WaitFor(ctx context.Context, revision uint64) error {
	for {
		t.mu.RLock()
		done, ch := t.revision >= revision, t.changed
		t.mu.RUnlock()
		if done {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// Invalid is the number of route values seen that did not decode into a sandbox id; their
// guilds route to production.
func (t *Table) Invalid() uint64 { return t.invalid.Load() }
