package integration

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/arrakis/gaib/client"
	"github.com/arrakis/gaib/sandbox"
	"github.com/arrakis/gaib/services"
)

// configWorkerEnv, when set, makes the test binary a bot worker that reads its config over
// NATS (see configWorker). The test runs it with `gaib sandbox run`, so it holds exactly
// what a worker holds: the sandbox's environment and its own NATS credential.
const configWorkerEnv = "GAIB_TEST_CONFIG_WORKER"

// init runs before TestMain, so the re-executed binary becomes the worker without running
// any test.
func init() {
	if os.Getenv(configWorkerEnv) != "" {
		os.Exit(configWorker())
	}
}

// configWorker asks for its config on sandbox.<id>.config.get, prints it ("config {…}"),
// says "ready", waits for one notice on sandbox.<id>.config.changed ("changed {…}") and
// asks again ("after {…}").
func configWorker() int {
	id := os.Getenv("SANDBOX_ID")
	nc, err := nats.Connect(os.Getenv("NATS_URL"), nats.UserCredentials(os.Getenv("NATS_CREDS")),
		nats.CustomInboxPrefix(os.Getenv("NATS_INBOX_PREFIX")))
	if err != nil {
		fmt.Println("error", err)
		return 1
	}
	defer nc.Close()
	changes, err := nc.SubscribeSync(sandbox.ConfigChangedSubject(id))
	if err == nil {
		err = nc.Flush()
	}
	if err != nil {
		fmt.Println("error", err)
		return 1
	}
	ask := func(label string) bool {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		wc, err := client.WorkerConfig(ctx, nc, id)
		if err != nil {
			fmt.Println("error", err)
			return false
		}
		b, _ := json.Marshal(wc)
		fmt.Println(label, string(b))
		return true
	}
	if !ask("config") {
		return 1
	}
	fmt.Println("ready")
	msg, err := changes.NextMsg(30 * time.Second)
	if err != nil {
		fmt.Println("error", err)
		return 1
	}
	fmt.Println("changed", string(msg.Data))
	if !ask("after") {
		return 1
	}
	return 0
}

// workerLine decodes the WorkerConfig a config worker printed after label.
func workerLine(t *testing.T, out, label string) sandbox.WorkerConfig {
	t.Helper()
	for line := range strings.Lines(out) {
		if rest, ok := strings.CutPrefix(line, label+" "); ok {
			var wc sandbox.WorkerConfig
			if err := json.Unmarshal([]byte(rest), &wc); err != nil {
				t.Fatalf("%s: %v", label, err)
			}
			return wc
		}
	}
	t.Fatalf("the worker printed no %q line:\n%s", label, out)
	return sandbox.WorkerConfig{}
}

func envMap(vars []sandbox.EnvVar) map[string]string {
	m := map[string]string{}
	for _, v := range vars {
		m[v.Name] = v.Value
	}
	return m
}

// configOf lists a sandbox's config as identity name, with its secret values.
func (m *testMesh) configOf(t *testing.T, name, ref string) sandbox.ConfigResponse {
	t.Helper()
	var resp sandbox.ConfigResponse
	decodeStrict(t, m.as(t, name, "--json", "sandbox", "config", "list", ref, "--show-secrets").must(t).Stdout, &resp)
	return resp
}

const (
	tricky = `it's a "test", with commas=ok; $(touch /tmp/pwned) ` + "`id`"
	secret = "hunter2-very-secret-value"
)

