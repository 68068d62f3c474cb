package cli_test

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/alecthomas/kong"

	"github.com/arrakis/gaib/cli"
	"github.com/arrakis/gaib/sandbox"
)

// run runs gaib in-process against nothing (no mesh is needed for help and parsing).
func run(t *testing.T, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	t.Setenv("XDG_CONFIG_HOME", t.TempDir())
	var out, errb bytes.Buffer
	code = cli.Main(context.Background(), append([]string{"--server", "nats://127.0.0.1:1"}, args...),
		&cli.IO{Stdin: strings.NewReader(""), Stdout: &out, Stderr: &errb})
	return out.String(), errb.String(), code
}

func TestBareCommandsShowTheirHelp(t *testing.T) {
	for _, args := range [][]string{{}, {"sandbox"}, {"sb"}, {"guild"}, {"user"}, {"help"}, {"help", "sandbox"}} {
		out, errs, code := run(t, args...)
		if code != 0 || !strings.Contains(out, "Usage: gaib") || !strings.Contains(out, "Commands:") || errs != "" {
			t.Errorf("gaib %v: exit %d\nstdout: %s\nstderr: %s", args, code, out, errs)
		}
	}
	out, _, _ := run(t, "sandbox")
	for _, cmd := range []string{"create", "list", "status", "events", "connect", "run", "destroy"} {
		if !strings.Contains(out, "sandbox (sb) "+cmd) {
			t.Errorf("gaib sandbox does not list %s:\n%s", cmd, out)
		}
	}
}

func TestHelpCommandIsCommandHelp(t *testing.T) {
	viaHelp, _, code := run(t, "help", "sandbox", "create")
	viaFlag, _, code2 := run(t, "sandbox", "create", "--help")
	if code != 0 || code2 != 0 || viaHelp != viaFlag || !strings.Contains(viaHelp, "Usage: gaib sandbox (sb) create") {
		t.Fatalf("help sandbox create (exit %d) differs from sandbox create --help (exit %d):\n%s\n---\n%s", code, code2, viaHelp, viaFlag)
	}
	if _, errs, code := run(t, "help", "nosuch"); code != sandbox.ExitUsage || !strings.Contains(errs, "nosuch") {
		t.Fatalf("help of an unknown command: exit %d %q", code, errs)
	}
}

// TestEveryCommandHasExamplesAndItsFlagsFirst walks the whole command tree.
func TestEveryCommandHasExamplesAndItsFlagsFirst(t *testing.T) {
	var c cli.CLI
	parser := kong.Must(&c)
	var leaves []*kong.Node
	var visit func(n *kong.Node)
	visit = func(n *kong.Node) {
		for _, ch := range n.Children {
			if ch.Type != kong.CommandNode || ch.Hidden {
				continue
			}
			if len(ch.Children) == 0 {
				leaves = append(leaves, ch)
			}
			visit(ch)
		}
	}
	visit(parser.Model.Node)
	if len(leaves) < 25 {
		t.Fatalf("only %d commands found", len(leaves))
	}
	for _, n := range leaves {
		var path []string
		for p := n; p.Parent != nil; p = p.Parent {
			path = append([]string{p.Name}, path...)
		}
		out, _, code := run(t, append(path, "--help")...)
		_, ex, _ := strings.Cut(out, "Examples:\n\n    ")
		if code != 0 || !strings.Contains(strings.SplitN(ex, "\n", 2)[0], "gaib ") {
			t.Errorf("%v --help (exit %d) has no examples:\n%s", path, code, out)
			continue
		}
		global := strings.Index(out, "Global flags:")
		if global < 0 || strings.Index(out, "-s, --server=URL") < global {
			t.Errorf("%v --help lists global flags before or without their heading:\n%s", path, out)
		}
		if own := firstOwnFlag(n); own != "" && strings.Index(out, "--"+own) > global {
			t.Errorf("%v --help lists its own --%s after the global flags", path, own)
		}
	}
}

func firstOwnFlag(n *kong.Node) string {
	for _, f := range n.Flags {
		if !f.Hidden {
			return f.Name
		}
	}
	return ""
}

