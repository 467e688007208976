package notify

import (
	"fmt"
	"strings"

	"github.com/mlreg/mlreg-action/internal/checks"
)

// A report's model and target name what it is about: one PR comment, one
// GitHub environment and one Slack message thread belong to each. The
// target's own methods (checks.Target) give its label, its tag suffix and
// its default environment; this file spells it for the PR comment marker
// and the deployment payload.

// markerTarget is the target as the marker and the deployment payload
// spell it: "@champion", "stage:Production", or "@champion,stage:Production".
func markerTarget(t checks.Target, esc func(string) string) string {
	var parts []string
	if t.Alias != "" {
		parts = append(parts, "@"+esc(t.Alias))
	}
	if t.Stage != "" {
		parts = append(parts, "stage:"+esc(t.Stage))
	}
	return strings.Join(parts, ",")
}

func same(s string) string { return s }

// targetMarker is the hidden first line of a promotion's PR comment, one
// comment per model and target: <!-- mlreg-action model=<name>
// target=<target> --> (a registration's and a manifest's have their own:
// Register.marker, Fleet.marker). Names are percent-encoded so that no
// name can end the HTML comment or forge another key's marker.
func targetMarker(r *Report) string {
	return fmt.Sprintf("<!-- mlreg-action model=%s target=%s -->", markerEscape(r.Model), markerTarget(r.Target, markerEscape))
}

func markerEscape(s string) string {
	var b strings.Builder
	for _, c := range []byte(s) {
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', strings.IndexByte("._~-/", c) >= 0:
			b.WriteByte(c)
		default:
			fmt.Fprintf(&b, "%%%02X", c)
		}
	}
	return b.String()
}

// productionAliases are aliases that name what users are served.
var productionAliases = map[string]bool{"champion": true, "production": true, "prod": true, "live": true}

// productionLike reports whether a deployment to env for t reaches end
// users: stage Production, an alias such as champion or prod, or an
// environment named production or prod.
func productionLike(t checks.Target, env string) bool {
	if t.Stage == "Production" || productionAliases[strings.ToLower(t.Alias)] {
		return true
	}
	e := strings.ToLower(env)
	return e == "production" || e == "prod"
}
