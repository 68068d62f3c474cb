package integration

import (
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/micro"

	"github.com/arrakis/gaib/auth/authtest"
	"github.com/arrakis/gaib/sandbox"
	"github.com/arrakis/gaib/services"
)

var badNames = []string{"../x", "a;b", "$(id)", strings.Repeat("a", 41), "Upper", "-lead", "trail-",
	"a b", "a_b", "x'; DROP SCHEMA public CASCADE; --", "`reboot`", "é", "a\nb"}

func TestBadNamesAreRefusedAndChangeNothing(t *testing.T) {
	m := startMesh(t, services.MeshConfig{})
	m.gaib(t, "sandbox", "create", "keep").must(t)
	for _, name := range badNames {
		r := m.gaib(t, "--json", "sandbox", "create", "--", name)
		if r.Code != sandbox.ExitUsage || r.errorCode(t) != sandbox.CodeInvalidName {
			t.Errorf("create %q: exit %d %s", name, r.Code, r.Stdout)
		}
		for _, cmd := range [][]string{{"status", "--", name}, {"destroy", "--yes", "--", name}, {"extend", "--ttl", "1h", "--", name}} {
			r := m.gaib(t, append([]string{"--json", "sandbox"}, cmd...)...)
			if r.Code != sandbox.ExitUsage || r.errorCode(t) != sandbox.CodeInvalidName {
				t.Errorf("%s %q: exit %d %s", cmd[0], name, r.Code, r.Stdout)
			}
		}
	}
	// An empty name is refused as well (create with "" picks a default, so status).
	if r := m.gaib(t, "--json", "sandbox", "status", ""); r.Code != sandbox.ExitUsage {
		t.Errorf("status \"\": exit %d %s", r.Code, r.Stdout)
	}
	var list []sandbox.Record
	decodeStrict(t, m.gaib(t, "--json", "sandbox", "list", "--all").must(t).Stdout, &list)
	if len(list) != 1 || list[0].Name != "keep" || list[0].Status != sandbox.StatusRunning {
		t.Fatalf("bad input changed the sandboxes: %+v", list)
	}
}

func TestUnknownSandboxAndBadOptions(t *testing.T) {
	m := startMesh(t, services.MeshConfig{})
	for _, args := range [][]string{
		{"sandbox", "status", "ghost"}, {"sandbox", "destroy", "ghost", "--yes"},
		{"sandbox", "extend", "ghost", "--ttl", "1h"}, {"sandbox", "connect", "ghost"},
	} {
		r := m.gaib(t, append([]string{"--json"}, args...)...)
		if r.Code != sandbox.ExitNotFound || r.errorCode(t) != sandbox.CodeNotFound {
			t.Errorf("%v: exit %d %s", args, r.Code, r.Stdout)
		}
	}
	for _, args := range [][]string{
		{"sandbox", "list", "--status", "sleeping"},
		{"sandbox", "create", "g", "--guild", "12345"},
		{"sandbox", "create", "g", "--guild", "1234567890123456789a"},
		{"sandbox", "create", "g", "--owner", "bad owner"},
		{"sandbox", "frobnicate"},
		{"sandbox", "extend", "g"},
	} {
		r := m.gaib(t, append([]string{"--json"}, args...)...)
		if r.Code != sandbox.ExitUsage {
			t.Errorf("%v: exit %d %s", args, r.Code, r.Stdout)
		}
		r.errorCode(t)
	}
}

