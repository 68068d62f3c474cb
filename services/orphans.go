package services

import (
	"context"
	"fmt"
	"sort"

	"github.com/arrakis/gaib/sandbox"
)

// Inventory is a store that can list which sandboxes have resources in it (id → kinds).
// The Postgres, Redis and NATS (stream) planes implement it.
type Inventory interface {
	Inventory(ctx context.Context) (map[string][]string, error)
}

// The stores orphan detection compares with the records.
var OrphanStores = []string{"postgres", "redis", "nats", "routes", "names", "quota", "config"}

// Orphan is a sandbox id that owns resources in a store but has no live record.
type Orphan struct {
	ID    string   `json:"id"`
	Store string   `json:"store"`
	Kinds []string `json:"kinds"`
	// Keys are, in the KV stores, the keys the id still holds: guild ids (routes), names
	// (names) or owners (quota).
	Keys []string `json:"keys,omitempty"`
}

// kvKinds names what an id holds in each KV store that orphan detection reads.
var kvKinds = map[string]string{"routes": "route", "names": "name", "quota": "slot", "config": "config"}

// OrphanReport is the result of an orphan scan.
type OrphanReport struct {
	Orphans []Orphan `json:"orphans"`
	Removed bool     `json:"removed"`
	Errors  []string `json:"errors,omitempty"`
}

// OrphansRequest asks for an orphan scan; Remove also deletes what it finds.
type OrphansRequest struct {
	Remove bool `json:"remove,omitempty"`
}

// Orphans compares every store (Postgres, Redis, the sandbox streams, routes, the name
// index and quota slots) with the records. An id is an orphan in a store when it has
// resources there and its record is missing or destroyed; a sandbox that is
// provisioning, running, expired or being destroyed is never flagged. The stores are read
// before the records, so a sandbox created during the scan (its record always comes first)
// cannot be mistaken for an orphan. With req.Remove every orphan's resources are removed.
func (s *Sandboxes) Orphans(ctx context.Context, req OrphansRequest) (OrphanReport, error) {
	found := map[string]map[string][]string{} // store → id → kinds
	for _, p := range s.cfg.Planes {
		inv, ok := p.(Inventory)
		if !ok {
			continue
		}
		ids, err := inv.Inventory(ctx)
		if err != nil {
			return OrphanReport{}, fmt.Errorf("%s inventory: %w", p.Name(), err)
		}
		found[p.Name()] = ids
	}
	routes, err := s.store.Routes(ctx)
	if err != nil {
		return OrphanReport{}, fmt.Errorf("routes: %w", err)
	}
	names, err := s.store.Names(ctx)
	if err != nil {
		return OrphanReport{}, fmt.Errorf("names: %w", err)
	}
	slots, err := s.store.Slots(ctx)
	if err != nil {
		return OrphanReport{}, fmt.Errorf("quota: %w", err)
	}
	if found["config"], err = s.store.SandboxConfigKeys(ctx); err != nil {
		return OrphanReport{}, fmt.Errorf("config: %w", err)
	}
	// For the KV stores, found holds the keys each id still holds.
	found["routes"], found["names"], found["quota"] = byID(routes), byID(names), map[string][]string{}
	for owner, ids := range slots {
		for _, id := range ids {
			found["quota"][id] = append(found["quota"][id], owner)
		}
	}

	records, corrupt, err := s.store.Records(ctx)
	if err != nil {
		return OrphanReport{}, err
	}
	if len(corrupt) > 0 {
		// A key in the bucket may be a live sandbox whose record was damaged: deciding
		// that its resources are orphans could destroy a running sandbox.
		return OrphanReport{}, sandbox.Errorf(sandbox.CodeWrongState,
			"orphan detection stopped: %d sandbox records are corrupt (%v); repair or delete them first (see the runbook)", len(corrupt), corrupt)
	}
	live := map[string]bool{}
	for _, r := range records {
		live[r.ID] = r.Status != sandbox.StatusDestroyed
	}
	rep := OrphanReport{Orphans: []Orphan{}, Removed: req.Remove}
	for store, ids := range found {
		for id, kinds := range ids {
			if live[id] {
				continue
			}
			o := Orphan{ID: id, Store: store, Kinds: kinds}
			if kind, ok := kvKinds[store]; ok {
				o.Kinds, o.Keys = []string{kind}, kinds
			}
			rep.Orphans = append(rep.Orphans, o)
		}
	}
	sort.Slice(rep.Orphans, func(i, j int) bool {
		a, b := rep.Orphans[i], rep.Orphans[j]
		return a.Store < b.Store || (a.Store == b.Store && a.ID < b.ID)
	})
	if s.metrics != nil {
		counts := map[string]int{}
		for _, o := range rep.Orphans {
			counts[o.Store]++
		}
		for _, st := range OrphanStores {
			s.metrics.Orphans.WithLabelValues(st).Set(float64(counts[st]))
		}
	}
	if req.Remove {
		for _, o := range rep.Orphans {
			if err := s.removeOrphan(ctx, o); err != nil {
				rep.Errors = append(rep.Errors, fmt.Sprintf("%s in %s: %v", o.ID, o.Store, err))
			}
		}
	}
	return rep, nil
}

// removeOrphan deletes an orphan's resources in one store with the same idempotent steps
// destroy uses.
func (s *Sandboxes) removeOrphan(ctx context.Context, o Orphan) error {
	rec := sandbox.Record{ID: o.ID, Resources: sandbox.ResourcesFor(o.ID)}
	switch o.Store {
	case "routes":
		return each(o.Keys, func(g string) error { _, err := s.store.ReleaseRoute(ctx, g, o.ID); return err })
	case "names":
		return each(o.Keys, func(n string) error { return s.store.ReleaseName(ctx, n, o.ID) })
	case "quota":
		return each(o.Keys, func(owner string) error { return s.store.ReleaseSlot(ctx, owner, o.ID) })
	case "config":
		return s.store.DeleteSandboxConfig(ctx, o.ID)
	}
	for _, p := range s.cfg.Planes {
		if p.Name() == o.Store {
			return p.Teardown(ctx, rec)
		}
	}
	return fmt.Errorf("no plane %s", o.Store)
}

// each calls f on every item and stops at the first error.
func each(items []string, f func(string) error) error {
	for _, it := range items {
		if err := f(it); err != nil {
			return err
		}
	}
	return nil
}

// byID inverts key → id into id → keys.
func byID(m map[string]string) map[string][]string {
	out := map[string][]string{}
	for k, id := range m {
		out[id] = append(out[id], k)
	}
	return out
}
