package integration

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/creack/pty"

	"github.com/arrakis/gaib/embedded"
)

// quickStartBlock is one shell block of the README's quick start and the terminal it is
// typed into.
type quickStartBlock struct {
	terminal int
	lines    []string
}

// quickStart reads the shell blocks of the README's "Quick start" section, each with the
// terminal its heading names ("**Terminal 2: …**", "**Back in terminal 2**").
func quickStart(t *testing.T) []quickStartBlock {
	t.Helper()
	b, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, section, ok := strings.Cut(string(b), "\n## Quick start\n")
	if !ok {
		t.Fatal("README.md has no Quick start section")
	}
	section, _, _ = strings.Cut(section, "\n## ")
	heading := regexp.MustCompile(`(?i)\*\*(?:back in )?terminal (\d)`)
	var blocks []quickStartBlock
	terminal := 0
	inBlock := false
	for _, line := range strings.Split(section, "\n") {
		switch {
		case strings.HasPrefix(line, "```sh"):
			if terminal == 0 {
				t.Fatal("a quick start block names no terminal")
			}
			inBlock = true
			blocks = append(blocks, quickStartBlock{terminal: terminal})
		case strings.HasPrefix(line, "```"):
			inBlock = false
		case inBlock:
			if l := strings.TrimSpace(line); l != "" && !strings.HasPrefix(l, "#") {
				blocks[len(blocks)-1].lines = append(blocks[len(blocks)-1].lines, l)
			}
		default:
			if m := heading.FindStringSubmatch(line); m != nil {
				terminal, _ = strconv.Atoi(m[1])
			}
		}
	}
	if len(blocks) < 4 {
		t.Fatalf("the quick start has %d shell blocks", len(blocks))
	}
	return blocks
}

// longRunning are the quick start's commands that run until stopped, and what they print
// once they are up (never what the typed line itself shows, comments included).
var longRunning = []struct {
	prefix string
	ready  *regexp.Regexp
}{
	{"gaib serve", regexp.MustCompile(`gaib ready on nats://[0-9.:]+ \(embedded`)},
	{"gaib sandbox events ", regexp.MustCompile(`Following sandbox \S+ \(id `)},
	{"gaib sandbox status ", regexp.MustCompile(`Watching sandbox \S+ · updated`)},
}

// shell is an interactive bash in a pseudo-terminal: one of the user's terminals.
type shell struct {
	*terminal
	name string
	rcs  int
}

var rcRe = regexp.MustCompile(`__rc_(\d+)__`)

func startShell(t *testing.T, n int, dir string, env []string) *shell {
	t.Helper()
	cmd := exec.Command("bash", "--norc", "--noprofile", "-i")
	cmd.Dir, cmd.Env = dir, env
	f, err := pty.StartWithSize(cmd, &pty.Winsize{Cols: 200, Rows: 50})
	if err != nil {
		t.Fatal(err)
	}
	term := &terminal{pty: f, out: &syncBuffer{}, cmd: cmd, done: make(chan struct{})}
	go func() {
		buf := make([]byte, 4096)
		for {
			n, err := f.Read(buf)
			_, _ = term.out.Write(buf[:n])
			if err != nil {
				close(term.done)
				return
			}
		}
	}()
	t.Cleanup(func() {
		// Ctrl-C whatever still runs, then hang up: bash passes SIGHUP to its jobs.
		_, _ = f.WriteString("\x03")
		time.Sleep(500 * time.Millisecond)
		_ = f.Close()
		_ = cmd.Process.Kill()
	})
	return &shell{terminal: term, name: fmt.Sprintf("terminal %d", n)}
}

// exitCodes returns the exit codes the shell reported so far.
func (sh *shell) exitCodes() []int {
	var out []int
	for _, m := range rcRe.FindAllStringSubmatch(sh.out.String(), -1) {
		n, _ := strconv.Atoi(m[1])
		out = append(out, n)
	}
	return out
}

// typeLine types a command and, after it, a line that reports its exit code when it ends.
func (sh *shell) typeLine(t *testing.T, line string) {
	t.Helper()
	sh.typeIn(t, line+"\r")
	sh.typeIn(t, `echo "__rc_$?__"`+"\r")
	sh.rcs++
}

