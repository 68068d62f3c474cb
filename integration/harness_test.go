package integration

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/arrakis/gaib/auth"
	"github.com/arrakis/gaib/auth/authtest"
	"github.com/arrakis/gaib/cli"
	"github.com/arrakis/gaib/client"
	"github.com/arrakis/gaib/embedded/embeddedtest"
	gjs "github.com/arrakis/gaib/jetstream"
	"github.com/arrakis/gaib/router"
	"github.com/arrakis/gaib/sandbox"
	"github.com/arrakis/gaib/services"
)

func TestMain(m *testing.M) {
	if os.Getenv(workerEnv) != "" {
		discordWorker()
		os.Exit(0)
	}
	if dir := os.Getenv(natsProcessEnv); dir != "" {
		serveNATS(dir)
		os.Exit(0)
	}
	for _, v := range []string{"NATS_URL", "NATS_CREDS", "GAIB_SECRET"} {
		os.Unsetenv(v)
	}
	// The CLI must never find a developer's own credential while testing.
	dir, _ := os.MkdirTemp("", "gaib-config-")
	os.Setenv("XDG_CONFIG_HOME", dir)
	os.Setenv("XDG_RUNTIME_DIR", dir)
	code := m.Run()
	embeddedtest.StopAll()
	os.RemoveAll(dir)
	os.Exit(code)
}

// testLimits keep every stream and bucket small: JetStream reserves their byte limits up
// front, and the test servers cap the store.
var testLimits = gjs.Config{EventsMaxBytes: 128 << 20, AuditMaxBytes: 64 << 20, BucketMaxBytes: 8 << 20, SandboxStreamMaxBytes: 4 << 20}

// tester is the admin identity every test acts as unless it says otherwise.
const tester = "tester"

// testMesh is a running mesh on its own operator-mode NATS server.
type testMesh struct {
	URL   string
	NC    *nats.Conn
	Store *gjs.Store
	Mesh  *services.Mesh
	// Deployment is the server's trust: its issuer, keys and credentials.
	Deployment *authtest.Deployment
	// creds are the credential files of the identities made so far, by name.
	creds map[string]string
}

// startMesh starts an operator-mode server and the mesh on it, configured by cfg, with the
// admin identity "tester".
func startMesh(t testing.TB, cfg services.MeshConfig) *testMesh {
	t.Helper()
	return startMeshWith(t, authtest.Start(t, nil), cfg)
}

func startMeshWith(t testing.TB, d *authtest.Deployment, cfg services.MeshConfig) *testMesh {
	t.Helper()
	return startMeshLimits(t, d, cfg, testLimits)
}

// startMeshLimits is startMeshWith with the store's limits.
func startMeshLimits(t testing.TB, d *authtest.Deployment, cfg services.MeshConfig, limits gjs.Config) *testMesh {
	t.Helper()
	url := d.URL
	nc := d.Mesh(t)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	store, err := gjs.Open(ctx, js, limits)
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	if cfg.SweepInterval == 0 {
		cfg.SweepInterval = -1 // tests sweep on demand, with their own clock
	}
	cfg.Sandbox.NATSURL = url
	cfg.Sandbox.Issuer = d.Issuer
	revocations := services.RevocationList{Store: store}
	publisher := d.Publisher(t, revocations)
	cfg.Sandbox.Account = publisher
	// As gaib serve does: revocations reach the publisher through the watches.
	if err := revocations.Watch(t.Context(), publisher); err != nil {
		t.Fatal(err)
	}
	natsPlane := services.JoinPlanes(store.StreamPlane().Name(), store.StreamPlane(), auth.AccountPlane{Publisher: publisher})
	cfg.Sandbox.Planes = append([]services.Plane{natsPlane}, cfg.Sandbox.Planes...)
	cfg.Responder = d.Responder(t)
	meshCreds, err := d.MeshCreds()
	if err != nil {
		t.Fatal(err)
	}
	cfg.RouterConn = authtest.Connect(t, url, meshCreds, router.ConnectOptions("router")...)
	m, err := services.StartMesh(context.Background(), nc, store, cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatalf("start mesh: %v", err)
	}
	t.Cleanup(func() { _ = m.Stop() })
	tm := &testMesh{URL: url, NC: nc, Store: store, Mesh: m, Deployment: d, creds: deploymentCreds(d)}
	tm.identity(t, tester, sandbox.RoleAdmin)
	return tm
}

