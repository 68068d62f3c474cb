package jetstream

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/arrakis/gaib/sandbox"
)

// InstanceInfo is what a live instance says about itself in the instances bucket.
type InstanceInfo struct {
	ID      string    `json:"id"`
	Host    string    `json:"host"`
	Version string    `json:"version"`
	Started time.Time `json:"started"`
}

// openReliability creates the buckets of instance liveness, request outcomes and mesh facts.
// An instance's key lives grace after its last heartbeat (the bucket's age limit), so a
// dead instance's key disappears by itself.
func (s *Store) openReliability(ctx context.Context) error {
	for _, b := range []struct {
		kv     *jetstream.KeyValue
		name   string
		desc   string
		maxAge time.Duration
	}{
		{&s.instances, sandbox.BucketInstances, "gaib live instances: id → info, refreshed by heartbeats", s.cfg.InstanceGrace},
		{&s.requests, sandbox.BucketRequests, "gaib request outcomes by idempotency key", s.cfg.RequestRetention},
		{&s.mesh, sandbox.BucketMesh, "gaib mesh-wide facts (secret fingerprint)", 0},
	} {
		kv, err := retry(ctx, func() (jetstream.KeyValue, error) {
			return s.js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
				Bucket: b.name, Description: b.desc, History: 1, TTL: b.maxAge,
				Storage: jetstream.FileStorage, Replicas: s.cfg.Replicas, MaxBytes: s.cfg.BucketMaxBytes, MaxValueSize: 256 << 10,
			})
		})
		if err != nil {
			return fmt.Errorf("bucket %s: %w", b.name, err)
		}
		*b.kv = retryingKV{kv}
	}
	return nil
}

// Heartbeat says instance info is alive (for the next InstanceGrace).
func (s *Store) Heartbeat(ctx context.Context, info InstanceInfo) error {
	b, err := json.Marshal(info)
	if err != nil {
		return err
	}
	_, err = s.instances.Put(ctx, info.ID, b)
	return err
}

// Leave removes an instance's key at once (a clean stop), so its work is not waited for.
func (s *Store) Leave(ctx context.Context, id string) error {
	return s.instances.Purge(ctx, id)
}

// Alive reports whether instance id heartbeat within the grace period.
func (s *Store) Alive(ctx context.Context, id string) (bool, error) {
	_, err := s.instances.Get(ctx, id)
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, jetstream.ErrKeyNotFound), errors.Is(err, jetstream.ErrInvalidKey):
		return false, nil
	}
	return false, err
}

// Instances returns every live instance.
func (s *Store) Instances(ctx context.Context) ([]InstanceInfo, error) {
	raw, err := allValues(ctx, s.instances)
	if err != nil {
		return nil, err
	}
	out := make([]InstanceInfo, 0, len(raw))
	for _, v := range raw {
		var i InstanceInfo
		if json.Unmarshal([]byte(v), &i) == nil {
			out = append(out, i)
		}
	}
	return out, nil
}

// ClaimFingerprint records the secret's fingerprint for the mesh, or checks it against the
// recorded one: instances with different secrets would hand out passwords and credentials
// the others refuse.
func (s *Store) ClaimFingerprint(ctx context.Context, fp string) error {
	_, err := s.mesh.Create(ctx, "secret-fingerprint", []byte(fp))
	if !errors.Is(err, jetstream.ErrKeyExists) {
		return err
	}
	e, err := s.mesh.Get(ctx, "secret-fingerprint")
	if err != nil {
		return err
	}
	if string(e.Value()) != fp {
		return sandbox.Errorf(sandbox.CodeInvalidRequest,
			"this instance's secret differs from the mesh's (fingerprint %s, the mesh's %s): every instance must run with the same GAIB_SECRET", fp, e.Value())
	}
	return nil
}
