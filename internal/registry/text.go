package registry

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

// Truncate caps s at n runes, marking the cut with an ellipsis. It walks n
// runes only: s may be a body of many megabytes.
func Truncate(s string, n int) string {
	i := 0
	for range n {
		if i >= len(s) {
			return s
		}
		_, size := utf8.DecodeRuneInString(s[i:])
		i += size
	}
	if i >= len(s) {
		return s
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
