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

	"github.com/arrakis/gaib/cli"
	"github.com/arrakis/gaib/embedded/embeddedtest"
	gjs "github.com/arrakis/gaib/jetstream"
	"github.com/arrakis/gaib/sandbox"
	"github.com/arrakis/gaib/services"
)

func TestMain(m *testing.M) {
	// The owner of every sandbox the tests create unless they say otherwise.
	os.Setenv("GAIB_OWNER", "tester")
	os.Unsetenv("NATS_URL")
	code := m.Run()
	embeddedtest.StopAll()
	os.Exit(code)
}

// testMesh is a running mesh on its own embedded NATS server.
type testMesh struct {
	URL   string
	NC    *nats.Conn
	Store *gjs.Store
	Mesh  *services.Mesh
}

// startMesh starts an embedded server and the mesh on it, configured by cfg.
func startMesh(t testing.TB, cfg services.MeshConfig) *testMesh {
	t.Helper()
	ns := embeddedtest.NATS(t)
	return startMeshOn(t, ns.ClientURL(), cfg)
}

func startMeshOn(t testing.TB, url string, cfg services.MeshConfig) *testMesh {
	t.Helper()
	nc := embeddedtest.Conn(t, url)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	store, err := gjs.Open(ctx, js, gjs.Config{})
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	if cfg.SweepInterval == 0 {
		cfg.SweepInterval = -1 // tests sweep on demand, with their own clock
	}
	cfg.Sandbox.NATSURL = url
	m, err := services.StartMesh(context.Background(), nc, store, cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatalf("start mesh: %v", err)
	}
	t.Cleanup(func() { _ = m.Stop() })
	return &testMesh{URL: url, NC: nc, Store: store, Mesh: m}
}

// result is what one gaib invocation printed and returned.
type result struct {
	Stdout, Stderr string
	Code           int
}

// gaib runs the real CLI in-process against the mesh, stdin not a terminal.
func (m *testMesh) gaib(t testing.TB, args ...string) result {
	t.Helper()
	return runGaib(t, "", append([]string{"--server", m.URL}, args...)...)
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

// startBareNATS starts a server with no gaib services on it.
func startBareNATS(t testing.TB) string {
	t.Helper()
	return embeddedtest.NATS(t).ClientURL()
}

// runGaibTo runs gaib with stdout going to w and returns its exit code.
func runGaibTo(w io.Writer, args ...string) int {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	return cli.Main(ctx, args, &cli.IO{Stdin: strings.NewReader(""), Stdout: w, Stderr: io.Discard})
}

func embeddedtestConn(t testing.TB, url string) *nats.Conn { return embeddedtest.Conn(t, url) }
