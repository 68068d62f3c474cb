package services

import (
	"context"

	"github.com/arrakis/gaib/sandbox"
)

// Plane is one store a sandbox gets a slice of (Postgres, Redis). The sandbox service
// provisions planes in order on create and tears them down in reverse order on destroy.
type Plane interface {
	// Name identifies the plane in health checks and errors ("postgres", "redis").
	Name() string
	// Provision creates the sandbox's slice. It must leave nothing behind when it fails.
	Provision(ctx context.Context, r sandbox.Record) error
	// Teardown removes the sandbox's slice. It is idempotent: removing what is already
	// gone succeeds.
	Teardown(ctx context.Context, r sandbox.Record) error
	// Check queries the store and reports whether the slice exists as the record says.
	Check(ctx context.Context, r sandbox.Record) error
	// Env returns the connection settings a bot worker needs for this plane.
	Env(r sandbox.Record) []sandbox.EnvVar
	// Version is what the plane records on the sandbox (the schema migration version);
	// empty when there is nothing to record.
	Version() string
}

// RouteSync waits until every running router has applied the route table up to revision
// rev and returns a warning when some did not confirm in time.
type RouteSync func(ctx context.Context, rev uint64) (warning string)
