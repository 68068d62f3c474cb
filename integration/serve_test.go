package integration

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/arrakis/gaib/auth/authtest"
	"github.com/arrakis/gaib/cli"
	"github.com/arrakis/gaib/sandbox"
)

var (
	readyRe   = regexp.MustCompile(`gaib ready on (nats://[0-9.:]+) `)
	metricsRe = regexp.MustCompile(`metrics on (http://[0-9.:]+/metrics)`)
)

// serveInProcess runs `gaib serve` through cli.Main and returns its NATS URL and a stop
// function that cancels it (as SIGINT does) and returns its exit code.
func serveInProcess(t *testing.T, args ...string) (string, func() int) {
	t.Helper()
	return serveInProcessOut(t, &syncBuffer{}, args...)
}

// serveInProcessOut is serveInProcess with serve's stdout and stderr kept in out.
func serveInProcessOut(t *testing.T, out *syncBuffer, args ...string) (string, func() int) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	var errb syncBuffer
	done := make(chan int, 1)
	creds := filepath.Join(t.TempDir(), "admin.creds")
	go func() {
		done <- cli.Main(ctx, append([]string{"serve", "--listen", "127.0.0.1:0", "--metrics-listen", "127.0.0.1:0", "--admin-creds", creds}, args...),
			&cli.IO{Stdout: out, Stderr: io.MultiWriter(out, &errb)})
	}()
	var url string
	eventually(t, "serve to print its ready line", func() bool {
		select {
		case code := <-done:
			t.Fatalf("serve exited %d early: %s", code, errb.String())
		default:
		}
		if m := readyRe.FindStringSubmatch(out.String()); m != nil {
			url = m[1]
			servedCreds.Store(url, creds)
			return true
		}
		return false
	})
	stopped := false
	stop := func() int {
		if stopped {
			return 0
		}
		stopped = true
		cancel()
		select {
		case code := <-done:
			return code
		case <-time.After(30 * time.Second):
			t.Fatal("serve did not stop within 30s of cancellation")
			return -1
		}
	}
	t.Cleanup(func() { stop() })
	return url, stop
}

// servedCreds maps the URL of each mesh served in-process to its admin credential.
var servedCreds sync.Map

// served runs the CLI as the admin of the mesh served at url.
func served(t *testing.T, url string, args ...string) result {
	t.Helper()
	creds, _ := servedCreds.Load(url)
	c, _ := creds.(string)
	return runGaib(t, "", append([]string{"--server", url, "--creds", c}, args...)...)
}

