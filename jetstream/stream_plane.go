package jetstream

import (
	"context"

	"github.com/arrakis/gaib/sandbox"
)

// StreamPlane is the NATS slice of a sandbox as a plane of the sandbox service: its own
// stream SANDBOX_<id> and the durable its worker consumes through. Names come from the id
// alone.
type StreamPlane struct{ s *Store }

// StreamPlane returns the sandbox streams as a plane.
func (s *Store) StreamPlane() StreamPlane { return StreamPlane{s} }

// Name is "nats".
func (StreamPlane) Name() string { return "nats" }

// Version is empty: streams have nothing to version.
func (StreamPlane) Version() string { return "" }

// Provision creates the sandbox's stream and durable.
func (p StreamPlane) Provision(ctx context.Context, r sandbox.Record) error {
	return p.s.CreateSandboxStream(ctx, r.ID)
}

// Teardown deletes the sandbox's stream, its consumers and its messages.
func (p StreamPlane) Teardown(ctx context.Context, r sandbox.Record) error {
	return p.s.DeleteSandboxStream(ctx, r.ID)
}

// Check reports whether the stream and the durable exist.
func (p StreamPlane) Check(ctx context.Context, r sandbox.Record) error {
	return p.s.CheckSandboxStream(ctx, r.ID)
}

// Repair re-creates the sandbox's stream and durable if they are gone (empty: what they
// held is lost).
func (p StreamPlane) Repair(ctx context.Context, r sandbox.Record) error {
	return p.s.CreateSandboxStream(ctx, r.ID)
}

// Env names the sandbox's subject namespace, stream and durable.
func (StreamPlane) Env(r sandbox.Record) []sandbox.EnvVar {
	return []sandbox.EnvVar{
		{Name: "SANDBOX_NATS_PREFIX", Value: sandbox.SandboxPrefix + "." + r.ID + "."},
		{Name: "SANDBOX_STREAM", Value: sandbox.SandboxStream(r.ID)},
		{Name: "SANDBOX_CONSUMER", Value: sandbox.SandboxConsumer},
	}
}

// Inventory returns the ids of every sandbox that has a stream.
func (p StreamPlane) Inventory(ctx context.Context) (map[string][]string, error) {
	ids, err := p.s.SandboxStreamIDs(ctx)
	if err != nil {
		return nil, err
	}
	out := make(map[string][]string, len(ids))
	for id := range ids {
		out[id] = []string{"stream"}
	}
	return out, nil
}
