package integration

import (
	"context"
	"encoding/json"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"sigs.k8s.io/yaml"

	"github.com/arrakis/gaib/cli"
	"github.com/arrakis/gaib/client"
	"github.com/arrakis/gaib/embedded/embeddedtest"
	"github.com/arrakis/gaib/sandbox"
	"github.com/arrakis/gaib/services"
)

// TestTailFollowsTheSandboxAndEndsWhenItIsDestroyed follows a sandbox while it changes and
// is destroyed under the connected tail: the tail notes each change, prints the event, and
// ends by itself (exit 0) saying why.
func TestTailFollowsTheSandboxAndEndsWhenItIsDestroyed(t *testing.T) {
	m := startMesh(t, services.MeshConfig{})
	m.gaib(t, "sandbox", "create", "followed", "--guild", guildA).must(t)
	tail := startBackground(t, "--server", m.URL, "--creds", m.creds[tester], "sandbox", "events", "followed")
	eventually(t, "the tail's header", func() bool { return strings.Contains(tail.err.String(), "Health: nats ok, routes ok") })
	if h := tail.err.String(); !strings.Contains(h, "Following sandbox followed") || !strings.Contains(h, "guild "+guildA) {
		t.Fatalf("header: %s", h)
	}
	m.gaib(t, "sandbox", "register-guild", "followed", guildB).must(t)
	m.gaib(t, "sandbox", "extend", "followed", "--ttl", "1h").must(t)
	m.gaib(t, "events", "publish", "--guild", guildB, "--type", "member.leave").must(t)
	eventually(t, "the event", func() bool { return strings.Contains(tail.out.String(), "events.member.leave") })
	eventually(t, "the changes", func() bool {
		e := tail.err.String()
		return strings.Contains(e, "guild "+guildB+" now routes to sandbox followed") && strings.Contains(e, "sandbox followed now expires in 1d")
	})
	m.gaib(t, "sandbox", "destroy", "followed", "--yes").must(t)
	if code := tail.exit(t, "the tail"); code != 0 {
		t.Fatalf("tail exited %d: %s", code, tail.err.String())
	}
	if e := tail.err.String(); !strings.Contains(e, "sandbox followed is destroying") || !strings.Contains(e, "Sandbox followed was destroyed") {
		t.Fatalf("the tail did not say why it ended: %s", e)
	}
}

// TestSameAnswerWhicheverWayTheSandboxIsNamed runs every command that names a sandbox on a
// destroyed one, by its old name and by its id: the exit codes match.
func TestSameAnswerWhicheverWayTheSandboxIsNamed(t *testing.T) {
	m := startMesh(t, services.MeshConfig{})
	rec := m.gaib(t, "--json", "sandbox", "create", "twin").must(t).record(t)
	m.gaib(t, "sandbox", "destroy", "twin", "--yes").must(t)
	for _, tc := range []struct {
		args []string
		code int
	}{
		{[]string{"sandbox", "status", "REF"}, 0},
		{[]string{"sandbox", "destroy", "REF", "--yes"}, 0},
		{[]string{"sandbox", "extend", "REF", "--ttl", "1h"}, sandbox.ExitConflict},
		{[]string{"sandbox", "connect", "REF"}, sandbox.ExitConflict},
		{[]string{"sandbox", "register-guild", "REF", guildA}, sandbox.ExitConflict},
		{[]string{"sandbox", "unregister-guild", "REF", guildA}, 0},
		{[]string{"sandbox", "events", "REF"}, sandbox.ExitConflict},
		{[]string{"sandbox", "status", "REF", "--watch"}, 0},
	} {
		for _, ref := range []string{"twin", rec.ID} {
			args := make([]string, len(tc.args))
			for i, a := range tc.args {
				args[i] = strings.ReplaceAll(a, "REF", ref)
			}
			if r := m.gaib(t, args...); r.Code != tc.code {
				t.Errorf("%v: exit %d, want %d\n%s%s", args, r.Code, tc.code, r.Stdout, r.Stderr)
			}
		}
	}
	if st := m.gaib(t, "--json", "sandbox", "status", "twin").must(t).record(t); st.ID != rec.ID || st.Status != sandbox.StatusDestroyed {
		t.Fatalf("status by old name: %+v", st)
	}
	// The name is free: a new sandbox takes it, and the name means the new one.
	again := m.gaib(t, "--json", "sandbox", "create", "twin").must(t).record(t)
	if st := m.gaib(t, "--json", "sandbox", "status", "twin").must(t).record(t); st.ID != again.ID {
		t.Fatalf("the name resolves to %s, want the live %s", st.ID, again.ID)
	}
}