// servableDir returns a temp data dir the unprivileged Postgres user can reach (gaib
// serve as root runs the managed cluster inside it).
func servableDir(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	for _, d := range []string{dir, filepath.Dir(dir)} {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func TestServeRestartKeepsSandboxes(t *testing.T) {
	dir := servableDir(t)
	url, stop := serveInProcess(t, "--data-dir", dir)
	rec := served(t, url, "--json", "sandbox", "create", "survivor", "--guild", "123456789012345678").must(t).record(t)
	if code := stop(); code != 0 {
		t.Fatalf("serve exited %d on shutdown", code)
	}
	if r := served(t, url, "sandbox", "list"); r.Code != sandbox.ExitUnreachable {
		t.Fatalf("mesh still answers after stop: exit %d", r.Code)
	}

	url, _ = serveInProcess(t, "--data-dir", dir)
	var st sandbox.StatusResponse
	decodeStrict(t, served(t, url, "--json", "sandbox", "status", "survivor").must(t).Stdout, &st)
	if st.ID != rec.ID || st.Status != sandbox.StatusRunning || len(st.Guilds) != 1 {
		t.Fatalf("after restart: %+v", st)
	}
	// The managed Postgres and Redis kept the sandbox's schema, role and ACL user, NATS
	// its stream.
	if len(st.Health) != 4 {
		t.Fatalf("health after restart: %+v", st.Health)
	}
	for _, h := range st.Health {
		if !h.OK {
			t.Errorf("after restart %s: %s", h.Plane, h.Message)
		}
	}
	// The name index and quota survived too.
	if r := served(t, url, "--json", "sandbox", "create", "survivor"); r.errorCode(t) != sandbox.CodeNameTaken {
		t.Fatalf("name index lost on restart: %s", r.Stdout)
	}
	// Its account too: a worker connects and reads its stream with the credential connect
	// gives now, and test events go in.
	served(t, url, "events", "publish", "--sandbox", "survivor").must(t)
	if out := served(t, url, "-o", "json", "sandbox", "events", "survivor", "--all", "--count", "1").must(t).Stdout; !strings.Contains(out, rec.ID) {
		t.Fatalf("the sandbox's events after restart: %s", out)
	}
}

func TestServeRefusesBadSettings(t *testing.T) {
	r := runGaib(t, "", "--json", "serve", "--data-dir", t.TempDir(), "--min-ttl", "2h", "--default-ttl", "1h")
	if r.Code != sandbox.ExitUsage || r.errorCode(t) != sandbox.CodeInvalidRequest {
		t.Fatalf("exit %d %s", r.Code, r.Stdout)
	}
}

func TestServeAgainstAnExistingNATS(t *testing.T) {
	d := authtest.Start(t, nil)
	url := d.URL
	mesh, sys, op := externalCredentials(t, d)
	var out syncBuffer
	got, _ := serveInProcessOut(t, &out, "--server", url, "--creds", mesh, "--operator-signing-key", op, "--system-creds", sys,
		"--data-dir", t.TempDir(), "--no-postgres", "--no-redis", "--only", "sandbox")
	if got != url || !strings.Contains(out.String(), "(external)") {
		t.Fatalf("serve used %s (%q), want the given %s", got, out.String(), url)
	}
	rec := served(t, url, "--json", "sandbox", "create", "ext").must(t).record(t)
	if rec.Status != sandbox.StatusRunning {
		t.Fatalf("create on an external NATS: %+v", rec)
	}
	// Only the sandbox service runs: no router answers.
	if r := served(t, url, "--json", "router", "stats"); r.Code != sandbox.ExitUnreachable {
		t.Fatalf("router stats with no router: exit %d %s", r.Code, r.Stdout)
	}
}

// externalCredentials writes what an operator hands `gaib serve` for an existing NATS: the
// mesh's credential, a system account user's, and an operator signing key.
func externalCredentials(t *testing.T, d *authtest.Deployment) (mesh, sys, op string) {
	t.Helper()
	m, err := d.MeshCreds()
	if err != nil {
		t.Fatal(err)
	}
	s, err := d.SystemCreds()
	if err != nil {
		t.Fatal(err)
	}
	seed, err := d.Keys.Operator.Seed()
	if err != nil {
		t.Fatal(err)
	}
	op = filepath.Join(t.TempDir(), "operator.nk")
	if err := os.WriteFile(op, seed, 0o600); err != nil {
		t.Fatal(err)
	}
	return authtest.CredsFile(t, m), authtest.CredsFile(t, s), op
}

// TestServeWithoutDatabaseBinariesSaysWhatToInstall checks the zero-config promise on a
// machine without postgresql and redis-server: serve refuses at once (a mesh whose
// sandboxes silently lack a plane would only fail later), naming the package, the script
// and the flag to run without it; with those flags the mesh works without the planes.
func TestServeWithoutDatabaseBinariesSaysWhatToInstall(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "missing")
	for _, tc := range []struct {
		args []string
		want []string
	}{
		{[]string{"--postgres-bin", missing}, []string{"postgres plane cannot start", "apt-get install postgresql", "./scripts/setup", "--no-postgres"}},
		{[]string{"--no-postgres", "--redis-server", missing}, []string{"redis plane cannot start", "apt-get install redis-server", "./scripts/setup", "--no-redis"}},
	} {
		r := runGaib(t, "", append([]string{"serve", "--listen", "127.0.0.1:0", "--metrics-listen", "", "--admin-creds", "-", "--data-dir", t.TempDir()}, tc.args...)...)
		if r.Code != sandbox.ExitFailure || strings.Contains(r.Stdout, "gaib ready") {
			t.Fatalf("serve %v: exit %d\n%s%s", tc.args, r.Code, r.Stdout, r.Stderr)
		}
		for _, w := range tc.want {
			if !strings.Contains(r.Stderr, w) {
				t.Errorf("serve %v does not say %q:\n%s", tc.args, w, r.Stderr)
			}
		}
	}
	var out syncBuffer
	url, _ := serveInProcessOut(t, &out, "--data-dir", t.TempDir(), "--no-postgres", "--no-redis")
	if !strings.Contains(out.String(), "no database planes") {
		t.Fatalf("ready line: %q", out.String())
	}
	served(t, url, "sandbox", "create", "bare").must(t)
	var resp struct {
		Env map[string]string `json:"env"`
	}
	decodeStrict(t, served(t, url, "--json", "sandbox", "connect", "bare").must(t).Stdout, &resp)
	for _, k := range []string{"DATABASE_URL", "SANDBOX_SCHEMA", "REDIS_URL", "SANDBOX_REDIS_PREFIX"} {
		if _, ok := resp.Env[k]; ok {
			t.Errorf("connect prints %s with the plane disabled", k)
		}
	}
	if resp.Env["SANDBOX_NATS_PREFIX"] == "" {
		t.Errorf("connect lost the NATS settings: %v", resp.Env)
	}
}
