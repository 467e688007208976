package registry

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

// Truncate cuts s to at most n runes, the ellipsis that marks a cut
// included: s itself when it has n runes or fewer, else its first n-1
// runes and "…" ("" for n <= 0). It is the one cut of text for a limit, in
// messages and in every report. It walks n runes only: s may be a body of
// many megabytes.
func Truncate(s string, n int) string {
	if n <= 0 {
		return ""
	}
	i := 0 // the end of the first n-1 runes
	for range n - 1 {
		if i >= len(s) {
			return s
		}
		_, size := utf8.DecodeRuneInString(s[i:])
		i += size
	}
	if i >= len(s) {
		return s
	}
	if _, size := utf8.DecodeRuneInString(s[i:]); i+size >= len(s) {
		return s // exactly n runes
	}
	return s[:i] + "…"
}

// QuoteFilterValue quotes s as a string literal for a model version search
// filter (MLflow's and Unity Catalog's), e.g. "name=" + q. MLflow's filter
// parser has no escape sequences: a value is wrapped in single quotes, or in
// double quotes when it contains a single quote. A value holding both kinds
// cannot be expressed and is an error.
func QuoteFilterValue(s string) (string, error) {
	switch {
	case !strings.Contains(s, "'"):
		return "'" + s + "'", nil
	case !strings.Contains(s, `"`):
		return `"` + s + `"`, nil
	default:
		return "", fmt.Errorf("cannot quote %q for an MLflow search filter: it contains both quote characters", s)
	}
}
