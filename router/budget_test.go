package router

import (
	"context"
	"testing"
	"time"
)

// The window admits events while they fit in its bytes, one event larger than the whole
// budget when nothing else is in flight, and nothing more until bytes are released.
func TestBudgetBoundsBytesInFlight(t *testing.T) {
	b := newBudget(100)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := b.acquire(context.Background(), 60); err != nil {
		t.Fatal(err)
	}
	if err := b.acquire(ctx, 60); err == nil {
		t.Fatal("admitted 120 bytes in a 100-byte window")
	}
	got := make(chan error, 1)
	go func() { got <- b.acquire(context.Background(), 40) }()
	if err := <-got; err != nil {
		t.Fatalf("40 more bytes fit: %v", err)
	}
	b.release(60)
	b.release(40)
	if err := b.acquire(context.Background(), 1000); err != nil {
		t.Fatalf("an oversized event alone must pass: %v", err)
	}
	waiting := make(chan error, 1)
	go func() { waiting <- b.acquire(context.Background(), 1) }()
	select {
	case err := <-waiting:
		t.Fatalf("admitted a byte next to an oversized event: %v", err)
	case <-time.After(20 * time.Millisecond):
	}
	b.release(1000)
	if err := <-waiting; err != nil {
		t.Fatal(err)
	}
}
