package integration

import (
	"bufio"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/micro"

	"github.com/arrakis/gaib/sandbox"
)

var (
	buildOnce sync.Once
	gaibBin   string
	buildErr  error
)

// gaibBinary builds cmd/gaib once per test run.
func gaibBinary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "gaib-bin-")
		if err != nil {
			buildErr = err
			return
		}
		gaibBin = filepath.Join(dir, "gaib")
		out, err := exec.Command("go", "build", "-o", gaibBin, "../cmd/gaib").CombinedOutput()
		if err != nil {
			buildErr = err
			t.Logf("%s", out)
		}
	})
	if buildErr != nil {
		t.Fatalf("build gaib: %v", buildErr)
	}
	return gaibBin
}

func TestBinaryServeAndCLIProcesses(t *testing.T) {
	bin := gaibBinary(t)
	// Zero configuration: serve writes the local admin's credential under the user's config
	// dir, and the CLI finds it there with no flag.
	env := append(os.Environ(), "USER=proc", "XDG_CONFIG_HOME="+t.TempDir(), "XDG_RUNTIME_DIR=")
	serve := exec.Command(bin, "serve", "--listen", "127.0.0.1:0", "--data-dir", servableDir(t), "--workers", "2", "--metrics-listen", "127.0.0.1:0")
	serve.Env = env
	stdout, err := serve.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	serve.Stderr = &stderr
	if err := serve.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = serve.Process.Kill() })
	lines := bufio.NewScanner(stdout)
	if !lines.Scan() {
		t.Fatalf("serve printed nothing: %s", stderr.String())
	}
	m := readyRe.FindStringSubmatch(lines.Text())
	if m == nil {
		t.Fatalf("ready line %q", lines.Text())
	}
	url := m[1]

	run := func(args ...string) (string, int) {
		cmd := exec.Command(bin, append([]string{"--server", url}, args...)...)
		cmd.Env = env
		var out strings.Builder
		cmd.Stdout = &out
		done := make(chan error, 1)
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		go func() { done <- cmd.Wait() }()
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			_ = cmd.Process.Kill()
			t.Fatalf("gaib %v did not exit", args)
		}
		return out.String(), cmd.ProcessState.ExitCode()
	}
	out, code := run("--json", "sandbox", "create", "proc")
	var rec sandbox.Record
	if code != 0 || json.Unmarshal([]byte(out), &rec) != nil || rec.Owner != "proc" {
		t.Fatalf("create: exit %d %q", code, out)
	}
	if _, code := run("sandbox", "create", "proc"); code != sandbox.ExitConflict {
		t.Fatalf("duplicate create exit %d", code)
	}
	if _, code := run("sandbox", "destroy", "proc"); code != sandbox.ExitUsage {
		t.Fatalf("destroy without --yes and no terminal: exit %d", code)
	}

	// The services are discoverable the way `nats micro ls/info` finds them, with the
	// admin's credential and its own inbox prefix.
	nc, err := nats.Connect(url, nats.UserCredentials(filepath.Join(strings.TrimPrefix(env[len(env)-2], "XDG_CONFIG_HOME="), "gaib", "local.creds")),
		nats.CustomInboxPrefix(sandbox.UserInbox("proc")))
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{sandbox.ServiceSandbox, sandbox.ServiceCleanup, sandbox.ServiceUser, sandbox.ServiceGuild} {
		msg, err := nc.Request("$SRV.INFO."+name, nil, 5*time.Second)
		if err != nil {
			t.Fatalf("info %s: %v", name, err)
		}
		var info micro.Info
		if err := json.Unmarshal(msg.Data, &info); err != nil || info.Version == "" || info.Description == "" || len(info.Endpoints) == 0 {
			t.Fatalf("info %s: %s", name, msg.Data)
		}
		for _, ep := range info.Endpoints {
			if ep.Metadata["request"] == "" || ep.Metadata["response"] == "" {
				t.Errorf("%s endpoint %s has no request/response metadata", name, ep.Name)
			}
		}
	}
	nc.Close()

	if err := serve.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- serve.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("serve exited with %v after SIGTERM: %s", err, stderr.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatal("serve did not stop after SIGTERM")
	}
}