func TestMalformedRequestsStraightToSubjects(t *testing.T) {
	m := startMesh(t, services.MeshConfig{})
	m.gaib(t, "sandbox", "create", "keep").must(t)
	bodies := map[string][]byte{
		"garbage":       []byte("garbage"),
		"array":         []byte("[1,2,3]"),
		"wrong types":   []byte(`{"name": 42, "owner": true}`),
		"unknown field": []byte(`{"sandbox":"keep","drop":"table"}`),
		"two documents": []byte(`{} {}`),
		"binary":        {0xff, 0x00, 0xfe, 0x01},
		"oversized":     []byte(`{"name":"` + strings.Repeat("x", sandbox.MaxRequestBytes) + `"}`),
	}
	for _, ep := range [][2]string{
		{sandbox.ServiceSandbox, sandbox.OpCreate}, {sandbox.ServiceSandbox, sandbox.OpGet}, {sandbox.ServiceSandbox, sandbox.OpList},
		{sandbox.ServiceSandbox, sandbox.OpDestroy}, {sandbox.ServiceSandbox, sandbox.OpExtend}, {sandbox.ServiceSandbox, sandbox.OpConnect},
		{sandbox.ServiceSandbox, sandbox.OpRegister}, {sandbox.ServiceSandbox, sandbox.OpUnregister}, {sandbox.ServiceSandbox, sandbox.OpWatch},
		{sandbox.ServiceUser, sandbox.OpUserAdd}, {sandbox.ServiceUser, sandbox.OpUserRevoke},
		{sandbox.ServiceGuild, sandbox.OpGuildAllow}, {sandbox.ServiceGuild, sandbox.OpGuildDeny},
	} {
		op := ep[0] + "." + ep[1]
		for what, body := range bodies {
			msg := m.request(t, ep[0], ep[1], tester, body)
			code := msg.Header.Get(micro.ErrorCodeHeader)
			want := string(sandbox.CodeInvalidRequest)
			if what == "oversized" {
				want = string(sandbox.CodeTooLarge)
			}
			if code != want {
				t.Errorf("%s with %s: code %q, want %q (%s)", op, what, code, want, msg.Data)
			}
		}
	}
	// A caller token that names no registered identity is refused before anything runs.
	for _, caller := range []string{"nobody", "Tester", "x"} {
		msg := m.request(t, sandbox.ServiceSandbox, sandbox.OpCreate, caller, []byte(`{"name":"intruder"}`))
		if code := msg.Header.Get(micro.ErrorCodeHeader); code != string(sandbox.CodeUnauthenticated) {
			t.Errorf("create as %q: code %q (%s)", caller, code, msg.Data)
		}
	}
	var list []sandbox.Record
	decodeStrict(t, m.gaib(t, "--json", "sandbox", "list", "--all").must(t).Stdout, &list)
	if len(list) != 1 || list[0].Status != sandbox.StatusRunning {
		t.Fatalf("malformed requests changed the sandboxes: %+v", list)
	}
}

func TestMeshUnreachable(t *testing.T) {
	r := runGaib(t, "", "--json", "--server", "nats://127.0.0.1:1", "sandbox", "list")
	if r.Code != sandbox.ExitUnreachable || r.errorCode(t) != sandbox.CodeUnavailable {
		t.Fatalf("exit %d %s", r.Code, r.Stdout)
	}
	r = runGaib(t, "", "--server", "nats://127.0.0.1:1", "sandbox", "list")
	if !strings.Contains(r.Stderr, "gaib serve") || r.Stdout != "" {
		t.Fatalf("the message does not say how to start the mesh: %q", r.Stderr)
	}
	// A NATS server without the services: no responders, same code.
	d := authtest.Start(t, nil)
	creds, _, err := d.Issuer.NewIdentity("someone", sandbox.RoleDeveloper, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	r = runGaib(t, "", "--json", "--server", d.URL, "--creds", authtest.CredsFile(t, creds), "sandbox", "list")
	if r.Code != sandbox.ExitUnreachable || r.errorCode(t) != sandbox.CodeUnavailable {
		t.Logf("%s %s", r.Stdout, r.Stderr)
		t.Fatalf("no services: exit %d %s", r.Code, r.Stdout)
	}
}

func TestDestroyConfirmation(t *testing.T) {
	m := startMesh(t, services.MeshConfig{})
	m.gaib(t, "sandbox", "create", "precious").must(t)
	r := m.gaib(t, "--json", "sandbox", "destroy", "precious")
	if r.Code != sandbox.ExitUsage || !strings.Contains(r.Stdout, "--yes") {
		t.Fatalf("destroy without --yes on a pipe: exit %d %s", r.Code, r.Stdout)
	}
	answer := func(a string) result {
		return runGaibTerminal(t, a+"\n", "--server", m.URL, "--creds", m.creds[tester], "sandbox", "destroy", "precious")
	}
	if r := answer("n"); r.Code != sandbox.ExitFailure || !strings.Contains(r.Stderr, "Destroy sandbox precious") || !strings.Contains(r.Stderr, "Not destroyed.") {
		t.Fatalf("answer n: exit %d %q", r.Code, r.Stderr)
	}
	m.gaib(t, "sandbox", "status", "precious").must(t)
	if r := answer("y"); r.Code != 0 {
		t.Fatalf("answer y: exit %d %q", r.Code, r.Stderr)
	}
	if st := m.gaib(t, "--json", "sandbox", "status", "precious").must(t).record(t); st.Status != sandbox.StatusDestroyed {
		t.Fatalf("not destroyed after yes: %s", st.Status)
	}
}