// TestRepeatsSucceedWithANoteAndConflictsNameTheHolder repeats the idempotent commands and
// runs into another owner's guild.
func TestRepeatsSucceedWithANoteAndConflictsNameTheHolder(t *testing.T) {
	m := startMesh(t, services.MeshConfig{})
	m.developer(t, "alice")
	m.gaib(t, "guild", "allow", guildB).must(t)
	m.as(t, "alice", "sandbox", "create", "holder", "--guild", guildB).must(t)
	m.gaib(t, "sandbox", "create", "mine").must(t)

	m.gaib(t, "sandbox", "link", "mine", guildA).must(t)
	r := m.gaib(t, "sandbox", "link", "mine", guildA).must(t)
	if !strings.Contains(r.Stdout, "already routes to sandbox mine; nothing to do") {
		t.Errorf("second link: %q", r.Stdout)
	}
	m.gaib(t, "sandbox", "unlink", "mine", guildA).must(t)
	var resp sandbox.GuildResponse
	decodeStrict(t, m.gaib(t, "--json", "sandbox", "unlink", "mine", guildA).must(t).Stdout, &resp)
	if !strings.Contains(resp.Note, "is not registered to sandbox mine (its events go to production); nothing to do") {
		t.Errorf("second unlink: %+v", resp)
	}

	r = m.gaib(t, "sandbox", "link", "mine", guildB)
	if r.Code != sandbox.ExitConflict || !strings.Contains(r.Stderr, `sandbox "holder" of alice`) {
		t.Errorf("link of a held guild: exit %d %q", r.Code, r.Stderr)
	}
	r = m.gaib(t, "sandbox", "unlink", "mine", guildB).must(t)
	if !strings.Contains(r.Stdout, "its events go to sandbox holder of alice") {
		t.Errorf("unlink of a guild held elsewhere: %q", r.Stdout)
	}
	if r := m.gaib(t, "router", "lookup", guildB).must(t); !strings.Contains(r.Stdout, "goes to sandbox holder of alice") {
		t.Errorf("router lookup: %q", r.Stdout)
	}
	// alice's route is untouched by all this.
	if r := m.gaib(t, "-o", "name", "router", "lookup", guildB).must(t); strings.TrimSpace(r.Stdout) != "holder" {
		t.Errorf("the held guild moved: %q", r.Stdout)
	}

	m.gaib(t, "sandbox", "destroy", "mine", "--yes").must(t)
	r = m.gaib(t, "sandbox", "destroy", "mine", "--yes").must(t)
	if !strings.Contains(r.Stdout, "was already destroyed") {
		t.Errorf("second destroy: %q", r.Stdout)
	}
}

func TestEventsPublishSaysWhereTheEventsGo(t *testing.T) {
	m := startMesh(t, services.MeshConfig{})
	rec := m.gaib(t, "--json", "sandbox", "create", "dest", "--guild", guildA).must(t).record(t)
	r := m.gaib(t, "events", "publish", "--guild", guildA, "--count", "2").must(t)
	want := "The router sends them to sandbox dest of tester (" + sandbox.SandboxSubject(rec.ID, "events.member.join") + ")"
	if !strings.Contains(r.Stdout, want) || !strings.Contains(r.Stdout, "Published 2 member.join events of guild "+guildA) {
		t.Errorf("publish to a routed guild:\n%s", r.Stdout)
	}
	if r := m.gaib(t, "events", "publish", "--guild", guildB).must(t); !strings.Contains(r.Stdout, "The router sends it to production (events.member.join)") {
		t.Errorf("publish to an unrouted guild:\n%s", r.Stdout)
	}
	var doc struct {
		Route client.Route `json:"route"`
	}
	decodeStrict(t, m.gaib(t, "--json", "events", "publish", "--guild", guildA, "--type", "interaction").must(t).Stdout, &doc)
	if doc.Route.To != "sandbox" || doc.Route.Sandbox != "dest" || doc.Route.Subject != sandbox.SandboxSubject(rec.ID, "commands.interaction") {
		t.Errorf("publish -o json route: %+v", doc.Route)
	}
	if r := m.gaib(t, "events", "publish", "--sandbox", "dest").must(t); !strings.Contains(r.Stdout, "It went straight into sandbox dest's own stream") {
		t.Errorf("publish --sandbox:\n%s", r.Stdout)
	}
}

