package auth

import (
	"context"
	"fmt"
	"time"

	"github.com/arrakis/gaib/sandbox"
)

// AccountPlane is each sandbox's NATS account as a plane of the sandbox service: a create
// pushes the account (live) before the sandbox runs, so that its credentials work as soon
// as connect hands them out; a destroy revokes it (no imports, no connections, every
// credential revoked), which disconnects its workers before the rest is torn down when it
// is the last plane.
type AccountPlane struct{ Publisher *Publisher }

// Name is the plane's name in health checks and the record's torn-down list.
func (AccountPlane) Name() string { return "nats-account" }

// Version is empty: nothing to migrate.
func (AccountPlane) Version() string { return "" }

// Provision pushes the sandbox's live account.
func (a AccountPlane) Provision(ctx context.Context, r sandbox.Record) error {
	return a.Publisher.Sandbox(ctx, r.ID, time.Time{})
}

// Teardown pushes the sandbox's revoked account.
func (a AccountPlane) Teardown(ctx context.Context, r sandbox.Record) error {
	return a.Publisher.Sandbox(ctx, r.ID, time.Now())
}

// Repair pushes the account again (a revoked one stays revoked).
func (a AccountPlane) Repair(ctx context.Context, r sandbox.Record) error {
	return a.Publisher.Sandbox(ctx, r.ID, time.Time{})
}

// Check reports a sandbox whose account this instance could not push.
func (a AccountPlane) Check(_ context.Context, r sandbox.Record) error {
	if !a.Publisher.sandboxPushed(r.ID) {
		return fmt.Errorf("the NATS account of sandbox %s is not on the servers (its last push failed; the reconciler pushes it again)", r.ID)
	}
	return nil
}

// Env adds nothing: connect hands out the credential.
func (AccountPlane) Env(sandbox.Record) []sandbox.EnvVar { return nil }

// sandboxPushed says whether the servers have the sandbox's account as this instance wants
// it (an account this instance never handled counts as pushed: another instance did).
func (p *Publisher) sandboxPushed(id string) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	want, known := p.sandboxes[id]
	pushed, ok := p.sandboxesPushed[id]
	return !known || (ok && pushed.Equal(want))
}