func TestConfigRoundTripThroughRunAndConnect(t *testing.T) {
	m := startMesh(t, services.MeshConfig{})
	m.developer(t, "alice")
	rec := m.as(t, "alice", "--json", "sandbox", "create", "cfg", "--config", "LOG_LEVEL=debug", "--config", "GREETING="+tricky).must(t).record(t)
	m.as(t, "alice", "sandbox", "config", "set", "cfg", "--secret", "API_KEY="+secret).must(t)

	// list: sorted, secret redacted unless asked, in JSON and for people.
	var list sandbox.ConfigResponse
	decodeStrict(t, m.as(t, "alice", "--json", "sandbox", "config", "list", "cfg").must(t).Stdout, &list)
	if list.SandboxID != rec.ID || len(list.Vars) != 3 || list.Vars[0].Key != "API_KEY" || !list.Vars[0].Redacted || list.Vars[0].Value != "" ||
		list.Vars[1] != (sandbox.ConfigVar{Key: "GREETING", Value: tricky}) || list.Vars[2] != (sandbox.ConfigVar{Key: "LOG_LEVEL", Value: "debug"}) {
		t.Fatalf("list: %+v", list)
	}
	human := m.as(t, "alice", "sandbox", "config", "list", "cfg").must(t).Stdout
	if strings.Contains(human, secret) || !strings.Contains(human, sandbox.RedactedValue) || !strings.Contains(human, "debug") {
		t.Fatalf("list for people:\n%s", human)
	}
	if all := m.configOf(t, "alice", "cfg"); all.Vars[0].Value != secret || all.Vars[0].Redacted {
		t.Fatalf("list --show-secrets: %+v", all.Vars[0])
	}
	if got := m.as(t, "alice", "sandbox", "config", "get", "cfg", "LOG_LEVEL").must(t).Stdout; got != "debug\n" {
		t.Fatalf("get LOG_LEVEL: %q", got)
	}
	if got := m.as(t, "alice", "sandbox", "config", "get", "cfg", "API_KEY").must(t).Stdout; got != sandbox.RedactedValue+"\n" {
		t.Fatalf("get API_KEY: %q", got)
	}
	if got := m.as(t, "alice", "sandbox", "config", "get", "cfg", "API_KEY", "--show-secrets").must(t).Stdout; got != secret+"\n" {
		t.Fatalf("get API_KEY --show-secrets: %q", got)
	}

	// run hands every key to the command, values exactly as set.
	envOut := m.as(t, "alice", "sandbox", "run", "cfg", "--", "env").must(t).Stdout
	for _, want := range []string{"LOG_LEVEL=debug\n", "GREETING=" + tricky + "\n", "API_KEY=" + secret + "\n", "SANDBOX_ID=" + rec.ID + "\n"} {
		if !strings.Contains(envOut, want) {
			t.Errorf("run's environment lacks %q:\n%s", want, envOut)
		}
	}
	// connect prints them shell-quoted: a shell that evals it gets the values, runs nothing.
	exports := m.as(t, "alice", "sandbox", "connect", "cfg").must(t).Stdout
	dir := t.TempDir()
	script := filepath.Join(dir, "connect.sh")
	if err := os.WriteFile(script, []byte(exports), 0o600); err != nil {
		t.Fatal(err)
	}
	sh := exec.Command("sh", "-c", `cd "$1" && eval "$(cat connect.sh)" && printf '%s|%s|%s' "$LOG_LEVEL" "$GREETING" "$API_KEY"`, "sh", dir)
	got, err := sh.CombinedOutput()
	if err != nil || string(got) != "debug|"+tricky+"|"+secret {
		t.Fatalf("eval of connect: %v %q\n%s", err, got, exports)
	}
	if _, err := os.Stat("/tmp/pwned"); err == nil {
		t.Fatal("eval of connect ran a command from a config value")
	}

	// unset: gone from run; unsetting it again changes nothing and is no error.
	m.as(t, "alice", "sandbox", "config", "unset", "cfg", "LOG_LEVEL").must(t)
	if again := m.as(t, "alice", "sandbox", "config", "unset", "cfg", "LOG_LEVEL").must(t).Stdout; !strings.Contains(again, "Not set: LOG_LEVEL") {
		t.Errorf("second unset: %q", again)
	}
	m.as(t, "alice", "--json", "sandbox", "config", "get", "cfg", "LOG_LEVEL").errorCodeIs(t, sandbox.CodeNotFound)
	if envOut := m.as(t, "alice", "sandbox", "run", "cfg", "--", "env").must(t).Stdout; strings.Contains(envOut, "LOG_LEVEL=") || !strings.Contains(envOut, "API_KEY="+secret) {
		t.Fatalf("run after unset:\n%s", envOut)
	}
}

