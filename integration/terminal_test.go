package integration

import (
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/creack/pty"

	"github.com/arrakis/gaib/cli"
	"github.com/arrakis/gaib/sandbox"
	"github.com/arrakis/gaib/services"
)

// terminal is a process running in a pseudo-terminal: what a person at a terminal sees and
// types.
type terminal struct {
	pty  *os.File
	out  *syncBuffer
	cmd  *exec.Cmd
	done chan struct{}
}

// inTerminal starts name args in a pseudo-terminal cols columns wide, with env added to
// the test's environment.
func inTerminal(t *testing.T, cols uint16, env []string, name string, args ...string) *terminal {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Env = append(os.Environ(), env...)
	f, err := pty.StartWithSize(cmd, &pty.Winsize{Cols: cols, Rows: 50})
	if err != nil {
		t.Fatal(err)
	}
	term := &terminal{pty: f, out: &syncBuffer{}, cmd: cmd, done: make(chan struct{})}
	go func() {
		_, _ = io.Copy(term.out, f) // ends with EIO when the process is gone
		close(term.done)
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = f.Close()
	})
	return term
}

// gaibInTerminal runs the gaib binary as the mesh's admin in a terminal.
func (m *testMesh) gaibInTerminal(t *testing.T, cols uint16, args ...string) *terminal {
	t.Helper()
	return inTerminal(t, cols, nil, gaibBinary(t), append([]string{"--server", m.URL, "--creds", m.creds[tester]}, args...)...)
}

// typeIn types s at the terminal.
func (term *terminal) typeIn(t *testing.T, s string) {
	t.Helper()
	if _, err := term.pty.WriteString(s); err != nil {
		t.Fatal(err)
	}
}

// wait waits for the process to end and returns its exit code.
func (term *terminal) wait(t *testing.T) int {
	t.Helper()
	exited := make(chan error, 1)
	go func() { exited <- term.cmd.Wait() }()
	select {
	case err := <-exited:
		var ee *exec.ExitError
		if err != nil && !errors.As(err, &ee) {
			t.Fatal(err)
		}
		<-term.done
		return term.cmd.ProcessState.ExitCode()
	case <-time.After(60 * time.Second):
		t.Fatalf("%v did not end:\n%s", term.cmd.Args, term.out.String())
		return -1
	}
}

// screenLines is what the terminal showed, line by line, without colors and carriage
// returns.
func (term *terminal) screenLines() []string {
	s := ansiRe.ReplaceAllString(term.out.String(), "")
	return strings.Split(strings.ReplaceAll(s, "\r", ""), "\n")
}

var ansiRe = regexp.MustCompile(`\x1b\[[0-9;]*[A-Za-z]`)

// columns is the width of a line on the terminal (every name here is ASCII or narrow).
func columns(s string) int { return utf8.RuneCountInString(s) }

// TestListFitsTheTerminal lists sandboxes with long names on a narrow terminal: colored,
// aligned and no line wider than the terminal; -o wide and a pipe show everything.
func TestListFitsTheTerminal(t *testing.T) {
	m := startMesh(t, services.MeshConfig{Sandbox: services.SandboxConfig{MaxPerOwner: 10}})
	long := "a-sandbox-with-a-name-as-long-as-allowed"
	m.gaib(t, "sandbox", "create", long, "--guild", guildA).must(t)
	m.gaib(t, "sandbox", "create", "short").must(t)

	term := m.gaibInTerminal(t, 60, "sandbox", "list")
	if code := term.wait(t); code != 0 {
		t.Fatalf("list exited %d: %s", code, term.out.String())
	}
	if !strings.Contains(term.out.String(), "\x1b[32mrunning\x1b[0m") {
		t.Errorf("no colors on a terminal: %q", term.out.String())
	}
	lines := nonEmpty(term.screenLines())
	if len(lines) != 3 {
		t.Fatalf("list printed %d lines: %q", len(lines), lines)
	}
	status := runeIndex(lines[0], "STATUS")
	for _, l := range lines {
		if columns(l) > 60 {
			t.Errorf("a line of %d columns on a 60-column terminal: %q", columns(l), l)
		}
		if l != lines[0] && runeIndex(l, "running") != status {
			t.Errorf("STATUS column misaligned (colors counted?):\n%s", strings.Join(lines, "\n"))
		}
	}
	if strings.Contains(term.out.String(), long) || !strings.Contains(term.out.String(), "…") {
		t.Errorf("the long name was not cut with an ellipsis:\n%s", strings.Join(lines, "\n"))
	}

	wide := m.gaibInTerminal(t, 60, "sandbox", "list", "-o", "wide")
	wide.wait(t)
	if !strings.Contains(wide.out.String(), long) || !strings.Contains(wide.out.String(), guildA) {
		t.Errorf("-o wide does not show every cell whole:\n%s", wide.out.String())
	}
	piped := m.gaib(t, "sandbox", "list").must(t).Stdout
	if !strings.Contains(piped, long) || strings.Contains(piped, "\x1b") {
		t.Errorf("list into a pipe is cut or colored:\n%q", piped)
	}
}

