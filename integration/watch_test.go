package integration

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"testing"
	"time"

	"github.com/arrakis/gaib/cli"
	"github.com/arrakis/gaib/sandbox"
	"github.com/arrakis/gaib/services"
)

func TestStatusWatchFollowsChangesUntilDestroyed(t *testing.T) {
	m := startMesh(t, services.MeshConfig{})
	m.gaib(t, "sandbox", "create", "watched").must(t)

	pr, pw := io.Pipe()
	done := make(chan int, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		done <- cli.Main(ctx, []string{"--server", m.URL, "--creds", m.creds[tester], "--json", "sandbox", "status", "watched", "--watch"},
			&cli.IO{Stdout: pw, Stderr: io.Discard})
		pw.Close()
	}()
	lines := bufio.NewScanner(pr)
	next := func() sandbox.Record {
		t.Helper()
		if !lines.Scan() {
			t.Fatalf("watch ended early: %v", lines.Err())
		}
		var r sandbox.Record
		if err := json.Unmarshal(lines.Bytes(), &r); err != nil {
			t.Fatalf("watch line is not JSON: %q", lines.Text())
		}
		return r
	}
	first := next()
	if first.Status != sandbox.StatusRunning {
		t.Fatalf("first state %s", first.Status)
	}
	m.gaib(t, "sandbox", "extend", "watched", "--ttl", "1h").must(t)
	if r := next(); !r.ExpiresAt.After(first.ExpiresAt) {
		t.Fatalf("extend not seen: %+v", r)
	}
	m.gaib(t, "sandbox", "destroy", "watched", "--yes").must(t)
	var seen []sandbox.Status
	for {
		r := next()
		seen = append(seen, r.Status)
		if r.Status == sandbox.StatusDestroyed {
			break
		}
	}
	// A long poll answers with the latest record: destroying may be folded into destroyed.
	if seen[0] != sandbox.StatusDestroying && seen[0] != sandbox.StatusDestroyed {
		t.Fatalf("destroy states seen: %v", seen)
	}
	select {
	case code := <-done:
		if code != 0 {
			t.Fatalf("watch exited %d", code)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("watch did not end after the sandbox was destroyed")
	}
}
