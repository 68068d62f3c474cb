package integration

import (
	"context"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/arrakis/gaib/cli"
	"github.com/arrakis/gaib/sandbox"
)

// serveQuick runs `gaib serve args...` that is expected to fail before it is ready. The
// context bounds it well under the 15s a busy port used to cost, so a serve that waits
// instead of failing at once fails the test.
func serveQuick(t *testing.T, args ...string) result {
	t.Helper()
	var out, errb syncBuffer
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	code := runGaibCtx(ctx, &out, &errb, append([]string{"serve", "--admin-creds", "-", "--no-postgres", "--no-redis"}, args...)...)
	if ctx.Err() != nil {
		t.Fatalf("serve %v did not fail at once:\n%s%s", args, out.String(), errb.String())
	}
	return result{Stdout: out.String(), Stderr: errb.String(), Code: code}
}

// TestServeFailsAtOnceWhenItsPlaceIsTaken occupies serve's port, metrics port and data
// dir in turn: each time serve fails at once, naming the flag (and variable) to change.
func TestServeFailsAtOnceWhenItsPlaceIsTaken(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	addr := busy.Addr().String()
	r := serveQuick(t, "--data-dir", t.TempDir(), "--listen", addr, "--metrics-listen", "")
	if r.Code != sandbox.ExitFailure || !strings.Contains(r.Stderr, "--listen "+addr) || !strings.Contains(r.Stderr, "GAIB_LISTEN") {
		t.Errorf("busy NATS port: exit %d %q", r.Code, r.Stderr)
	}
	r = serveQuick(t, "--data-dir", t.TempDir(), "--listen", "127.0.0.1:0", "--metrics-listen", addr)
	if r.Code != sandbox.ExitFailure || !strings.Contains(r.Stderr, "--metrics-listen "+addr) || !strings.Contains(r.Stderr, "''") {
		t.Errorf("busy metrics port: exit %d %q", r.Code, r.Stderr)
	}

	dir := t.TempDir()
	url, _ := serveInProcess(t, "--data-dir", dir, "--no-postgres", "--no-redis")
	r = serveQuick(t, "--data-dir", dir, "--listen", "127.0.0.1:0", "--metrics-listen", "")
	if r.Code != sandbox.ExitFailure || !strings.Contains(r.Stderr, "--data-dir "+dir+" is in use by another gaib serve (pid ") ||
		!strings.Contains(r.Stderr, "GAIB_DATA_DIR") {
		t.Errorf("data dir in use: exit %d %q", r.Code, r.Stderr)
	}
	// The first one never noticed.
	served(t, url, "sandbox", "create", "undisturbed").must(t)
}

// TestServeRefusesASandboxEnvironment runs serve in a shell that evaluated `sandbox
// connect`, then in one that merely has the usual variables set: the first is refused with
// what to unset; the second starts with its own settings, saying what it ignores.
func TestServeRefusesASandboxEnvironment(t *testing.T) {
	for k, v := range map[string]string{
		"SANDBOX_ID": "k3x9q2m7pa", "SANDBOX_NAME": "demo", "NATS_URL": "nats://127.0.0.1:1", "NATS_CREDS": "/nonexistent/sandbox.creds",
		"DATABASE_URL": "postgres://sandbox_k3x9q2m7pa:pw@127.0.0.1:1/arrakis", "REDIS_URL": "redis://sandbox_k3x9q2m7pa:pw@127.0.0.1:1",
	} {
		t.Setenv(k, v)
	}
	r := serveQuick(t, "--data-dir", t.TempDir(), "--listen", "127.0.0.1:0", "--metrics-listen", "")
	if r.Code != sandbox.ExitUsage || !strings.Contains(r.Stderr, "environment of sandbox demo") ||
		!strings.Contains(r.Stderr, "unset SANDBOX_ID SANDBOX_NAME NATS_URL NATS_CREDS DATABASE_URL REDIS_URL") {
		t.Fatalf("serve in a sandbox's shell: exit %d %q", r.Code, r.Stderr)
	}

	t.Setenv("SANDBOX_ID", "")
	t.Setenv("SANDBOX_NAME", "")
	var out syncBuffer
	url, _ := serveInProcessOut(t, &out, "--data-dir", t.TempDir(), "--no-postgres", "--no-redis")
	if !strings.Contains(out.String(), "(embedded") {
		t.Fatalf("serve joined NATS_URL instead of starting its own: %s", out.String())
	}
	for _, v := range []string{"DATABASE_URL", "REDIS_URL", "NATS_URL", "NATS_CREDS"} {
		if !strings.Contains(out.String(), "serve ignores "+v) {
			t.Errorf("serve does not say it ignores %s:\n%s", v, out.String())
		}
	}
	served(t, url, "sandbox", "create", "own-settings").must(t)
}

// runGaibCtx runs gaib in-process with ctx, its output into out and errb.
func runGaibCtx(ctx context.Context, out, errb *syncBuffer, args ...string) int {
	return cli.Main(ctx, args, &cli.IO{Stdin: strings.NewReader(""), Stdout: out, Stderr: errb})
}