// runeIndex is the column where sub starts in s.
func runeIndex(s, sub string) int {
	i := strings.Index(s, sub)
	if i < 0 {
		return -1
	}
	return utf8.RuneCountInString(s[:i])
}

func nonEmpty(ls []string) []string {
	var out []string
	for _, l := range ls {
		if strings.TrimSpace(l) != "" {
			out = append(out, l)
		}
	}
	return out
}

// TestDestroyPromptAtATerminal answers the prompt with Ctrl-C, then with n: both leave the
// sandbox, with exit 130 and 1; nothing typed later is taken for an answer.
func TestDestroyPromptAtATerminal(t *testing.T) {
	m := startMesh(t, services.MeshConfig{})
	m.gaib(t, "sandbox", "create", "precious").must(t)

	term := m.gaibInTerminal(t, 100, "sandbox", "destroy", "precious")
	eventually(t, "the prompt", func() bool { return strings.Contains(term.out.String(), "[y/N]") })
	term.typeIn(t, "\x03")
	if code := term.wait(t); code != cli.ExitInterrupted || !strings.Contains(term.out.String(), "nothing was changed") {
		t.Fatalf("Ctrl-C at the prompt: exit %d\n%s", code, term.out.String())
	}
	if st := m.gaib(t, "--json", "sandbox", "status", "precious").must(t).record(t); st.Status != sandbox.StatusRunning {
		t.Fatalf("after Ctrl-C the sandbox is %s", st.Status)
	}

	term = m.gaibInTerminal(t, 100, "sandbox", "destroy", "precious")
	eventually(t, "the prompt", func() bool { return strings.Contains(term.out.String(), "[y/N]") })
	term.typeIn(t, "n\r")
	if code := term.wait(t); code != sandbox.ExitFailure || !strings.Contains(term.out.String(), "Not destroyed.") {
		t.Fatalf("n at the prompt: exit %d\n%s", code, term.out.String())
	}
	m.gaib(t, "sandbox", "status", "precious").must(t)

	term = m.gaibInTerminal(t, 100, "sandbox", "delete", "precious")
	eventually(t, "the prompt", func() bool { return strings.Contains(term.out.String(), "[y/N]") })
	term.typeIn(t, "y\r")
	if code := term.wait(t); code != 0 || !strings.Contains(term.out.String(), "Destroyed sandbox precious") {
		t.Fatalf("y at the prompt: exit %d\n%s", code, term.out.String())
	}
}

// TestWatchAtATerminal redraws in place on every change and ends quietly with exit 0 on
// Ctrl-C.
func TestWatchAtATerminal(t *testing.T) {
	m := startMesh(t, services.MeshConfig{})
	m.gaib(t, "sandbox", "create", "watched").must(t)
	term := m.gaibInTerminal(t, 80, "sandbox", "status", "watched", "--watch")
	eventually(t, "the watch", func() bool { return strings.Contains(term.out.String(), "Watching sandbox watched") })
	if !strings.Contains(term.out.String(), "Health nats:") {
		t.Errorf("--watch does not show health:\n%s", term.out.String())
	}
	m.gaib(t, "sandbox", "extend", "watched", "--ttl", "2d").must(t)
	// Redrawn in place: the cursor goes back up over the block, which is cleared below.
	eventually(t, "the redraw", func() bool { return regexp.MustCompile(`\x1b\[\d+A\r\x1b\[J`).MatchString(term.out.String()) })
	if strings.Contains(term.out.String(), "\x1b[2J") {
		t.Errorf("--watch clears the whole screen")
	}
	term.typeIn(t, "\x03")
	if code := term.wait(t); code != 0 || strings.Contains(term.out.String(), "context canceled") || strings.Contains(term.out.String(), "gaib:") {
		t.Fatalf("Ctrl-C on --watch: exit %d\n%s", code, term.out.String())
	}
}

