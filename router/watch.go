package router

import (
	"context"
	"fmt"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/arrakis/gaib/sandbox"
)

// Watch feeds t from the routes bucket until ctx ends: first every current route, then
// each change as it is stored. loaded is closed once the initial routes are in.
func Watch(ctx context.Context, routes jetstream.KeyValue, t *Table, loaded chan<- struct{}) error {
	w, err := routes.WatchAll(ctx)
	if err != nil {
		return fmt.Errorf("watch routes: %w", err)
	}
	defer func() { _ = w.Stop() }()
	initial := true
	for {
		select {
		case <-ctx.Done():
			return nil
		case e, ok := <-w.Updates():
			if !ok {
				return fmt.Errorf("route watch closed")
			}
			if e == nil {
				if initial {
					initial = false
					if loaded != nil {
						close(loaded)
					}
				}
				continue
			}
			t.Set(e.Key(), routeTarget(e), e.Revision())
		}
	}
}

// routeTarget is the sandbox a routes-bucket entry sends its guild's events to, or "" for
// none: a deleted key, a route still pending (its sandbox is being created), or a value
// that is not a route (never taken for a subject token).
func routeTarget(e jetstream.KeyValueEntry) string {
	if e.Operation() != jetstream.KeyValuePut {
		return ""
	}
	id, active, ok := sandbox.ParseRouteValue(string(e.Value()))
	if !ok || !active {
		return ""
	}
	return id
}
