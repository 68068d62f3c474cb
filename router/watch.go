package router

import (
	"context"
	"fmt"

	"github.com/nats-io/nats.go/jetstream"
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
			id := ""
			if e.Operation() == jetstream.KeyValuePut {
				var ok bool
				if id, ok = routeTarget(e.Value()); !ok {
					id = "" // a value the router cannot read routes nowhere
					t.invalid.Add(1)
				}
			}
			t.Set(e.Key(), id, e.Revision())
		}
	}
}
