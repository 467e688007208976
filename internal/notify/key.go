package notify

import (
	"fmt"
	"strings"
)

// Key names what a report is about: a model and its target. One PR comment,
// one GitHub environment and one Slack message thread belong to each key.
type Key struct {
	Model string
	Alias string // without "@"
	Stage string // canonical: Staging, Production, Archived, None
}

// Target is the key's target as the marker spells it: "@champion",
// "stage:Production", or "@champion,stage:Production".
func (k Key) Target() string {
	var parts []string
	if k.Alias != "" {
		parts = append(parts, "@"+k.Alias)
	}
	if k.Stage != "" {
		parts = append(parts, "stage:"+k.Stage)
	}
	return strings.Join(parts, ",")
}

// Marker is the hidden first line of the key's PR comment. Names are
// percent-encoded so that no name can end the HTML comment or forge another
// key's marker.
func (k Key) Marker() string {
	var target []string
	if k.Alias != "" {
		target = append(target, "@"+markerEscape(k.Alias))
	}
	if k.Stage != "" {
		target = append(target, "stage:"+markerEscape(k.Stage))
	}
	return fmt.Sprintf("<!-- mlreg-action model=%s target=%s -->", markerEscape(k.Model), strings.Join(target, ","))
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

// Environment is the default GitHub environment of the key's deployments:
// <model>@<alias>, or <model>/<Stage> for a stage alone.
func (k Key) Environment() string {
	if k.Alias != "" {
		return k.Model + "@" + k.Alias
	}
	return k.Model + "/" + k.Stage
}

// TagSuffix names the key's primary target in tag keys, as the audit record
// does: "alias.champion", else "stage.Production".
func (k Key) TagSuffix() string {
	if k.Alias != "" {
		return "alias." + k.Alias
	}
	return "stage." + k.Stage
}

// productionAliases are aliases that name what users are served.
var productionAliases = map[string]bool{"champion": true, "production": true, "prod": true, "live": true}

// ProductionLike reports whether a deployment to env for k reaches end users:
// stage Production, an alias such as champion or prod, or an environment
// named production or prod.
func (k Key) ProductionLike(env string) bool {
	if k.Stage == "Production" || productionAliases[strings.ToLower(k.Alias)] {
		return true
	}
	e := strings.ToLower(env)
	return e == "production" || e == "prod"
}