// waitExit waits up to bound for the last typed command to end and returns its code.
func (sh *shell) waitExit(t *testing.T, what string, bound time.Duration) int {
	t.Helper()
	deadline := time.Now().Add(bound)
	for len(sh.exitCodes()) < sh.rcs {
		if time.Now().After(deadline) {
			t.Fatalf("%s: %q did not end within %s; the terminal shows:\n%s", sh.name, what, bound, sh.out.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	codes := sh.exitCodes()
	return codes[len(codes)-1]
}

// TestREADMEQuickStart types the README's quick start, as written, into three terminals
// (bash in pseudo-terminals) on a machine set up from scratch: an empty home, a fresh
// GOPATH, the setup script, the mesh, the commands. Every command must succeed, the event
// published in one terminal must show up in the tail of another, the tail must end when
// the sandbox is destroyed, and Ctrl-C must stop the mesh with exit 0. Commands that run
// until stopped (serve, events) are bounded by what they print once up.
func TestREADMEQuickStart(t *testing.T) {
	for _, tool := range []string{"bash", "psql", "redis-cli", "go"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s is not installed; the quick start needs it", tool)
		}
	}
	blocks := quickStart(t)
	repo, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	home := servableDir(t)
	// As root the managed Postgres runs as the postgres user: it must reach the data dir.
	if err := os.MkdirAll(filepath.Join(home, ".local", "share", "gaib"), 0o755); err != nil {
		t.Fatal(err)
	}
	port, err := embedded.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	goEnv := func(name string) string {
		out, err := exec.Command("go", "env", name).Output()
		if err != nil {
			t.Fatal(err)
		}
		return strings.TrimSpace(string(out))
	}
	// A fresh user: nothing of the test's environment but PATH and the Go caches (so the
	// build works offline and takes seconds, not a minute). The mesh gets a free port
	// through its own variables; the CLI finds it through NATS_URL.
	env := []string{"HOME=" + home, "USER=quickstart", "PATH=" + os.Getenv("PATH"), "TERM=xterm", "PS1=$ ", "LANG=C.UTF-8",
		"GOPATH=" + filepath.Join(home, "go"), "GOMODCACHE=" + goEnv("GOMODCACHE"), "GOCACHE=" + goEnv("GOCACHE"),
		"GOFLAGS=" + goEnv("GOFLAGS"), "GOTOOLCHAIN=local", "GOPROXY=off"}
	if os.Getenv("CI") != "" {
		env = append(env, "CI="+os.Getenv("CI"))
	}
	meshEnv := append(append([]string{}, env...), fmt.Sprintf("GAIB_LISTEN=127.0.0.1:%d", port), "GAIB_METRICS_LISTEN=127.0.0.1:0")
	cliEnv := append(append([]string{}, env...), fmt.Sprintf("NATS_URL=nats://127.0.0.1:%d", port))
	shells := map[int]*shell{}
	shellFor := func(n int) *shell {
		if sh, ok := shells[n]; ok {
			return sh
		}
		dir, e := home, cliEnv
		if n == 1 {
			dir, e = repo, meshEnv
		}
		shells[n] = startShell(t, n, dir, e)
		return shells[n]
	}

	var published bool
	for _, b := range blocks {
		sh := shellFor(b.terminal)
		for _, line := range b.lines {
			sh.typeLine(t, line)
			if ready := readinessOf(line); ready != nil {
				eventually(t, fmt.Sprintf("%s: %q to be up", sh.name, line), func() bool {
					if len(sh.exitCodes()) >= sh.rcs {
						t.Fatalf("%s: %q ended early:\n%s", sh.name, line, sh.out.String())
					}
					return ready.MatchString(sh.out.String())
				})
				continue
			}
			bound := time.Minute
			if strings.Contains(line, "setup") {
				bound = 5 * time.Minute // the first build
			}
			if code := sh.waitExit(t, line, bound); code != 0 {
				t.Fatalf("%s: %q exited %d; the terminal shows:\n%s", sh.name, line, code, sh.out.String())
			}
			if strings.HasPrefix(line, "gaib events publish") {
				published = true
				tail := tailShell(t, shells)
				eventually(t, "the published event in the tail", func() bool { return strings.Contains(tail.out.String(), "events.member.join") })
			}
		}
	}
	if !published {
		t.Fatal("the quick start publishes no event")
	}
	worker := shells[2].out.String()
	for _, want := range []string{"postgres: 1 communities", "greeting = hello", "events.member.join", "handled 1 events"} {
		if !strings.Contains(worker, want) {
			t.Errorf("the bot worker did not print %q:\n%s", want, worker)
		}
	}
	// The sandbox is destroyed: the tail ends by itself, saying so.
	tail := tailShell(t, shells)
	if code := tail.waitExit(t, "gaib sandbox events", 30*time.Second); code != 0 || !strings.Contains(tail.out.String(), "was destroyed") {
		t.Fatalf("the tail ended with %d:\n%s", code, tail.out.String())
	}
	// Ctrl-C stops the mesh cleanly. The terminal drops what was typed ahead on Ctrl-C, so
	// the exit code is asked for again.
	mesh := shells[1]
	mesh.typeIn(t, "\x03")
	eventually(t, "serve to shut down", func() bool { return strings.Contains(mesh.out.String(), "shutting down") })
	mesh.typeIn(t, `echo "__rc_$?__"`+"\r")
	if code := mesh.waitExit(t, "gaib serve", time.Minute); code != 0 {
		t.Fatalf("serve exited %d on Ctrl-C:\n%s", code, mesh.out.String())
	}
}

// readinessOf is what a long-running command prints once it is up, nil for the others.
func readinessOf(line string) *regexp.Regexp {
	for _, l := range longRunning {
		if strings.HasPrefix(line, l.prefix) && (l.prefix != "gaib sandbox status " || strings.Contains(line, "--watch")) {
			return l.ready
		}
	}
	return nil
}

// tailShell is the terminal running `gaib sandbox events`.
func tailShell(t *testing.T, shells map[int]*shell) *shell {
	t.Helper()
	for _, sh := range shells {
		if strings.Contains(sh.out.String(), "Following sandbox") {
			return sh
		}
	}
	t.Fatal("no terminal runs the tail")
	return nil
}
