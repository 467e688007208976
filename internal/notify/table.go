package notify

import (
	"strings"
	"unicode/utf8"

	"github.com/mlreg/mlreg-action/internal/registry"
)

// TextWidth is the width a report's tables fit on a terminal.
const TextWidth = 100

const (
	colGap = 2 // spaces between columns, as text/tabwriter pads them
	// minText is the narrowest a column of free text (a rule, a check's
	// name, a model) is cut to; minValue the width up to which a value
	// (a metric value, a bound, a version) is never cut; minWrap the
	// narrowest the last column wraps at.
	minText  = 10
	minValue = 24
	minWrap  = 24
	minCut   = 4 // the narrowest any column is cut to
)

// textTable lays rows out in columns, as text/tabwriter does with a padding
// of two, so that every line fits TextWidth: when the natural widths do not
// fit, the widest columns of free text are narrowed first (their long cells
// cut with an ellipsis), values only after them and never below minValue,
// and the last column, which holds what explains a row (a reason, an
// error, a link), wraps onto further lines instead of being cut, breaking
// after a space or a slash where it can.
type textTable struct {
	indent string
	header []string // none when nil
	rows   [][]string
	// value marks the columns that hold values (cut last); the others
	// hold free text.
	value map[int]bool
}

func (t *textTable) add(cells ...string) { t.rows = append(t.rows, cells) }

// drop removes column i.
func (t *textTable) drop(i int) {
	cut := func(r []string) []string {
		if i >= len(r) {
			return r
		}
		return append(r[:i:i], r[i+1:]...)
	}
	if t.header != nil {
		t.header = cut(t.header)
	}
	for j, r := range t.rows {
		t.rows[j] = cut(r)
	}
	value := map[int]bool{}
	for c, v := range t.value {
		switch {
		case c < i:
			value[c] = v
		case c > i:
			value[c-1] = v
		}
	}
	t.value = value
}

func runes(s string) int { return utf8.RuneCountInString(s) }

// widths are the columns' widths within TextWidth.
func (t *textTable) widths() []int {
	all := t.rows
	if t.header != nil {
		all = append([][]string{t.header}, t.rows...)
	}
	n := 0
	for _, r := range all {
		n = max(n, len(r))
	}
	w := make([]int, n)
	for _, r := range all {
		for i, c := range r {
			w[i] = max(w[i], runes(c))
		}
	}
	// The floors: first what keeps each kind of cell readable, then, if
	// the table is still too wide, the header's width (at least minCut).
	soft, hard := make([]int, n), make([]int, n)
	for i := range w {
		head := 0
		if i < len(t.header) {
			head = runes(t.header[i])
		}
		hard[i] = min(w[i], max(head, minCut))
		switch {
		case i == n-1:
			soft[i] = max(hard[i], min(w[i], minWrap))
		case t.value[i]:
			soft[i] = max(hard[i], min(w[i], minValue))
		default:
			soft[i] = max(hard[i], min(w[i], minText))
		}
	}
	avail := TextWidth - runes(t.indent) - colGap*(n-1)
	total := 0
	for _, x := range w {
		total += x
	}
	// Narrow the widest column of text (the last one counts as text) by
	// one at a time, then the values, each to its soft floor; then any
	// column, to its hard floor.
	text := func(i int) bool { return !t.value[i] || i == n-1 }
	anyColumn := func(int) bool { return true }
	for total > avail {
		i := widest(w, soft, text)
		if i < 0 {
			i = widest(w, soft, anyColumn)
		}
		if i < 0 {
			i = widest(w, hard, anyColumn)
		}
		if i < 0 {
			break // as narrow as the table can be
		}
		w[i]--
		total--
	}
	return w
}

// widest is the widest column that ok accepts and that is above its floor,
// the last one on a tie (it wraps rather than cuts); -1 when none is.
func widest(w, floor []int, ok func(int) bool) int {
	best := -1
	for i := range w {
		if ok(i) && w[i] > floor[i] && (best < 0 || w[i] >= w[best]) {
			best = i
		}
	}
	return best
}

// write renders the table into b; trailing spaces are trimmed.
func (t *textTable) write(b *strings.Builder) {
	w := t.widths()
	rows := t.rows
	if t.header != nil {
		rows = append([][]string{t.header}, t.rows...)
	}
	last := len(w) - 1
	lastAt := runes(t.indent)
	for i := range last {
		lastAt += w[i] + colGap
	}
	for _, r := range rows {
		var line strings.Builder
		line.WriteString(t.indent)
		var tail []string
		for i, c := range r {
			if i == last {
				tail = wrapCell(c, w[i])
				line.WriteString(tail[0])
				break
			}
			c = registry.Truncate(c, w[i])
			line.WriteString(c)
			line.WriteString(strings.Repeat(" ", w[i]-runes(c)+colGap))
		}
		b.WriteString(strings.TrimRight(line.String(), " "))
		b.WriteString("\n")
		for _, more := range tail[min(1, len(tail)):] {
			b.WriteString(strings.Repeat(" ", lastAt))
			b.WriteString(more)
			b.WriteString("\n")
		}
	}
}

// wrapCell breaks s into lines of at most width runes: after the last space
// in the line's last three quarters, else after its last slash, hyphen or
// comma in its second half, else at the width.
func wrapCell(s string, width int) []string {
	if width <= 0 || runes(s) <= width {
		return []string{s}
	}
	var out []string
	r := []rune(s)
	breakAfter := func(seps string, from int) int {
		for i := width; i > from; i-- {
			if strings.ContainsRune(seps, r[i-1]) {
				return i
			}
		}
		return 0
	}
	for len(r) > width {
		cut := breakAfter(" ", width/4)
		if cut == 0 {
			cut = breakAfter("/-,", width/2)
		}
		if cut == 0 {
			cut = width
		}
		out = append(out, strings.TrimRight(string(r[:cut]), " "))
		r = []rune(strings.TrimLeft(string(r[cut:]), " "))
	}
	if len(r) > 0 {
		out = append(out, string(r))
	}
	return out
}
