package cli

import (
	"io"
	"strings"
)

// table is a human table: columns are padded by their visible width (colors are added
// after padding, so they never shift a column), every cell is cleaned of control
// characters, and the table fits the terminal: the widest shrinkable columns are cut with
// an ellipsis. -o wide, or a stdout that is not a terminal, shows every cell whole.
type table struct {
	header []string
	rows   [][]cell
	// shrink marks the columns that may be cut to fit (free text: names, notes).
	shrink []bool
	// right marks right-aligned (numeric) columns.
	right []bool
}

// cell is one table cell: its text and an optional color.
type cell struct {
	text, color string
}

// newTable starts a table with these column titles. A title ending in "~" is a column
// that may be cut to fit; one ending in ">" is right-aligned.
func newTable(titles ...string) *table {
	t := &table{shrink: make([]bool, len(titles)), right: make([]bool, len(titles))}
	for i, h := range titles {
		if s, ok := strings.CutSuffix(h, "~"); ok {
			h, t.shrink[i] = s, true
		}
		if s, ok := strings.CutSuffix(h, ">"); ok {
			h, t.right[i] = s, true
		}
		t.header = append(t.header, h)
	}
	return t
}

// row adds a row of plain cells.
func (t *table) row(cells ...string) {
	r := make([]cell, len(cells))
	for i, c := range cells {
		r[i] = cell{text: c}
	}
	t.add(r...)
}

// add adds a row of cells.
func (t *table) add(cells ...cell) {
	for i := range cells {
		cells[i].text = clean(cells[i].text)
	}
	t.rows = append(t.rows, cells)
}

// colGap is the space between columns.
const colGap = 2

// minShrunk is the narrowest a shrinkable column gets (then the line is cut as a whole).
const minShrunk = 6

// render writes the table. width is the terminal's (0: unlimited); color says whether to
// paint cells.
func (t *table) render(w io.Writer, width int, color bool) error {
	widths := make([]int, len(t.header))
	for i, h := range t.header {
		widths[i] = displayWidth(h)
	}
	for _, r := range t.rows {
		for i, c := range r {
			widths[i] = max(widths[i], displayWidth(c.text))
		}
	}
	if width > 0 {
		t.fit(widths, width)
	}
	var b strings.Builder
	line := func(cells []cell) {
		var l strings.Builder
		for i, c := range cells {
			last := i == len(cells)-1
			text := cut(c.text, widths[i])
			gap := widths[i] - displayWidth(text)
			if t.right[i] {
				l.WriteString(strings.Repeat(" ", gap))
			}
			if color && c.color != "" {
				l.WriteString(c.color + text + ansiReset)
			} else {
				l.WriteString(text)
			}
			if !t.right[i] && !last {
				l.WriteString(strings.Repeat(" ", gap))
			}
			if !last {
				l.WriteString(strings.Repeat(" ", colGap))
			}
		}
		b.WriteString(strings.TrimRight(l.String(), " ") + "\n")
	}
	head := make([]cell, len(t.header))
	for i, h := range t.header {
		head[i] = cell{text: h}
	}
	line(head)
	for _, r := range t.rows {
		line(r)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// fit shrinks the widest shrinkable columns until the table fits width; when that is not
// enough it shrinks the last column too.
func (t *table) fit(widths []int, width int) {
	total := func() int {
		n := colGap * (len(widths) - 1)
		for _, w := range widths {
			n += w
		}
		return n
	}
	for total() > width {
		widest := -1
		for i, w := range widths {
			floor := max(minShrunk, displayWidth(t.header[i]))
			if t.shrink[i] && w > floor && (widest < 0 || w > widths[widest]) {
				widest = i
			}
		}
		if widest < 0 {
			break
		}
		widths[widest]--
	}
	if over := total() - width; over > 0 {
		last := len(widths) - 1
		widths[last] = max(1, widths[last]-over)
	}
}
