package services

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/arrakis/gaib/sandbox"
)

// A flood of statuses of one sandbox costs one health check per healthTTL (the checks log in
// as the sandbox's own roles: a flood must not spend its connection limit), and a changed
// record is checked again at once.
func TestHealthChecksAreSharedAndBounded(t *testing.T) {
	var c healthCache
	var checks atomic.Int32
	check := func(context.Context) []sandbox.Health {
		checks.Add(1)
		time.Sleep(20 * time.Millisecond)
		return []sandbox.Health{{Plane: "postgres", OK: true}}
	}
	rec := sandbox.Record{ID: "abcdefghij", Revision: 3}
	var wg sync.WaitGroup
	for range 200 {
		wg.Go(func() {
			if h := c.get(context.Background(), rec, check); len(h) != 1 || !h[0].OK {
				t.Errorf("health %+v", h)
			}
		})
	}
	wg.Wait()
	if n := checks.Load(); n != 1 {
		t.Fatalf("200 concurrent statuses ran %d checks, want 1", n)
	}
	rec.Revision++
	c.get(context.Background(), rec, check)
	if n := checks.Load(); n != 2 {
		t.Fatalf("a changed record was not checked again (%d checks)", n)
	}
	other := sandbox.Record{ID: "bcdefghijk", Revision: 1}
	c.get(context.Background(), other, check)
	if n := checks.Load(); n != 3 {
		t.Fatalf("another sandbox shares a check (%d checks)", n)
	}
}