func TestConfigWorkerReadsAndFollowsOverNATS(t *testing.T) {
	m := startMesh(t, services.MeshConfig{})
	m.developer(t, "alice")
	rec := m.as(t, "alice", "--json", "sandbox", "create", "bot", "--config", "LOG_LEVEL=info").must(t).record(t)
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	var out syncBuffer
	done := make(chan int, 1)
	go func() {
		done <- runGaibTo(&out, "--server", m.URL, "--creds", m.creds["alice"], "sandbox", "run", "bot", "--",
			"env", configWorkerEnv+"=1", self, "-test.run=^$")
	}()
	eventually(t, "the worker to read its config", func() bool { return strings.Contains(out.String(), "ready") || strings.Contains(out.String(), "error") })
	first := workerLine(t, out.String(), "config")
	if first.SandboxID != rec.ID || envMap(first.Env)["LOG_LEVEL"] != "info" || len(first.Env) != 1 {
		t.Fatalf("config.get answered %+v", first)
	}

	m.as(t, "alice", "sandbox", "config", "set", "bot", "--secret", "TOKEN="+secret).must(t)
	select {
	case code := <-done:
		if code != 0 {
			t.Fatalf("worker exit %d:\n%s", code, out.String())
		}
	case <-time.After(time.Minute):
		t.Fatalf("the worker heard no change:\n%s", out.String())
	}
	changed := workerLine(t, out.String(), "changed")
	if changed.SandboxID != rec.ID || envMap(changed.Env)["TOKEN"] != secret || envMap(changed.Env)["LOG_LEVEL"] != "info" ||
		!slices.Equal(changed.Changed, []string{"TOKEN"}) || changed.Revision <= first.Revision {
		t.Fatalf("config.changed carried %+v (first %+v)", changed, first)
	}
	if after := workerLine(t, out.String(), "after"); envMap(after.Env)["TOKEN"] != secret || after.Revision != changed.Revision {
		t.Fatalf("config.get after the change: %+v", after)
	}
}

