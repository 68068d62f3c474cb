package services

import (
	"context"
	"sync"
	"time"

	"github.com/arrakis/gaib/sandbox"
)

// healthTTL is how long a sandbox's health check answers every status of it. Checks log
// in as the sandbox's own Postgres role and Redis user, so without a bound anyone allowed
// to read a sandbox's status (every identity) could spend its connection limit by asking
// it in a loop; with it, each instance checks a sandbox at most once per healthTTL.
const healthTTL = 5 * time.Second

// healthCheckTimeout bounds one health check of a sandbox (every plane).
const healthCheckTimeout = 15 * time.Second

// healthCache shares one health check of a sandbox among the statuses asked within
// healthTTL (and among those asked while it runs).
type healthCache struct {
	mu      sync.Mutex
	entries map[string]*healthEntry
}

type healthEntry struct {
	revision uint64
	at       time.Time
	done     chan struct{}
	health   []sandbox.Health
}

// get returns rec's health: a check made for the same record revision within healthTTL,
// the one running, or a new one made by check.
func (c *healthCache) get(ctx context.Context, rec sandbox.Record, check func(context.Context) []sandbox.Health) []sandbox.Health {
	now := time.Now()
	c.mu.Lock()
	if c.entries == nil {
		c.entries = map[string]*healthEntry{}
	}
	for id, e := range c.entries { // a few hundred sandboxes at most: a sweep is cheap
		if isDone(e) && now.Sub(e.at) > healthTTL {
			delete(c.entries, id)
		}
	}
	e, ok := c.entries[rec.ID]
	if ok && e.revision == rec.Revision && (!isDone(e) || now.Sub(e.at) <= healthTTL) {
		c.mu.Unlock()
		select {
		case <-e.done:
			return e.health
		case <-ctx.Done():
			return nil
		}
	}
	e = &healthEntry{revision: rec.Revision, at: now, done: make(chan struct{})}
	c.entries[rec.ID] = e
	c.mu.Unlock()
	// The check runs to its end for everyone waiting, whoever asked first, within a bound
	// of its own.
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), healthCheckTimeout)
	e.health = check(cctx)
	cancel()
	e.at = time.Now()
	close(e.done)
	return e.health
}

func isDone(e *healthEntry) bool {
	select {
	case <-e.done:
		return true
	default:
		return false
	}
}
