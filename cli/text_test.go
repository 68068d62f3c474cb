package cli

import (
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

// TestCleanStripsWhatDrivesATerminal feeds the sequences a tampered record could carry and
// checks none reaches the screen, while the readable text stays.
func TestCleanStripsWhatDrivesATerminal(t *testing.T) {
	for in, want := range map[string]string{
		"plain name":                      "plain name",
		"demo\x1b[2J\x1b[H":               "demo[2J[H",
		"\x1b]0;pwned\x07title":           "]0;pwnedtitle",
		"csi\u009b31mred":                 "csi31mred",
		"over\rwrite":                     "overwrite",
		"tab\tand\nnewline":               "tab and newline",
		"bidi\u202egnp.exe\u202c":         "bidignp.exe",
		"isolate\u2066x\u2069":            "isolatex",
		"del\x7f":                         "del",
		"é ✓ 漢字":                          "é ✓ 漢字",
		"bad utf8 \xff\xfe end":           "bad utf8  end",
		"\x00nul\x1b\x9b":                 "nul",
		"kept: [brackets] and $(dollars)": "kept: [brackets] and $(dollars)",
	} {
		if got := clean(in); got != want {
			t.Errorf("clean(%q) = %q, want %q", in, got, want)
		}
	}
	if got := cleanLines("line 1\nline\x1b[2J 2"); got != "line 1\nline[2J 2" {
		t.Errorf("cleanLines kept %q", got)
	}
}

func TestCutFitsColumnsAndNeverSplitsACharacter(t *testing.T) {
	for _, tc := range []struct {
		in   string
		n    int
		want string
	}{
		{"short", 10, "short"},
		{"exactly10!", 10, "exactly10!"},
		{"a bit too long", 10, "a bit too…"},
		{"ééééééééééé", 5, "éééé…"},
		{"漢字漢字漢字", 5, "漢字…"},
		{"漢字漢字漢字", 6, "漢字…"},
		{"x", 0, ""},
	} {
		got := cut(tc.in, tc.n)
		if got != tc.want || !utf8.ValidString(got) || displayWidth(got) > max(tc.n, 0) {
			t.Errorf("cut(%q, %d) = %q (%d columns), want %q", tc.in, tc.n, got, displayWidth(got), tc.want)
		}
	}
	colored := "\033[32mrunning\033[0m and more"
	got := cutLine(colored, 10)
	if displayWidth(stripSGR(got)) != 10 || !strings.HasPrefix(got, "\033[32mrunning") || !strings.HasSuffix(got, ellipsis+ansiReset) {
		t.Errorf("cutLine(%q, 10) = %q", colored, got)
	}
	if got := cutLine(colored, 40); got != colored {
		t.Errorf("cutLine cut a line that fits: %q", got)
	}
}

// TestTableAlignsColorsAndFitsTheWidth renders with colors: every column starts at the
// same visible position on every line, and a narrow width cuts the long cells, never a
// line past the width.
func TestTableAlignsColorsAndFitsTheWidth(t *testing.T) {
	tb := newTable("NAME~", "STATUS", "GUILDS>", "NOTE~")
	tb.add(cell{text: "a-very-long-sandbox-name-that-goes-on-and-on"}, cell{text: "running", color: ansiGreen}, cell{text: "1"}, cell{text: "note"})
	tb.add(cell{text: "short"}, cell{text: "destroyed", color: ansiDim}, cell{text: "12"}, cell{text: "a much longer note about it"})
	tb.add(cell{text: "evil\x1b[2J"}, cell{text: "expired", color: ansiYellow}, cell{text: "0"}, cell{text: "漢字"})
	for _, width := range []int{0, 60, 40} {
		var b strings.Builder
		if err := tb.render(&b, width, true); err != nil {
			t.Fatal(err)
		}
		lines := strings.Split(strings.TrimSuffix(b.String(), "\n"), "\n")
		if len(lines) != 4 {
			t.Fatalf("width %d: %d lines", width, len(lines))
		}
		statusCol := -1
		for _, l := range lines {
			plain := stripSGR(l)
			if strings.ContainsRune(plain, '\x1b') {
				t.Fatalf("width %d: an escape from a cell reached the output: %q", width, l)
			}
			if width > 0 && displayWidth(plain) > width {
				t.Errorf("width %d: line of %d columns: %q", width, displayWidth(plain), plain)
			}
			// The STATUS column starts where the header's does, on every line.
			col := -1
			for _, word := range []string{"STATUS", "running", "destroyed", "expired"} {
				if i := strings.Index(plain, word); i >= 0 {
					col = displayWidth(plain[:i])
				}
			}
			if statusCol < 0 {
				statusCol = col
			} else if col != statusCol {
				t.Errorf("width %d: STATUS at column %d, header at %d:\n%s", width, col, statusCol, b.String())
			}
		}
		full := strings.Contains(b.String(), "a-very-long-sandbox-name-that-goes-on-and-on") &&
			strings.Contains(b.String(), "a much longer note about it")
		if (width == 0) != full || (width > 0 && !strings.Contains(b.String(), ellipsis)) {
			t.Errorf("width %d: long cells cut wrongly:\n%s", width, b.String())
		}
	}
}

func TestOneStyleOfRelativeTime(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	for d, want := range map[time.Duration]string{
		0:                            "now",
		45 * time.Second:             "in 45s",
		-5 * time.Minute:             "5m ago",
		-(5*time.Minute + 30e9):      "5m30s ago",
		24*time.Hour - time.Second:   "in 23h59m",
		2*24*time.Hour + 3*time.Hour: "in 2d3h",
		12 * 24 * time.Hour:          "in 12d",
		-(3*time.Hour + 20e9):        "3h ago",
	} {
		if got := relative(now.Add(d), now); got != want {
			t.Errorf("relative(%s) = %q, want %q", d, got, want)
		}
	}
}