// TestConfigIsolation attacks a sandbox's config from another developer and from another
// sandbox's worker holding only its own credential, and checks the victim is untouched.
func TestConfigIsolation(t *testing.T) {
	m := startMesh(t, services.MeshConfig{})
	m.developer(t, "alice")
	m.developer(t, "bob")
	victim := m.as(t, "alice", "--json", "sandbox", "create", "victim", "--config", "PLAIN_A=alice-plain").must(t).record(t)
	m.as(t, "alice", "sandbox", "config", "set", "victim", "--secret", "SECRET_A="+secret).must(t)
	attacker := m.as(t, "bob", "--json", "sandbox", "create", "attacker", "--config", "B_KEY=bob").must(t).record(t)
	before := m.configOf(t, "alice", "victim")
	ijs, _ := jetstream.New(m.NC)
	auditBefore := streamCount(t, ijs, sandbox.StreamAudit)

	// Bob, a developer: forbidden (exit 6) for every config operation on alice's sandbox,
	// by name and by id.
	for _, ref := range []string{"victim", victim.ID} {
		for _, args := range [][]string{
			{"sandbox", "config", "list", ref, "--show-secrets"}, {"sandbox", "config", "get", ref, "SECRET_A", "--show-secrets"},
			{"sandbox", "config", "set", ref, "PLAIN_A=bob-was-here"}, {"sandbox", "config", "unset", ref, "SECRET_A"},
			{"sandbox", "run", ref, "--", "env"}, {"sandbox", "connect", ref},
		} {
			r := m.as(t, "bob", append([]string{"--json"}, args...)...)
			r.errorCodeIs(t, sandbox.CodeForbidden)
			if strings.Contains(r.Stdout+r.Stderr, secret) || strings.Contains(r.Stdout+r.Stderr, "alice-plain") {
				t.Fatalf("%v leaked alice's config: %s", args, r.Stdout)
			}
		}
	}

	// Bob's worker, holding only its sandbox's credential (from connect).
	env := connectEnvOf(t, m, "bob", "attacker")
	w := probeConn(t, env["NATS_URL"], env["NATS_CREDS"], env["NATS_INBOX_PREFIX"])
	// Another sandbox's subjects are refused by NATS itself.
	w.cannotPublish(t, sandbox.ConfigGetSubject(victim.ID), "sandbox.*.config.get", "sandbox.>",
		"$JS.API.DIRECT.GET.KV_"+sandbox.BucketConfig, "$JS.API.DIRECT.GET.KV_"+sandbox.BucketConfig+".$KV."+sandbox.BucketConfig+"."+victim.ID,
		"$KV."+sandbox.BucketConfig+"."+victim.ID, sandbox.ConfigChangedSubject(victim.ID))
	w.cannotSubscribe(t, sandbox.ConfigChangedSubject(victim.ID), "sandbox.*.config.changed", "sandbox.*.config.get", "$KV."+sandbox.BucketConfig+".>")
	short, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	if _, err := client.WorkerConfig(short, w.nc, victim.ID); err == nil {
		t.Fatal("bob's worker read alice's config")
	}

	// Alice's worker listens on its inbox and its namespace; the inspector on what the mesh
	// must never be made to publish into.
	aliceEnv := connectEnvOf(t, m, "alice", "victim")
	aw := probeConn(t, aliceEnv["NATS_URL"], aliceEnv["NATS_CREDS"], aliceEnv["NATS_INBOX_PREFIX"])
	aliceInbox, _ := aw.nc.SubscribeSync(sandbox.SandboxInbox(victim.ID) + ".>")
	aliceNS, _ := aw.nc.SubscribeSync(sandbox.SandboxWildcard(victim.ID))
	spy, _ := m.NC.SubscribeSync("gateway.>")
	ownNS, _ := m.NC.SubscribeSync(sandbox.SandboxSubject(attacker.ID, "events.>"))
	for _, nc := range []*nats.Conn{aw.nc, m.NC} {
		if err := nc.Flush(); err != nil {
			t.Fatal(err)
		}
	}

	// Tricks on its own subject: a body, headers and reply subjects naming alice's sandbox,
	// or pointing the answer at places bob's worker cannot publish to.
	for _, body := range []string{`{"sandbox":"victim"}`, `{"sandbox":"` + victim.ID + `","sandbox_id":"` + victim.ID + `"}`, victim.ID} {
		msg := nats.NewMsg(sandbox.ConfigGetSubject(attacker.ID))
		msg.Data = []byte(body)
		msg.Header.Set("Sandbox-Id", victim.ID)
		msg.Header.Set("Nats-Service-Caller", "alice")
		reply, err := w.nc.RequestMsg(msg, 5*time.Second)
		if err != nil {
			t.Fatalf("own config with body %s: %v", body, err)
		}
		wc, err := client.DecodeWorkerConfig(reply)
		if err != nil || wc.SandboxID != attacker.ID || len(wc.Env) != 1 || envMap(wc.Env)["B_KEY"] != "bob" || bytes.Contains(reply.Data, []byte(secret)) {
			t.Fatalf("the responder answered %s: %v", reply.Data, err)
		}
	}
	for _, reply := range []string{
		sandbox.SandboxInbox(victim.ID) + ".stolen", sandbox.ConfigChangedSubject(victim.ID), sandbox.SandboxSubject(victim.ID, "events.member.join"),
		"gateway.events.member.join", sandbox.AuditSubject(victim.ID, "config-set"), sandbox.SandboxSubject(attacker.ID, "events.x"),
		sandbox.Request(sandbox.ServiceSandbox, sandbox.OpConfigSet, "alice"), "_INBOX.user.alice.x",
	} {
		if err := w.nc.PublishRequest(sandbox.ConfigGetSubject(attacker.ID), reply, nil); err != nil {
			t.Fatal(err)
		}
	}
	// One subscription answers in order: once this answer is back, every trick was handled.
	barrier, cancel2 := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel2()
	if _, err := client.WorkerConfig(barrier, w.nc, attacker.ID); err != nil {
		t.Fatalf("own config: %v", err)
	}
	for _, nc := range []*nats.Conn{aw.nc, m.NC} {
		if err := nc.Flush(); err != nil {
			t.Fatal(err)
		}
	}
	for name, sub := range map[string]*nats.Subscription{"alice's inbox": aliceInbox, "alice's namespace": aliceNS, "the gateway": spy, "bob's stream": ownNS} {
		if msg, err := sub.NextMsg(200 * time.Millisecond); err == nil {
			t.Errorf("the mesh published into %s on %s: %s", name, msg.Subject, msg.Data)
		}
	}

	// A flood of config requests is bounded per sandbox: bob's worker is told to slow down,
	// alice's worker is still answered.
	flood := sandbox.SandboxInbox(attacker.ID) + ".flood"
	answers, err := w.nc.SubscribeSync(flood + ".*")
	if err != nil {
		t.Fatal(err)
	}
	for i := range 200 {
		if err := w.nc.PublishRequest(sandbox.ConfigGetSubject(attacker.ID), fmt.Sprintf("%s.%d", flood, i), nil); err != nil {
			t.Fatal(err)
		}
	}
	slowed := 0
	for range 200 {
		msg, err := answers.NextMsg(10 * time.Second)
		if err != nil {
			t.Fatalf("the flood was not answered: %v", err)
		}
		if _, err := client.DecodeWorkerConfig(msg); hasCode(err, sandbox.CodeQuotaExceeded) {
			slowed++
		}
	}
	if slowed == 0 || slowed == 200 {
		t.Fatalf("%d of 200 requests in a burst were refused", slowed)
	}

	// Alice's own worker still reads exactly her config; nothing changed, nothing audited.
	ctx, cancel3 := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel3()
	wc, err := client.WorkerConfig(ctx, aw.nc, victim.ID)
	if err != nil || envMap(wc.Env)["SECRET_A"] != secret || envMap(wc.Env)["PLAIN_A"] != "alice-plain" || len(wc.Env) != 2 {
		t.Fatalf("alice's worker: %+v %v", wc, err)
	}
	after := m.configOf(t, "alice", "victim")
	if !slices.Equal(after.Vars, before.Vars) || !after.UpdatedAt.Equal(before.UpdatedAt) {
		t.Fatalf("alice's config changed under attack: %+v, was %+v", after.Vars, before.Vars)
	}
	if n := streamCount(t, ijs, sandbox.StreamAudit); n != auditBefore {
		t.Fatalf("the audit trail changed under attack: %d entries, was %d", n, auditBefore)
	}
}