// TestHumanOutputStripsControlCharacters tampers a record and an event with terminal
// escapes: human output never carries them, JSON keeps them exactly.
func TestHumanOutputStripsControlCharacters(t *testing.T) {
	m := startMesh(t, services.MeshConfig{})
	rec := m.gaib(t, "--json", "sandbox", "create", "tampered").must(t).record(t)
	evil := "\x1b[2J\x1b]0;pwned\x07\u009b31m\r\u202e"
	if _, err := m.Store.UpdateRecord(context.Background(), rec.ID, func(r *sandbox.Record) error {
		r.TTL = "1d" + evil
		r.Error = &sandbox.Error{Code: sandbox.CodeInternal, Message: "boom" + evil}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{{"sandbox", "status", "tampered"}, {"sandbox", "list"}, {"sandbox", "list", "-o", "wide"}} {
		r := m.gaib(t, args...)
		if out := r.Stdout + r.Stderr; strings.ContainsAny(out, "\x1b\x07\r\u009b\u202e") || !strings.Contains(out, "tampered") {
			t.Errorf("%v printed control characters: %q", args, out)
		}
	}
	if st := m.gaib(t, "--json", "sandbox", "status", "tampered").record(t); st.TTL != "1d"+evil || st.Error.Message != "boom"+evil {
		t.Errorf("JSON changed the data: %q %q", st.TTL, st.Error.Message)
	}

	tail := startBackground(t, "--server", m.URL, "--creds", m.creds[tester], "sandbox", "events", "tampered", "--all", "--count", "1")
	jsonTail := startBackground(t, "--server", m.URL, "--creds", m.creds[tester], "-o", "json", "sandbox", "events", "tampered", "--all", "--count", "1")
	data := `{"text":"` + "\u009b2J\u202eevil" + `"}`
	m.gaib(t, "events", "publish", "--sandbox", "tampered", "--data", data).must(t)
	if code := tail.exit(t, "the tail"); code != 0 {
		t.Errorf("the tail exited %d: %s %s", code, tail.err.String(), tail.out.String())
	}
	if code := jsonTail.exit(t, "the JSON tail"); code != 0 {
		t.Errorf("the JSON tail exited %d: %s %s", code, jsonTail.err.String(), jsonTail.out.String())
	}
	if out := tail.out.String(); strings.ContainsAny(out, "\u009b\u202e") || !strings.Contains(out, "2Jevil") {
		t.Errorf("the tail printed control characters: %q (stderr %q)", out, tail.err.String())
	}
	var ev client.Event
	decodeStrict(t, jsonTail.out.String(), &ev)
	var env struct {
		Data json.RawMessage `json:"data"`
	}
	if err := json.Unmarshal(ev.Data, &env); err != nil || string(env.Data) != data {
		t.Errorf("the JSON tail changed the event: %s", ev.Data)
	}
}

func TestOutputFormats(t *testing.T) {
	m := startMesh(t, services.MeshConfig{})
	if r := m.gaib(t, "--version").must(t); r.Stdout != "gaib "+services.Version+"\nmesh "+services.Version+" at "+m.URL+"\n" {
		t.Errorf("--version with the mesh up: %q", r.Stdout)
	}
	if r := m.gaib(t, "-o", "name", "sandbox", "create", "shape").must(t); r.Stdout != "shape\n" {
		t.Fatalf("create -o name: %q", r.Stdout)
	}
	m.gaib(t, "sandbox", "create", "form").must(t)
	if r := m.gaib(t, "sandbox", "list", "-o", "name").must(t); r.Stdout != "shape\nform\n" {
		t.Fatalf("list -o name: %q", r.Stdout)
	}
	var st sandbox.StatusResponse
	if err := yaml.UnmarshalStrict([]byte(m.gaib(t, "sandbox", "status", "shape", "-o", "yaml").must(t).Stdout), &st); err != nil || st.Name != "shape" || len(st.Health) == 0 {
		t.Fatalf("status -o yaml: %+v %v", st, err)
	}
	var list []sandbox.Record
	if err := yaml.Unmarshal([]byte(m.gaib(t, "-o", "yaml", "sandbox", "list").must(t).Stdout), &list); err != nil || len(list) != 2 {
		t.Fatalf("list -o yaml: %v %v", list, err)
	}
	r := m.gaib(t, "-o", "yaml", "sandbox", "status", "nosuch")
	var doc sandbox.ErrorBody
	if r.Code != sandbox.ExitNotFound || yaml.Unmarshal([]byte(r.Stdout), &doc) != nil || doc.Error == nil || doc.Error.Code != sandbox.CodeNotFound {
		t.Fatalf("an error with -o yaml: exit %d %q", r.Code, r.Stdout)
	}
}

// TestTheSandboxEnvironmentDoesNotHijackTheCLI runs gaib in a shell that evaluated
// `sandbox connect`: NATS_CREDS is the sandbox's credential, and gaib acts as you anyway.
func TestTheSandboxEnvironmentDoesNotHijackTheCLI(t *testing.T) {
	m := startMesh(t, services.MeshConfig{})
	var conn struct {
		Env map[string]string `json:"env"`
	}
	m.gaib(t, "sandbox", "create", "hijack-me").must(t)
	decodeStrict(t, m.gaib(t, "--json", "sandbox", "connect", "hijack-me").must(t).Stdout, &conn)
	for k, v := range conn.Env {
		t.Setenv(k, v)
	}
	config := t.TempDir()
	t.Setenv("XDG_CONFIG_HOME", config)
	// No credential of your own: gaib says so rather than acting as the sandbox.
	if r := runGaib(t, "", "user", "whoami"); r.Code != sandbox.ExitForbidden || !strings.Contains(r.Stderr, "no credential") {
		t.Fatalf("whoami with only the sandbox's credential: exit %d %q", r.Code, r.Stderr)
	}
	b, err := os.ReadFile(m.creds[tester])
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(config, "gaib"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(config, "gaib", "local.creds"), b, 0o600); err != nil {
		t.Fatal(err)
	}
	if r := runGaib(t, "", "user", "whoami").must(t); !strings.HasPrefix(r.Stdout, "tester (admin)") {
		t.Fatalf("whoami in the sandbox's shell: %q", r.Stdout)
	}
	runGaib(t, "", "sandbox", "destroy", "hijack-me", "--yes").must(t)
	// An explicit --creds is always used as given.
	if r := runGaib(t, "", "--creds", conn.Env["NATS_CREDS"], "sandbox", "list"); r.Code == 0 {
		t.Fatalf("--creds with a sandbox's (revoked) credential worked: %q", r.Stdout)
	}
}

// stallingProxy forwards TCP connections to target until stalled; then it holds every
// byte, so that clients time out as against a server that hangs.
type stallingProxy struct {
	addr    string
	stalled atomic.Bool
}

func startStallingProxy(t *testing.T, target string) *stallingProxy {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &stallingProxy{addr: l.Addr().String()}
	t.Cleanup(func() { _ = l.Close() })
	pump := func(dst, src net.Conn) {
		defer dst.Close()
		buf := make([]byte, 32<<10)
		for {
			n, err := src.Read(buf)
			for p.stalled.Load() {
				time.Sleep(10 * time.Millisecond)
			}
			if n > 0 {
				if _, werr := dst.Write(buf[:n]); werr != nil {
					return
				}
			}
			if err != nil {
				return
			}
		}
	}
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			s, err := net.Dial("tcp", target)
			if err != nil {
				c.Close()
				continue
			}
			t.Cleanup(func() { c.Close(); s.Close() })
			go pump(s, c)
			go pump(c, s)
		}
	}()
	return p
}

