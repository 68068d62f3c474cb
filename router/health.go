package router

import (
	"errors"
	"fmt"
	"sort"
	"sync"
	"time"

	"github.com/arrakis/gaib/sandbox"
)

// Parts of the router that can fail on their own; each reports its last outcome.
const (
	partWatch    = "route watch"
	partLease    = "lease"
	partPipeline = "routing"
)

// health is what the router knows about itself without asking the server: the last
// failure of each part (cleared when that part next succeeds) and the event it holds.
type health struct {
	mu     sync.Mutex
	failed map[string]error
	// held is the event the router is retrying (its output stream missing or failing).
	held struct {
		seq     uint64
		subject string
		since   time.Time
		err     error
	}
	stopped bool
}

func (h *health) set(part string, err error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.failed == nil {
		h.failed = map[string]error{}
	}
	if err == nil {
		delete(h.failed, part)
	} else {
		h.failed[part] = err
	}
}

// hold records that event seq cannot be stored yet; release clears it.
func (h *health) hold(seq uint64, subject string, err error) (first bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.held.seq != seq {
		h.held.seq, h.held.since, first = seq, time.Now(), true
	}
	h.held.subject, h.held.err = subject, err
	return first
}

func (h *health) release(seq uint64) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.held.seq == seq {
		h.held.seq = 0
	}
}

// heldSeq is the event held (0 for none).
func (h *health) heldSeq() uint64 {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.held.seq
}

// check returns why the router is unhealthy, or nil.
func (h *health) check(stallAfter time.Duration) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.stopped {
		return sandbox.Errorf(sandbox.CodeUnavailable, "router stopped")
	}
	var errs []error
	parts := make([]string, 0, len(h.failed))
	for p := range h.failed {
		parts = append(parts, p)
	}
	sort.Strings(parts)
	for _, p := range parts {
		errs = append(errs, fmt.Errorf("%s: %w", p, h.failed[p]))
	}
	if h.held.seq != 0 {
		if d := time.Since(h.held.since); d >= stallAfter {
			errs = append(errs, fmt.Errorf("gateway event %d held for %s (output %s): %w",
				h.held.seq, d.Round(time.Second), h.held.subject, h.held.err))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return sandbox.Errorf(sandbox.CodeUnavailable, "router unhealthy: %v", err)
	}
	return nil
}
