package cli_test

import (
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/alecthomas/kong"

	"github.com/arrakis/gaib/cli"
)

func parse(t *testing.T, args ...string) (*cli.CLI, *kong.Context, error) {
	t.Helper()
	var c cli.CLI
	parser, err := cli.Parser(&c, &cli.IO{Stdout: io.Discard, Stderr: io.Discard})
	if err != nil {
		t.Fatal(err)
	}
	kctx, err := parser.Parse(args)
	return &c, kctx, err
}

func TestParserIsValid(t *testing.T) {
	var c cli.CLI
	kong.Must(&c) // panics on a malformed grammar
}

func TestParseCommandsAndAliases(t *testing.T) {
	for _, tc := range []struct {
		args    []string
		command string
	}{
		{[]string{"sandbox", "create", "demo", "--ttl", "2d", "--guild", "123456789012345678", "--guild", "223456789012345678"}, "sandbox create <name>"},
		{[]string{"sandbox", "new"}, "sandbox create"},
		{[]string{"sb", "ls", "--all"}, "sandbox list"},
		{[]string{"sandbox", "status", "demo", "--watch"}, "sandbox status <name>"},
		{[]string{"sandbox", "rm", "demo", "-y"}, "sandbox destroy <name>"},
		{[]string{"sandbox", "extend", "demo", "--ttl", "1w"}, "sandbox extend <name>"},
		{[]string{"sandbox", "env", "demo"}, "sandbox connect <name>"},
		{[]string{"sandbox", "link", "demo", "123456789012345678"}, "sandbox register-guild <name> <guild>"},
		{[]string{"sandbox", "unlink", "demo", "123456789012345678"}, "sandbox unregister-guild <name> <guild>"},
		{[]string{"sandbox", "run", "demo", "--", "env", "-0"}, "sandbox run <name> <command>"},
		{[]string{"serve", "--only", "router", "--workers", "8"}, "serve"},
		{[]string{"user", "add", "bob", "--admin", "--save", "bob.creds"}, "user add <name>"},
		{[]string{"user", "ls"}, "user list"},
		{[]string{"user", "revoke", "bob"}, "user revoke <name>"},
		{[]string{"user", "whoami"}, "user whoami"},
		{[]string{"guild", "allow", "123456789012345678", "--owner", "alice", "--note", "qa"}, "guild allow <guild>"},
		{[]string{"guild", "deny", "123456789012345678"}, "guild deny <guild>"},
		{[]string{"guild", "ls"}, "guild list"},
		{[]string{"events", "publish", "--sandbox", "demo", "--type", "member.join"}, "events publish"},
	} {
		_, kctx, err := parse(t, tc.args...)
		if err != nil {
			t.Errorf("%v: %v", tc.args, err)
			continue
		}
		if kctx.Command() != tc.command {
			t.Errorf("%v parsed as %q, want %q", tc.args, kctx.Command(), tc.command)
		}
	}
}

func TestParseFlags(t *testing.T) {
	c, _, err := parse(t, "--json", "-q", "--no-color", "--creds", "/tmp/a.creds", "--server", "nats://h:4222",
		"sandbox", "create", "demo", "--ttl", "2d", "--guild", "123456789012345678", "--dry-run", "--owner", "alice")
	if err != nil {
		t.Fatal(err)
	}
	if !c.JSON || !c.Quiet || !c.NoColor || c.Creds != "/tmp/a.creds" || c.Server != "nats://h:4222" {
		t.Fatalf("globals: %+v", c.Globals)
	}
	cr := c.Sandbox.Create
	if cr.Name != "demo" || cr.TTL != "2d" || len(cr.Guilds) != 1 || !cr.DryRun || cr.Owner != "alice" {
		t.Fatalf("create: %+v", cr)
	}
	c, _, err = parse(t, "sandbox", "run", "demo", "--", "sh", "-c", "exit 3")
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(c.Sandbox.Run.Command, " "); !strings.HasSuffix(got, "sh -c exit 3") {
		t.Fatalf("run command %q", got)
	}
	c, _, err = parse(t, "serve")
	if err != nil {
		t.Fatal(err)
	}
	if s := c.Serve; s.Listen != "127.0.0.1:4222" || s.Workers != 4 || s.Replicas != 1 || s.MaxPerOwner != 5 ||
		s.DefaultTTL != "24h" || s.MinTTL != "1m" || s.MaxTTL != "168h" {
		t.Fatalf("serve defaults: %+v", s)
	}
}

func TestParseRejects(t *testing.T) {
	for _, args := range [][]string{
		{"sandbox", "extend", "demo"},            // --ttl required
		{"sandbox", "status"},                    // name required
		{"sandbox", "register-guild", "demo"},    // guild required
		{"serve", "--only", "everything"},        // not a part
		{"sandbox", "create", "a", "b"},          // one name
		{"--timeout", "soon", "sandbox", "list"}, // not a duration
	} {
		if _, _, err := parse(t, args...); err == nil {
			t.Errorf("%v parsed", args)
		}
	}
}

func TestShellQuote(t *testing.T) {
	for in, want := range map[string]string{
		"plain":        "'plain'",
		"":             "''",
		"it's":         `'it'\''s'`,
		"$(id) `x` ;&": "'$(id) `x` ;&'",
	} {
		if got := cli.ShellQuote(in); got != want {
			t.Errorf("ShellQuote(%q) = %s, want %s", in, got, want)
		}
	}
}

// TestShellQuoteSurvivesARealShell evals export lines of hostile values in sh and checks
// that each value comes back unchanged and nothing injected runs.
func TestShellQuoteSurvivesARealShell(t *testing.T) {
	marker := filepath.Join(t.TempDir(), "pwned")
	for _, v := range []string{
		"$(touch " + marker + ")", "`touch " + marker + "`", "'; touch " + marker + "; '", "a\nb; touch " + marker,
		`\'$HOME"${PATH}"`, "x' \"y\" $((1+1)) !z", "tab\there", "", "é ✓",
	} {
		out, err := exec.Command("sh", "-c", `eval "$1"; printf '%s' "$X"`, "sh", "export X="+cli.ShellQuote(v)).Output()
		if err != nil {
			t.Fatalf("eval of %q: %v", v, err)
		}
		if string(out) != v {
			t.Errorf("value %q came back as %q", v, out)
		}
	}
	if _, err := os.Stat(marker); err == nil {
		t.Fatal("an injected command ran")
	}
}
