package router_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/arrakis/gaib/router"
)

func TestTableWaitFor(t *testing.T) {
	tb := router.NewTable()
	tb.Set("123456789012345678", "abcdefghij", 3)
	if id, ok := tb.Lookup("123456789012345678"); !ok || id != "abcdefghij" {
		t.Fatalf("lookup = %q %v", id, ok)
	}
	if err := tb.WaitFor(context.Background(), 3); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- tb.WaitFor(context.Background(), 5) }()
	tb.Set("123456789012345678", "", 5)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if _, ok := tb.Lookup("123456789012345678"); ok || tb.Len() != 0 || tb.Revision() != 5 {
		t.Fatal("delete not applied")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if err := tb.WaitFor(ctx, 6); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("WaitFor a future revision = %v", err)
	}
}
