package cli

import (
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/width"
)

// clean makes s safe to show on a terminal on one line: a record an attacker tampered with
// may carry escape sequences (ESC, CSI as C1 0x9b), carriage returns that overwrite what
// was printed, or bidi overrides that reorder it. Control and bidi characters are dropped;
// tabs and newlines become spaces. JSON and YAML output never go through it: they stay
// exact.
func clean(s string) string { return sanitize(s, false) }

// cleanLines is clean that keeps newlines (multi-line messages).
func cleanLines(s string) string { return sanitize(s, true) }

func sanitize(s string, keepNewlines bool) string {
	if isPrintable(s) {
		return s
	}
	var b strings.Builder
	b.Grow(len(s))
	for _, r := range s {
		switch {
		case r == '\n' && keepNewlines:
			b.WriteRune(r)
		case r == '\t' || r == '\n':
			b.WriteByte(' ')
		case r == utf8.RuneError, unicode.IsControl(r), isBidi(r):
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

// isPrintable is the fast path of sanitize: plain printable ASCII.
func isPrintable(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x7f {
			return false
		}
	}
	return true
}

// isBidi reports the invisible characters that change the display order of text.
func isBidi(r rune) bool {
	return r == 0x061c || r == 0x200e || r == 0x200f || (r >= 0x202a && r <= 0x202e) || (r >= 0x2066 && r <= 0x2069)
}

// runeWidth is the number of terminal columns r takes: 2 for wide East Asian characters, 0
// for combining marks, else 1.
func runeWidth(r rune) int {
	switch {
	case unicode.Is(unicode.Mn, r) || unicode.Is(unicode.Me, r) || r == 0x200b || r == 0x200d:
		return 0
	}
	switch width.LookupRune(r).Kind() {
	case width.EastAsianWide, width.EastAsianFullwidth:
		return 2
	}
	return 1
}

// displayWidth is the number of terminal columns s takes (s has no escape sequences).
func displayWidth(s string) int {
	if isPrintable(s) {
		return len(s)
	}
	n := 0
	for _, r := range s {
		n += runeWidth(r)
	}
	return n
}

// ellipsis marks text that was cut.
const ellipsis = "…"

// cut shortens s to at most n terminal columns, ending with an ellipsis when it had to cut.
// It never splits a UTF-8 character, and never a wide one across the limit.
func cut(s string, n int) string {
	if n <= 0 {
		return ""
	}
	if displayWidth(s) <= n {
		return s
	}
	w := 0
	for i, r := range s {
		rw := runeWidth(r)
		if w+rw > n-1 {
			return s[:i] + ellipsis
		}
		w += rw
	}
	return s
}

// pad fills s with spaces to n columns.
func pad(s string, n int) string {
	if w := displayWidth(s); w < n {
		return s + strings.Repeat(" ", n-w)
	}
	return s
}

// relative is the one way gaib shows a time to a person: "in 23h59m", "5m ago", "now".
// Durations keep their two largest units (see shortDuration).
func relative(t, now time.Time) string {
	d := t.Sub(now)
	switch {
	case d > -time.Second && d < time.Second:
		return "now"
	case d > 0:
		return "in " + shortDuration(d)
	default:
		return shortDuration(-d) + " ago"
	}
}

// shortDuration renders d with its two largest units, rounded down: 45s, 5m, 5m30s,
// 23h59m, 2d3h, 12d.
func shortDuration(d time.Duration) string {
	const day = 24 * time.Hour
	units := []struct {
		size time.Duration
		name string
	}{{day, "d"}, {time.Hour, "h"}, {time.Minute, "m"}, {time.Second, "s"}}
	var parts []string
	for _, u := range units {
		if n := d / u.size; n > 0 || len(parts) > 0 {
			if n > 0 {
				parts = append(parts, strconv.FormatInt(int64(n), 10)+u.name)
			}
			d -= n * u.size
			if len(parts) == 2 || (len(parts) == 1 && n == 0) {
				break
			}
		}
	}
	if len(parts) == 0 {
		return "0s"
	}
	return strings.Join(parts, "")
}

// cutLine shortens one line of gaib's own text, which may hold its color codes (SGR
// sequences), to n visible columns; the codes take no room and are kept, and a cut line
// ends with a reset.
func cutLine(s string, n int) string {
	if n <= 0 || displayWidth(stripSGR(s)) <= n {
		return s
	}
	visible := 0
	for i := 0; i < len(s); {
		if j := sgrLen(s[i:]); j > 0 {
			i += j
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if visible+runeWidth(r) > n-1 {
			return s[:i] + ellipsis + ansiReset
		}
		visible += runeWidth(r)
		i += size
	}
	return s
}

// sgrLen is the length of the color code s starts with, or 0.
func sgrLen(s string) int {
	if !strings.HasPrefix(s, "\033[") {
		return 0
	}
	if j := strings.IndexByte(s, 'm'); j > 0 {
		return j + 1
	}
	return 0
}

// stripSGR removes gaib's color codes.
func stripSGR(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); {
		if j := sgrLen(s[i:]); j > 0 {
			i += j
			continue
		}
		b.WriteByte(s[i])
		i++
	}
	return b.String()
}
