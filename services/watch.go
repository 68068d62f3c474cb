package services

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/nats-io/nats.go/micro"

	"github.com/arrakis/gaib/sandbox"
)

// maxWatchWait bounds one long poll; the client asks again.
const maxWatchWait = 25 * time.Second

// maxWatchers bounds the long polls one process holds; past it a watch answers at once.
const maxWatchers = 1024

// watchHub wakes long-polling watchers when their sandbox's record changes. One watch of
// the whole bucket serves every watcher; each waiter also re-reads its record every
// second, so a lost bucket watch only slows watchers down.
type watchHub struct {
	mu      sync.Mutex
	started bool
	waiters map[string][]chan struct{}
	slots   chan struct{}
}

func newWatchHub() *watchHub {
	return &watchHub{waiters: map[string][]chan struct{}{}, slots: make(chan struct{}, maxWatchers)}
}

// wait returns a channel closed at the next change of id, and a function to stop waiting.
func (h *watchHub) wait(id string) (<-chan struct{}, func()) {
	ch := make(chan struct{})
	h.mu.Lock()
	h.waiters[id] = append(h.waiters[id], ch)
	h.mu.Unlock()
	return ch, func() {
		h.mu.Lock()
		defer h.mu.Unlock()
		list := h.waiters[id]
		for i, c := range list {
			if c == ch {
				h.waiters[id] = append(list[:i], list[i+1:]...)
				break
			}
		}
		if len(h.waiters[id]) == 0 {
			delete(h.waiters, id)
		}
	}
}

func (h *watchHub) wake(id string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, c := range h.waiters[id] {
		close(c)
	}
	delete(h.waiters, id)
}

// run feeds the hub from the bucket until ctx ends, restarting the watch when it fails.
func (s *Sandboxes) runWatchHub(ctx context.Context) {
	for ctx.Err() == nil {
		ids, err := s.store.WatchRecordChanges(ctx)
		if err == nil {
			for id := range ids {
				s.watch.wake(id)
			}
		}
		sleep(ctx, time.Second)
	}
}

// Watch answers when the sandbox's record is newer than req.Revision, or when the wait
// runs out, with the current record. Anyone may watch any sandbox (as anyone may get it).
func (s *Sandboxes) Watch(ctx context.Context, _ Caller, req sandbox.WatchRequest) (sandbox.Record, error) {
	wait := maxWatchWait
	if req.Wait != "" {
		d, err := time.ParseDuration(req.Wait)
		if err != nil || d < 0 {
			return sandbox.Record{}, sandbox.Errorf(sandbox.CodeInvalidRequest, "wait %q is not a duration", req.Wait)
		}
		wait = min(d, maxWatchWait)
	}
	rec, err := s.Resolve(ctx, req.Sandbox)
	if err != nil {
		return rec, err
	}
	deadline := time.NewTimer(wait)
	defer deadline.Stop()
	for rec.Revision <= req.Revision && rec.Status != sandbox.StatusDestroyed {
		changed, stop := s.watch.wait(rec.ID)
		// Read after registering, so a change between the two is never missed.
		cur, err := s.store.Record(ctx, rec.ID)
		if err == nil && cur.Revision > req.Revision {
			stop()
			return cur, nil
		}
		select {
		case <-changed:
		case <-time.After(time.Second):
		case <-deadline.C:
			stop()
			return s.store.Record(ctx, rec.ID)
		case <-ctx.Done():
			stop()
			return rec, ctx.Err()
		}
		stop()
		if rec, err = s.store.Record(ctx, rec.ID); err != nil {
			return rec, err
		}
	}
	return rec, nil
}

// handleWatch serves the watch endpoint: each long poll waits in its own goroutine, so an
// instance keeps answering while watchers wait; past maxWatchers a watch answers at once.
func (s *Sandboxes) handleWatch(base context.Context, log *slog.Logger) micro.Handler {
	s.watch.mu.Lock()
	if !s.watch.started {
		s.watch.started = true
		go s.runWatchHub(base)
	}
	s.watch.mu.Unlock()
	inline := handle(base, log, s.store, func(ctx context.Context, c Caller, req sandbox.WatchRequest) (sandbox.Record, error) {
		req.Wait = "0s"
		return s.Watch(ctx, c, req)
	})
	waiting := handle(base, log, s.store, s.Watch)
	return micro.HandlerFunc(func(r micro.Request) {
		select {
		case s.watch.slots <- struct{}{}:
			go func() {
				defer func() { <-s.watch.slots }()
				waiting.Handle(r)
			}()
		default:
			inline.Handle(r)
		}
	})
}