func TestUsageErrorsSayWhereToLook(t *testing.T) {
	_, errs, code := run(t, "sandbox", "status")
	if code != sandbox.ExitUsage || !strings.Contains(errs, "Run `gaib sandbox status --help`") {
		t.Fatalf("exit %d %q", code, errs)
	}
	out, _, code := run(t, "-o", "json", "sandbox", "bogus")
	var doc struct {
		Error sandbox.Error `json:"error"`
	}
	if code != sandbox.ExitUsage || !strings.HasPrefix(out, "{") || !strings.Contains(out, "invalid_request") {
		t.Fatalf("usage error with -o json: exit %d %q (%v)", code, out, doc)
	}
	if out, _, code := run(t, "-o", "yaml", "sandbox", "bogus"); code != sandbox.ExitUsage || !strings.HasPrefix(out, "error:\n  code: invalid_request") {
		t.Fatalf("usage error with -o yaml: exit %d %q", code, out)
	}
}

func TestVersionWithoutAMesh(t *testing.T) {
	for _, args := range [][]string{{"--version"}, {"version"}} {
		out, _, code := run(t, args...)
		if code != 0 || !strings.HasPrefix(out, "gaib ") || !strings.Contains(out, "mesh unknown: cannot reach the gaib mesh at nats://127.0.0.1:1") {
			t.Errorf("%v: exit %d %q", args, code, out)
		}
	}
	out, _, code := run(t, "--version", "-o", "json")
	if code != 0 || !strings.Contains(out, `"version"`) || !strings.Contains(out, `"mesh"`) {
		t.Errorf("--version -o json: exit %d %q", code, out)
	}
}

func TestCompletion(t *testing.T) {
	for _, shell := range []string{"bash", "zsh", "fish"} {
		out, _, code := run(t, "completion", shell)
		if code != 0 || !strings.Contains(out, "gaib __complete --") {
			t.Errorf("completion %s: exit %d %q", shell, code, out)
		}
	}
	if _, _, code := run(t, "completion", "powershell"); code != sandbox.ExitUsage {
		t.Errorf("completion of an unknown shell: exit %d", code)
	}
	for words, want := range map[string][]string{
		"":                              {"sandbox", "events", "guild", "serve", "completion"},
		"sa":                            {"sandbox"},
		"sandbox cr":                    {"create"},
		"sb st":                         {"status"},
		"sandbox status demo --w":       {"--watch"},
		"sandbox create demo --":        {"--ttl", "--guild", "--dry-run", "--server", "--output"},
		"-o ":                           {"json", "yaml", "name", "wide"},
		"sandbox list --output y":       {"yaml"},
		"completion ":                   {"bash", "zsh", "fish"},
		"help sandbox de":               {"destroy"},
		"serve --only r":                {"router"},
		"--server nats://x:1 sandbox l": {"list"},
	} {
		args := append([]string{"__complete", "--"}, strings.Split(words, " ")...)
		out, _, code := run(t, args...)
		got := strings.Fields(out)
		if code != 0 {
			t.Errorf("complete %q: exit %d", words, code)
		}
		for _, w := range want {
			if !containsWord(got, w) {
				t.Errorf("complete %q: %v lacks %q", words, got, w)
			}
		}
		if strings.Contains(out, "__complete") {
			t.Errorf("complete %q offers the hidden command", words)
		}
	}
	if out, _, _ := run(t, "__complete", "--", "sandbox", "run", "demo", "--", ""); out != "" {
		t.Errorf("after -- the shell completes files, gaib offered %q", out)
	}
}

func containsWord(ws []string, w string) bool {
	for _, x := range ws {
		if x == w {
			return true
		}
	}
	return false
}

func TestOutputFlags(t *testing.T) {
	for _, tc := range []struct {
		args []string
		ok   bool
	}{
		{[]string{"-o", "json", "sandbox", "list"}, true},
		{[]string{"sandbox", "list", "-o", "yaml"}, true},
		{[]string{"sandbox", "list", "--output=wide"}, true},
		{[]string{"sandbox", "list", "-o", "name"}, true},
		{[]string{"sandbox", "list", "-o", "xml"}, false},
		{[]string{"sandbox", "delete", "demo", "-y"}, true},
	} {
		_, kctx, err := parse(t, tc.args...)
		if (err == nil) != tc.ok {
			t.Errorf("%v: %v", tc.args, err)
		}
		if err == nil && tc.args[1] == "delete" && kctx.Command() != "sandbox destroy <name>" {
			t.Errorf("delete parsed as %q", kctx.Command())
		}
	}
}
