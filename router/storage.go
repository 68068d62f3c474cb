package router

import (
	"context"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/arrakis/gaib/sandbox"
)

// stateBucketBytes caps the state bucket: one small key per durable.
const stateBucketBytes = 1 << 20

// ensureStorage creates (or updates) the router's own state bucket and dead-letter stream.
func (r *Router) ensureStorage(ctx context.Context) error {
	kv, err := r.js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket:      r.cfg.StateBucket,
		Description: "gaib router: lease of the active router and its recorded gateway position, per durable",
		History:     1,
		MaxBytes:    stateBucketBytes,
		Storage:     jetstream.FileStorage,
		Replicas:    r.cfg.Replicas,
	})
	if err != nil {
		return fmt.Errorf("router state bucket %s: %w", r.cfg.StateBucket, err)
	}
	r.state = kv
	_, err = r.js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
		Name:        r.cfg.DeadLetterStream,
		Description: "gaib router: references to gateway events too large to forward",
		Subjects:    []string{sandbox.DeadLetterPrefix + ".>"},
		MaxBytes:    r.cfg.DeadLetterMaxBytes,
		MaxAge:      7 * 24 * time.Hour,
		Duplicates:  2 * time.Minute,
		Storage:     jetstream.FileStorage,
		Replicas:    r.cfg.Replicas,
	})
	if err != nil {
		return fmt.Errorf("router dead-letter stream %s: %w", r.cfg.DeadLetterStream, err)
	}
	return nil
}