// connectEnvOf runs `gaib sandbox connect` as identity name and returns what a worker gets.
func connectEnvOf(t *testing.T, m *testMesh, name, ref string) map[string]string {
	t.Helper()
	return connectEnvAs(t, &meshUnderAttack{url: m.URL}, m.creds[name], ref)
}

func TestConfigBadInputChangesNothing(t *testing.T) {
	m := startMesh(t, services.MeshConfig{})
	m.developer(t, "alice")
	m.as(t, "alice", "sandbox", "create", "cfg", "--config", "KEEP=me").must(t)
	before := m.configOf(t, "alice", "cfg")
	ijs, _ := jetstream.New(m.NC)
	auditBefore := streamCount(t, ijs, sandbox.StreamAudit)

	many := []string{"sandbox", "config", "set", "cfg"}
	for i := range sandbox.MaxConfigKeys + 1 {
		many = append(many, fmt.Sprintf("K%d=v", i))
	}
	fat := []string{"sandbox", "config", "set", "cfg"}
	for i := range 8 {
		fat = append(fat, fmt.Sprintf("FAT%d=%s", i, strings.Repeat("x", sandbox.MaxConfigValueBytes)))
	}
	for _, tc := range []struct {
		args []string
		code sandbox.Code
	}{
		{[]string{"sandbox", "config", "set", "cfg", "lower=x"}, sandbox.CodeInvalidConfigKey},
		{[]string{"sandbox", "config", "set", "cfg", "1X=x"}, sandbox.CodeInvalidConfigKey},
		{[]string{"sandbox", "config", "set", "cfg", "A-B=x"}, sandbox.CodeInvalidConfigKey},
		{[]string{"sandbox", "config", "set", "cfg", "=x"}, sandbox.CodeInvalidConfigKey},
		{[]string{"sandbox", "config", "set", "cfg", strings.Repeat("K", 65) + "=x"}, sandbox.CodeInvalidConfigKey},
		{[]string{"sandbox", "config", "set", "cfg", "OK=1", "PATH=/tmp/evil"}, sandbox.CodeInvalidConfigKey},
		{[]string{"sandbox", "config", "set", "cfg", "LD_PRELOAD=/tmp/evil.so"}, sandbox.CodeInvalidConfigKey},
		{[]string{"sandbox", "config", "set", "cfg", "BASH_ENV=/tmp/x"}, sandbox.CodeInvalidConfigKey},
		{[]string{"sandbox", "config", "set", "cfg", "PROMPT_COMMAND=id"}, sandbox.CodeInvalidConfigKey},
		{[]string{"sandbox", "config", "set", "cfg", "DATABASE_URL=postgres://evil"}, sandbox.CodeInvalidConfigKey},
		{[]string{"sandbox", "config", "set", "cfg", "NATS_CREDS=/tmp/x"}, sandbox.CodeInvalidConfigKey},
		{[]string{"sandbox", "config", "set", "cfg", "DISCORD_API_BASE_URL=http://evil"}, sandbox.CodeInvalidConfigKey},
		{[]string{"sandbox", "config", "set", "cfg", "SANDBOX_ID=x"}, sandbox.CodeInvalidConfigKey},
		{[]string{"sandbox", "config", "set", "cfg", "GAIB_OWNER=x"}, sandbox.CodeInvalidConfigKey},
		{[]string{"sandbox", "config", "set", "cfg", "A=1", "A=2"}, sandbox.CodeInvalidConfigKey},
		{[]string{"sandbox", "config", "set", "cfg", "V=a\x00b"}, sandbox.CodeInvalidConfigValue},
		{[]string{"sandbox", "config", "set", "cfg", "V=\x1b]0;owned\a"}, sandbox.CodeInvalidConfigValue},
		{[]string{"sandbox", "config", "set", "cfg", "V=" + strings.Repeat("x", sandbox.MaxConfigValueBytes+1)}, sandbox.CodeInvalidConfigValue},
		{many, sandbox.CodeConfigTooLarge},
		{fat, sandbox.CodeConfigTooLarge},
		{[]string{"sandbox", "config", "set", "cfg", "NOEQUALS"}, sandbox.CodeInvalidRequest},
		{[]string{"sandbox", "config", "unset", "cfg", "PATH"}, sandbox.CodeInvalidConfigKey},
		{[]string{"sandbox", "config", "get", "cfg", "lower"}, sandbox.CodeInvalidConfigKey},
		{[]string{"sandbox", "config", "set", "nope", "A=1"}, sandbox.CodeNotFound},
		{[]string{"sandbox", "create", "bad", "--config", "HOME=/tmp"}, sandbox.CodeInvalidConfigKey},
		{[]string{"sandbox", "create", "bad", "--config", "NOEQUALS"}, sandbox.CodeInvalidRequest},
		{[]string{"sandbox", "create", "bad", "--config", "V=\x00"}, sandbox.CodeInvalidConfigValue},
	} {
		r := m.as(t, "alice", append([]string{"--json"}, tc.args...)...)
		if r.Code != tc.code.ExitCode() || r.errorCode(t) != tc.code {
			t.Errorf("%.80q: exit %d %s, want %s", tc.args, r.Code, r.Stdout, tc.code)
		}
	}
	// Up to the limit is fine; one more key than the limit is a conflict (exit 4).
	full, keys := []string{"sandbox", "config", "set", "cfg"}, []string{"sandbox", "config", "unset", "cfg"}
	for i := range sandbox.MaxConfigKeys - 1 {
		full, keys = append(full, fmt.Sprintf("K%d=v", i)), append(keys, fmt.Sprintf("K%d", i))
	}
	m.as(t, "alice", full...).must(t)
	m.as(t, "alice", "--json", "sandbox", "config", "set", "cfg", "ONE_MORE=v").errorCodeIs(t, sandbox.CodeConfigTooLarge)
	m.as(t, "alice", keys...).must(t)

	after := m.configOf(t, "alice", "cfg")
	if !slices.Equal(after.Vars, before.Vars) {
		t.Fatalf("config after bad input: %+v, was %+v", after.Vars, before.Vars)
	}
	// Only the good set and unset were audited; the refused create made nothing.
	if n := streamCount(t, ijs, sandbox.StreamAudit); n != auditBefore+2 {
		t.Fatalf("audit entries: %d, want %d", n, auditBefore+2)
	}
	if r := m.as(t, "alice", "--json", "sandbox", "status", "bad"); r.Code != sandbox.ExitNotFound {
		t.Fatalf("a refused create left a sandbox: %s", r.Stdout)
	}
	stored, err := m.Store.SandboxConfigKeys(context.Background())
	if err != nil || len(stored) != 1 {
		t.Fatalf("configs stored: %v %v", stored, err)
	}
}

