package services

import (
	"testing"
	"time"
)

// TestSandboxRate checks the responder's per-sandbox bucket: a burst, then the rate, one
// sandbox's flood leaving another's bucket full, and idle full buckets forgotten.
func TestSandboxRate(t *testing.T) {
	l := newSandboxRate(10, 3)
	t0 := time.Unix(1000, 0)
	for i := range 3 {
		if !l.allow("aaaaaaaaaa", t0) {
			t.Fatalf("request %d of the burst refused", i)
		}
	}
	if l.allow("aaaaaaaaaa", t0) {
		t.Fatal("a fourth request in the same instant passed a burst of 3")
	}
	if !l.allow("bbbbbbbbbb", t0) {
		t.Fatal("another sandbox was refused because of the first one's flood")
	}
	if l.allow("aaaaaaaaaa", t0.Add(50*time.Millisecond)) {
		t.Fatal("half a token (50ms at 10/s) let a request pass")
	}
	if !l.allow("aaaaaaaaaa", t0.Add(100*time.Millisecond)) {
		t.Fatal("a token refilled after 100ms at 10/s was refused")
	}
	l.forgetFull(t0.Add(time.Hour))
	if len(l.state) != 0 {
		t.Fatalf("idle full buckets kept: %d", len(l.state))
	}
}