// TestHealthReportsTheRealError makes Redis hang (it does not answer; nothing is missing):
// status says the check timed out, not that the user does not exist, and exits 7.
func TestHealthReportsTheRealError(t *testing.T) {
	real := embeddedtest.NewRedis(t).URL()
	u, err := url.Parse(real)
	if err != nil {
		t.Fatal(err)
	}
	proxy := startStallingProxy(t, u.Host)
	u.Host = proxy.addr
	pm := startPlaneMeshOn(t, embeddedtest.Database(t), u.String(), services.MeshConfig{}, nil)
	pm.gaib(t, "sandbox", "create", "hanging").must(t)
	proxy.stalled.Store(true)
	r := pm.gaib(t, "--json", "sandbox", "status", "hanging")
	proxy.stalled.Store(false)
	// Roles are cluster-wide: leave none behind for the tests that count them.
	defer pm.gaib(t, "sandbox", "destroy", "hanging", "--yes").must(t)
	var st sandbox.StatusResponse
	decodeStrict(t, r.Stdout, &st)
	if r.Code != cli.ExitUnhealthy {
		t.Fatalf("status with a hanging Redis: exit %d %s", r.Code, r.Stdout)
	}
	for _, h := range st.Health {
		switch {
		case h.Plane == "redis" && (h.OK || strings.Contains(h.Message, "does not exist") || !strings.Contains(h.Message, "timeout")):
			t.Errorf("redis health: %+v", h)
		case h.Plane != "redis" && !h.OK:
			t.Errorf("%s reported unhealthy: %+v", h.Plane, h)
		}
	}
}

// TestInterruptedRequest: Ctrl-C during a one-shot request ends it with 130 and says the
// mesh may still finish it.
func TestInterruptedRequest(t *testing.T) {
	m := startMesh(t, services.MeshConfig{})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	var out, errb syncBuffer
	code := runGaibCtx(ctx, &out, &errb, "--server", m.URL, "--creds", m.creds[tester], "sandbox", "create", "interrupted")
	if code != cli.ExitInterrupted || !strings.Contains(errb.String(), "interrupted") || out.String() != "" {
		t.Fatalf("exit %d, stdout %q, stderr %q", code, out.String(), errb.String())
	}
}