func TestConfigAuditRedactsSecrets(t *testing.T) {
	m := startMesh(t, services.MeshConfig{})
	m.developer(t, "alice")
	rec := m.as(t, "alice", "--json", "sandbox", "create", "cfg", "--secret", "--config", "CREATED_SECRET="+secret+"-at-create").must(t).record(t)
	m.as(t, "alice", "sandbox", "config", "set", "cfg", "LOG_LEVEL=debug").must(t)
	m.as(t, "alice", "sandbox", "config", "set", "cfg", "--secret", "API_KEY="+secret).must(t)
	m.gaib(t, "sandbox", "config", "set", "cfg", "--secret", "API_KEY="+secret+"-rotated").must(t) // an admin may
	m.as(t, "alice", "sandbox", "config", "unset", "cfg", "API_KEY").must(t)

	var trail sandbox.AuditResponse
	decodeStrict(t, m.as(t, "alice", "--json", "sandbox", "audit", "cfg").must(t).Stdout, &trail)
	var got []string
	for _, e := range trail.Entries {
		if strings.HasPrefix(e.Action, "config-") {
			got = append(got, e.Actor+" "+e.Action+" "+e.Detail)
			if len(e.Config) == 0 || e.SandboxID != rec.ID {
				t.Errorf("config entry without its changes: %+v", e)
			}
		}
	}
	want := []string{
		`alice config-set config +CREATED_SECRET="[redacted]"`,
		`alice config-set config +LOG_LEVEL="debug"`,
		`alice config-set config +API_KEY="[redacted]"`,
		`tester config-set config ~API_KEY="[redacted]"→"[redacted]"`,
		`alice config-unset config -API_KEY`,
	}
	if !slices.Equal(got, want) {
		t.Fatalf("config audit entries:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	human := m.as(t, "alice", "sandbox", "audit", "cfg").must(t).Stdout
	if !strings.Contains(human, `+LOG_LEVEL="debug"`) {
		t.Errorf("audit for people lacks the change:\n%s", human)
	}
	// No secret value anywhere in the audit stream, whatever the reader.
	ijs, _ := jetstream.New(m.NC)
	for _, msg := range readStream(t, ijs, sandbox.StreamAudit) {
		if bytes.Contains(msg.Data, []byte(secret)) {
			t.Fatalf("a secret reached the audit trail: %s %s", msg.Subject, msg.Data)
		}
	}
}

func TestConfigGoneAfterDestroyAndOrphans(t *testing.T) {
	m := startMesh(t, services.MeshConfig{})
	m.developer(t, "alice")
	ctx := context.Background()
	rec := m.as(t, "alice", "--json", "sandbox", "create", "cfg", "--config", "A=1").must(t).record(t)
	m.as(t, "alice", "sandbox", "destroy", "cfg", "--yes").must(t)

	if cfg, err := m.Store.SandboxConfig(ctx, rec.ID); err != nil || cfg.Revision != 0 || len(cfg.Vars) != 0 {
		t.Fatalf("config after destroy: %+v %v", cfg, err)
	}
	var list sandbox.ConfigResponse
	decodeStrict(t, m.as(t, "alice", "--json", "sandbox", "config", "list", rec.ID).must(t).Stdout, &list)
	if len(list.Vars) != 0 {
		t.Fatalf("a destroyed sandbox lists %+v", list.Vars)
	}
	m.as(t, "alice", "--json", "sandbox", "config", "set", rec.ID, "A=2").errorCodeIs(t, sandbox.CodeWrongState)
	// A change that raced the destroy past its status check cannot bring the config back.
	_, err := m.Store.UpdateSandboxConfig(ctx, rec.ID, func(c *sandbox.Config) (bool, error) {
		_, err := c.Set([]sandbox.ConfigVar{{Key: "LATE", Value: "x"}})
		return true, err
	})
	if !hasCode(err, sandbox.CodeWrongState) {
		t.Fatalf("late write after destroy: %v", err)
	}
	var rep services.OrphanReport
	decodeStrict(t, m.gaib(t, "--json", "cleanup", "orphans").must(t).Stdout, &rep)
	if len(rep.Orphans) != 0 {
		t.Fatalf("orphans after destroy: %+v", rep.Orphans)
	}

	// A config left by a crash (no record) is found and removed; a live one never.
	m.as(t, "alice", "sandbox", "create", "live", "--config", "B=2").must(t)
	lost := sandbox.NewID()
	if _, err := m.Store.UpdateSandboxConfig(ctx, lost, func(c *sandbox.Config) (bool, error) {
		c.Vars = []sandbox.ConfigVar{{Key: "LEFT", Value: "over"}}
		return true, nil
	}); err != nil {
		t.Fatal(err)
	}
	decodeStrict(t, m.gaib(t, "--json", "cleanup", "orphans").must(t).Stdout, &rep)
	if len(rep.Orphans) != 1 || rep.Orphans[0].Store != "config" || rep.Orphans[0].ID != lost || !slices.Equal(rep.Orphans[0].Keys, []string{"LEFT"}) {
		t.Fatalf("orphans: %+v", rep.Orphans)
	}
	decodeStrict(t, m.gaib(t, "--json", "cleanup", "orphans", "--remove").must(t).Stdout, &rep)
	decodeStrict(t, m.gaib(t, "--json", "cleanup", "orphans").must(t).Stdout, &rep)
	if len(rep.Orphans) != 0 {
		t.Fatalf("orphans after --remove: %+v", rep.Orphans)
	}
	if live := m.configOf(t, "alice", "live"); len(live.Vars) != 1 {
		t.Fatalf("the live sandbox's config: %+v", live.Vars)
	}
}

func hasCode(err error, code sandbox.Code) bool {
	return err != nil && sandbox.AsError(err).Code == code
}

// TestConfigConcurrentChanges: concurrent sets of different keys all land (compare-and-swap),
// and sets racing a destroy never leave a config behind.
func TestConfigConcurrentChanges(t *testing.T) {
	m := startMesh(t, services.MeshConfig{})
	m.developer(t, "alice")
	ctx := context.Background()
	m.as(t, "alice", "sandbox", "create", "cfg").must(t)
	cl := m.client("alice")
	const n = 16
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			if _, err := cl.ConfigSet(ctx, "cfg", []sandbox.ConfigVar{{Key: fmt.Sprintf("K%02d", i), Value: "v"}}); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if got := m.configOf(t, "alice", "cfg"); len(got.Vars) != n {
		t.Fatalf("%d of %d concurrent sets landed: %+v", len(got.Vars), n, got.Vars)
	}

	for round := range 3 {
		name := fmt.Sprintf("race%d", round)
		rec := m.as(t, "alice", "--json", "sandbox", "create", name, "--config", "A=1").must(t).record(t)
		var wg sync.WaitGroup
		for i := range 8 {
			wg.Go(func() {
				_, _ = cl.ConfigSet(ctx, rec.ID, []sandbox.ConfigVar{{Key: fmt.Sprintf("R%d", i), Value: "x"}})
			})
		}
		wg.Go(func() {
			if _, err := cl.Destroy(ctx, rec.ID); err != nil {
				t.Error(err)
			}
		})
		wg.Wait()
		if cfg, err := m.Store.SandboxConfig(ctx, rec.ID); err != nil || cfg.Revision != 0 {
			t.Fatalf("round %d: a config outlived its sandbox: %+v %v", round, cfg, err)
		}
	}
}

func TestConfigOverTheAPI(t *testing.T) {
	s := serveAPI(t, noPlanes...)
	s.developer(t, "alice")
	s.developer(t, "bob")
	alice, bob := s.as(s.token(t, "alice")), s.as(s.token(t, "bob"))
	alice.do(t, "POST", "/v1/sandboxes", map[string]any{"name": "cfg", "config": []sandbox.ConfigVar{{Key: "A", Value: "1"}}}).ok(t, 201, nil)

	var resp sandbox.ConfigResponse
	r := alice.do(t, "PUT", "/v1/sandboxes/cfg/config/TOKEN", map[string]any{"value": secret, "secret": true}).ok(t, 200, &resp)
	if r.Header.Get("Cache-Control") != "no-store" || !slices.Equal(resp.Changed, []string{"TOKEN"}) || bytes.Contains(r.Body, []byte(secret)) {
		t.Fatalf("set one key: %s %s", r.Header, r.Body)
	}
	alice.do(t, "PUT", "/v1/sandboxes/cfg/config", map[string]any{"vars": []sandbox.ConfigVar{{Key: "B", Value: "2"}, {Key: "C", Value: "3"}}}).ok(t, 200, &resp)
	alice.do(t, "GET", "/v1/sandboxes/cfg/config", nil).ok(t, 200, &resp)
	if len(resp.Vars) != 4 || resp.Vars[3].Key != "TOKEN" || !resp.Vars[3].Redacted {
		t.Fatalf("list: %+v", resp.Vars)
	}
	var v sandbox.ConfigVar
	alice.do(t, "GET", "/v1/sandboxes/cfg/config/TOKEN?show_secrets=true", nil).ok(t, 200, &v)
	if v.Value != secret {
		t.Fatalf("get --show-secrets: %+v", v)
	}
	alice.do(t, "DELETE", "/v1/sandboxes/cfg/config/A", nil).ok(t, 200, &resp)
	alice.do(t, "GET", "/v1/sandboxes/cfg/config/A", nil).problem(t, 404, sandbox.CodeNotFound)
	alice.do(t, "PUT", "/v1/sandboxes/cfg/config/LD_PRELOAD", map[string]any{"value": "/tmp/x.so"}).problem(t, 400, sandbox.CodeInvalidConfigKey)
	alice.do(t, "PUT", "/v1/sandboxes/cfg/config/V", map[string]any{"value": "\x1b[2J"}).problem(t, 400, sandbox.CodeInvalidConfigValue)
	for _, req := range []struct{ method, path string }{
		{"GET", "/v1/sandboxes/cfg/config?show_secrets=true"}, {"GET", "/v1/sandboxes/cfg/config/TOKEN?show_secrets=true"},
		{"PUT", "/v1/sandboxes/cfg/config/TOKEN"}, {"DELETE", "/v1/sandboxes/cfg/config/TOKEN"},
	} {
		var body any
		if req.method == "PUT" {
			body = map[string]any{"value": "bob"}
		}
		p := bob.do(t, req.method, req.path, body)
		p.problem(t, 403, sandbox.CodeForbidden)
		if bytes.Contains(p.Body, []byte(secret)) {
			t.Fatalf("bob's %s %s leaked the secret", req.method, req.path)
		}
	}
	var conn sandbox.ConnectResponse
	alice.do(t, "GET", "/v1/sandboxes/cfg/connection", nil).ok(t, 200, &conn)
	if got := envMap(conn.Config); got["TOKEN"] != secret || got["B"] != "2" || got["C"] != "3" || len(got) != 3 {
		t.Fatalf("connection config: %+v", conn.Config)
	}
}