// TestEventsFitTheTerminal cuts each event to the terminal's width at a character boundary;
// --full and a pipe show it whole.
func TestEventsFitTheTerminal(t *testing.T) {
	m := startMesh(t, services.MeshConfig{})
	m.gaib(t, "sandbox", "create", "wide-events").must(t)
	data := `{"text":"` + strings.Repeat("é漢", 100) + `"}`
	m.gaib(t, "events", "publish", "--sandbox", "wide-events", "--data", data).must(t)

	term := m.gaibInTerminal(t, 70, "sandbox", "events", "wide-events", "--all", "--count", "1")
	if code := term.wait(t); code != 0 {
		t.Fatalf("events exited %d: %s", code, term.out.String())
	}
	var line string
	for _, l := range term.screenLines() {
		if strings.Contains(l, "events.member.join") {
			line = l
		}
	}
	if line == "" || !strings.HasSuffix(line, "…") || !utf8.ValidString(line) || displayColumns(line) > 70 {
		t.Fatalf("event on a 70-column terminal (%d columns): %q", displayColumns(line), line)
	}

	full := m.gaibInTerminal(t, 70, "sandbox", "events", "wide-events", "--all", "--count", "1", "--full")
	full.wait(t)
	if !strings.Contains(strings.ReplaceAll(full.out.String(), "\r\n", ""), strings.Repeat("é漢", 100)) {
		t.Errorf("--full cut the event:\n%s", full.out.String())
	}
	// Ctrl-C ends a tail quietly, with exit 0.
	follow := m.gaibInTerminal(t, 70, "sandbox", "events", "wide-events")
	eventually(t, "the tail", func() bool { return strings.Contains(follow.out.String(), "Following sandbox wide-events") })
	follow.typeIn(t, "\x03")
	if code := follow.wait(t); code != 0 || strings.Contains(follow.out.String(), "gaib:") {
		t.Errorf("Ctrl-C on events: exit %d\n%s", code, follow.out.String())
	}
	piped := startBackground(t, "--server", m.URL, "--creds", m.creds[tester], "sandbox", "events", "wide-events", "--all", "--count", "1")
	piped.exit(t, "events into a pipe")
	if !strings.Contains(piped.out.String(), strings.Repeat("é漢", 100)) {
		t.Errorf("events into a pipe cut the event: %q", piped.out.String())
	}
}

// displayColumns counts East Asian wide characters as two columns.
func displayColumns(s string) int {
	n := 0
	for _, r := range s {
		if r >= 0x1100 && (r <= 0x115f || (r >= 0x2e80 && r <= 0xa4cf) || (r >= 0xac00 && r <= 0xd7a3) || (r >= 0xf900 && r <= 0xfaff) || (r >= 0xff00 && r <= 0xff60)) {
			n += 2
		} else {
			n++
		}
	}
	return n
}

// TestBashCompletion loads the completion script into a real bash and completes commands,
// flags, flag values and the names of the sandboxes on the mesh.
func TestBashCompletion(t *testing.T) {
	m := startMesh(t, services.MeshConfig{})
	m.gaib(t, "sandbox", "create", "completed").must(t)
	bin := gaibBinary(t)
	script := `source <(gaib completion bash)
complete_words() { COMP_WORDS=("$@"); COMP_CWORD=$(( $# - 1 )); COMPREPLY=(); _gaib; echo "${COMPREPLY[*]}"; }
complete_words gaib sandbox cr
complete_words gaib sb status ""
complete_words gaib sandbox list --out
complete_words gaib -o y
`
	cmd := exec.Command("bash", "-c", script)
	cmd.Env = append(os.Environ(), "PATH="+filepath.Dir(bin)+":"+os.Getenv("PATH"), "NATS_URL="+m.URL, "NATS_CREDS="+m.creds[tester])
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	want := []string{"create", "completed", "--output", "yaml"}
	got := strings.Split(strings.TrimSpace(string(out)), "\n")
	if len(got) != len(want) {
		t.Fatalf("completions: %q", out)
	}
	for i, w := range want {
		if got[i] != w {
			t.Errorf("completion %d: %q, want %q", i, got[i], w)
		}
	}
}