// startOpenMesh starts the mesh on a server without authentication, as before identity:
// no credentials are issued or revoked (benchmarks compare against it). The caller token
// is still resolved in the users registry, where "tester" is an admin.
func startOpenMesh(t testing.TB, cfg services.MeshConfig) *testMesh {
	t.Helper()
	url := embeddedtest.NATS(t).ClientURL()
	nc := embeddedtest.Conn(t, url)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	store, err := gjs.Open(ctx, js, testLimits)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.SweepInterval == 0 {
		cfg.SweepInterval = -1
	}
	cfg.Sandbox.NATSURL = url
	cfg.Sandbox.Planes = append([]services.Plane{store.StreamPlane()}, cfg.Sandbox.Planes...)
	cfg.RouterConn = embeddedtest.Conn(t, url, router.ConnectOptions("router")...)
	m, err := services.StartMesh(ctx, nc, store, cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = m.Stop() })
	if err := store.CreateUser(ctx, sandbox.User{Name: tester, Role: sandbox.RoleAdmin, CreatedAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
	return &testMesh{URL: url, NC: nc, Store: store, Mesh: m, creds: map[string]string{}}
}

// identitiesOf keeps the credential files of each deployment's identities, so that two
// meshes on one deployment (two instances) share them.
var identitiesOf sync.Map

func deploymentCreds(d *authtest.Deployment) map[string]string {
	v, _ := identitiesOf.LoadOrStore(d, map[string]string{})
	return v.(map[string]string)
}

// identity registers an identity with role and returns the path of its credential file.
func (m *testMesh) identity(t testing.TB, name string, role sandbox.Role) string {
	t.Helper()
	if path, ok := m.creds[name]; ok {
		return path
	}
	creds, pub, err := m.Deployment.Issuer.NewIdentity(name, role, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Store.CreateUser(context.Background(), sandbox.User{Name: name, Role: role, Keys: []string{pub},
		CreatedAt: time.Now().UTC(), CreatedBy: tester}); err != nil {
		t.Fatal(err)
	}
	m.creds[name] = authtest.CredsFile(t, creds)
	return m.creds[name]
}

// developer registers a developer identity and returns its credential file.
func (m *testMesh) developer(t testing.TB, name string) string {
	t.Helper()
	return m.identity(t, name, sandbox.RoleDeveloper)
}

// as runs the CLI as identity name (which must exist) against the mesh.
func (m *testMesh) as(t testing.TB, name string, args ...string) result {
	t.Helper()
	creds, ok := m.creds[name]
	if !ok {
		t.Fatalf("no identity %q in this test", name)
	}
	return runGaib(t, "", append([]string{"--server", m.URL, "--creds", creds}, args...)...)
}

// client returns a CLI client on the mesh's own connection acting as identity name.
func (m *testMesh) client(name string) *client.Client {
	return client.NewClient(m.NC, name, time.Minute)
}

// request sends a raw request to an endpoint as caller, on the mesh's connection (which
// may use any caller token, as only the mesh's credential can).
func (m *testMesh) request(t testing.TB, service, op, caller string, body []byte) *nats.Msg {
	t.Helper()
	msg, err := m.NC.Request(sandbox.Request(service, op, caller), body, 30*time.Second)
	if err != nil {
		t.Fatalf("request %s.%s: %v", service, op, err)
	}
	return msg
}

// result is what one gaib invocation printed and returned.
type result struct {
	Stdout, Stderr string
	Code           int
}

// gaib runs the real CLI in-process against the mesh as the admin "tester", stdin not a
// terminal.
func (m *testMesh) gaib(t testing.TB, args ...string) result {
	t.Helper()
	return m.as(t, tester, args...)
}

func runGaib(t testing.TB, stdin string, args ...string) result {
	t.Helper()
	var out, errb bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	code := cli.Main(ctx, args, &cli.IO{Stdin: strings.NewReader(stdin), Stdout: &out, Stderr: &errb})
	return result{Stdout: out.String(), Stderr: errb.String(), Code: code}
}

// must fails the test unless the command exited 0.
func (r result) must(t testing.TB) result {
	t.Helper()
	if r.Code != 0 {
		t.Fatalf("exit %d\nstdout: %s\nstderr: %s", r.Code, r.Stdout, r.Stderr)
	}
	return r
}

// record decodes a --json sandbox document.
func (r result) record(t testing.TB) sandbox.Record {
	t.Helper()
	var rec sandbox.Record
	decodeStrict(t, r.Stdout, &rec)
	return rec
}

// errorCode decodes a --json error document and returns its code.
func (r result) errorCode(t testing.TB) sandbox.Code {
	t.Helper()
	var eb sandbox.ErrorBody
	decodeStrict(t, r.Stdout, &eb)
	if eb.Error == nil || eb.Error.Message == "" {
		t.Fatalf("no error document in %q", r.Stdout)
	}
	return eb.Error.Code
}

// errorCodeIs fails unless the command failed with code (run it with --json or not: the
// code is read from stdout in JSON mode, else compared by exit code and message).
func (r result) errorCodeIs(t testing.TB, code sandbox.Code) {
	t.Helper()
	if r.Code != code.ExitCode() {
		t.Fatalf("exit %d, want %d (%s)\nstdout: %s\nstderr: %s", r.Code, code.ExitCode(), code, r.Stdout, r.Stderr)
	}
	if strings.HasPrefix(strings.TrimSpace(r.Stdout), "{") {
		if got := r.errorCode(t); got != code {
			t.Fatalf("code %s, want %s", got, code)
		}
	}
}

// decodeStrict parses exactly one JSON document from s, failing on anything else.
func decodeStrict(t testing.TB, s string, v any) {
	t.Helper()
	dec := json.NewDecoder(strings.NewReader(s))
	if err := dec.Decode(v); err != nil {
		t.Fatalf("stdout is not JSON: %v\n%s", err, s)
	}
	if dec.More() {
		t.Fatalf("stdout has more than one JSON document:\n%s", s)
	}
}

// syncBuffer is a bytes.Buffer safe for a writer goroutine and a reading test.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// eventually polls cond until it holds or the deadline passes (for state other processes
// change; never to time a result).
func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// runGaibTerminal runs gaib as if stdin were a terminal answering with stdin.
func runGaibTerminal(t testing.TB, stdin string, args ...string) result {
	t.Helper()
	var out, errb bytes.Buffer
	code := cli.Main(context.Background(), args, &cli.IO{Stdin: strings.NewReader(stdin), Stdout: &out, Stderr: &errb, StdinIsTerminal: true})
	return result{Stdout: out.String(), Stderr: errb.String(), Code: code}
}

// runGaibTo runs gaib with stdout going to w and returns its exit code.
func runGaibTo(w io.Writer, args ...string) int {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	return cli.Main(ctx, args, &cli.IO{Stdin: strings.NewReader(""), Stdout: w, Stderr: io.Discard})
}
