package action

import (
	"strings"

	"github.com/mlreg/mlreg-action/internal/checks"
)

// didYouMean is "; did you mean --model-name?" for a mistyped name: the
// candidates that start with it, else the nearest ones by edit distance
// (transpositions count one), when that distance is small for the name's
// length: 1 up to 4 letters, 2 up to 7, 3 beyond. prefix is written before
// each candidate ("--" for flags). It is "" when nothing is near.
func didYouMean(typed string, candidates []string, prefix string) string {
	var near []string
	if len(typed) >= 2 {
		for _, c := range candidates {
			if strings.HasPrefix(c, typed) && c != typed {
				near = append(near, c)
			}
		}
	}
	if len(near) == 0 {
		best := min(3, max(1, (len(typed)+1)/3))
		for _, c := range candidates {
			switch d := checks.EditDistance(typed, c); {
			case d < best:
				best, near = d, []string{c}
			case d == best:
				near = append(near, c)
			}
		}
	}
	if len(near) == 0 || len(near) > 3 {
		return ""
	}
	for i, c := range near {
		near[i] = prefix + c
	}
	if len(near) == 1 {
		return "; did you mean " + near[0] + "?"
	}
	return "; did you mean " + strings.Join(near[:len(near)-1], ", ") + " or " + near[len(near)-1] + "?"
}
