package cli

import (
	"strings"
	"testing"
	"time"

	"github.com/arrakis/gaib/sandbox"
)

// A sandbox being created or destroyed shows who is doing it, where, and which planes are
// already torn down, cleaned of control characters (a record can be tampered with).
func TestStatusShowsTheOperationInProgress(t *testing.T) {
	r := sandbox.NewRecord("abcdefghij", "demo", "alice", time.Hour, nil, time.Now())
	r.Status = sandbox.StatusDestroying
	r.Lease = &sandbox.Lease{Holder: "inst1", Op: sandbox.LeaseDestroy, Actor: "bob\x1b[2J", Since: time.Now().Add(-time.Minute)}
	r.TornDown = []string{"redis", "nats"}
	var b strings.Builder
	(&IO{}).printRecord(&b, r, nil)
	out := b.String()
	for _, want := range []string{"In progress:", "destroy by bob[2J on instance inst1, since 1m ago", "Torn down:", "redis, nats"} {
		if !strings.Contains(out, want) {
			t.Errorf("status lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "\x1b") {
		t.Errorf("status prints an escape character:\n%q", out)
	}
}
