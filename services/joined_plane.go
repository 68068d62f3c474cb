package services

import (
	"context"
	"errors"

	"github.com/arrakis/gaib/sandbox"
)

// JoinPlanes makes one plane, named name, of parts that belong together for a user: the
// NATS plane is a sandbox's stream and durable (package jetstream) and its account (package
// auth). Provision runs the parts in order and undoes the done ones when one fails;
// Teardown runs them all in reverse order, even when one fails; Check and Repair cover
// every part; Env is theirs together.
func JoinPlanes(name string, parts ...Plane) Plane { return joinedPlane{name: name, parts: parts} }

type joinedPlane struct {
	name  string
	parts []Plane
}

func (j joinedPlane) Name() string    { return j.name }
func (j joinedPlane) Version() string { return "" }

func (j joinedPlane) Provision(ctx context.Context, r sandbox.Record) error {
	for i, p := range j.parts {
		if err := p.Provision(ctx, r); err != nil {
			for _, done := range j.parts[:i] {
				_ = done.Teardown(context.WithoutCancel(ctx), r)
			}
			return err
		}
	}
	return nil
}

func (j joinedPlane) Teardown(ctx context.Context, r sandbox.Record) error {
	var errs []error
	for i := len(j.parts) - 1; i >= 0; i-- {
		errs = append(errs, j.parts[i].Teardown(ctx, r))
	}
	return errors.Join(errs...)
}

func (j joinedPlane) Check(ctx context.Context, r sandbox.Record) error {
	var errs []error
	for _, p := range j.parts {
		errs = append(errs, p.Check(ctx, r))
	}
	return errors.Join(errs...)
}

// Repair repairs every part that can be and whose check fails.
func (j joinedPlane) Repair(ctx context.Context, r sandbox.Record) error {
	var errs []error
	for _, p := range j.parts {
		if rp, ok := p.(Repairer); ok && p.Check(ctx, r) != nil {
			errs = append(errs, rp.Repair(ctx, r))
		}
	}
	return errors.Join(errs...)
}

func (j joinedPlane) Env(r sandbox.Record) []sandbox.EnvVar {
	var out []sandbox.EnvVar
	for _, p := range j.parts {
		out = append(out, p.Env(r)...)
	}
	return out
}

// Inventory is what the parts that keep an inventory hold, by sandbox id.
func (j joinedPlane) Inventory(ctx context.Context) (map[string][]string, error) {
	out := map[string][]string{}
	for _, p := range j.parts {
		inv, ok := p.(Inventory)
		if !ok {
			continue
		}
		ids, err := inv.Inventory(ctx)
		if err != nil {
			return nil, err
		}
		for id, kinds := range ids {
			out[id] = append(out[id], kinds...)
		}
	}
	return out, nil
}
