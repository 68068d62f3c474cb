package services

import (
	"context"
	"log/slog"
	"os"
	"time"

	"github.com/arrakis/gaib/jetstream"
	"github.com/arrakis/gaib/sandbox"
)

// newInstanceID names this process among the mesh's instances: leases and pending requests
// carry it, so the others can tell when their holder died.
func newInstanceID() string { return sandbox.NewID() }

// runHeartbeat says this instance is alive every interval until ctx ends, then leaves
// (so its leases are taken over at once, not after the grace period).
func (s *Sandboxes) runHeartbeat(ctx context.Context, interval time.Duration, log *slog.Logger) {
	host, _ := os.Hostname()
	info := jetstream.InstanceInfo{ID: s.instance, Host: host, Version: Version, Started: s.now()}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		hctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), interval)
		if err := s.store.Heartbeat(hctx, info); err != nil && ctx.Err() == nil {
			log.Warn("heartbeat", "err", err)
		}
		cancel()
		select {
		case <-ctx.Done():
			lctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			_ = s.store.Leave(lctx, s.instance)
			cancel()
			return
		case <-t.C:
		}
	}
}

// Instance is this process's instance id.
func (s *Sandboxes) Instance() string { return s.instance }

// abandoned reports whether a lease is held by an instance that is no longer alive (a
// lease of this instance is never abandoned: this instance is working on it).
func (s *Sandboxes) abandoned(ctx context.Context, l *sandbox.Lease) bool {
	if l == nil || l.Holder == s.instance {
		return false
	}
	alive, err := s.store.Alive(ctx, l.Holder)
	return err == nil && !alive
}
