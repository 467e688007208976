package checks

import (
	"fmt"
	"strings"
)

// Target is what a promotion moves: an alias, a legacy stage, or both. It is
// the one spelling of a target for the policy, the plan, the audit record,
// the history and the reports; every label, tag key and environment name of
// a target comes from its methods.
//
// A Target with one of the two set is a single target (promote.TargetPlan
// holds one); with both, Split gives the two, alias first. The alias is
// written without "@" and the stage canonically (Production): parse the
// user's spelling with CheckAlias and CanonicalStage first.
type Target struct {
	Alias string // without "@"
	Stage string // canonical: Staging, Production, Archived, None
}

// Target kinds, as the plan's JSON and the audit tag keys spell them.
const (
	TargetKindAlias = "alias"
	TargetKindStage = "stage"
)

// AliasTarget is the single target @alias.
func AliasTarget(alias string) Target { return Target{Alias: alias} }

// StageTarget is the single target of a (canonical) stage.
func StageTarget(stage string) Target { return Target{Stage: stage} }

// IsZero reports whether t names neither an alias nor a stage.
func (t Target) IsZero() bool { return t.Alias == "" && t.Stage == "" }

// Split returns the single targets of t: the alias first, then the stage.
func (t Target) Split() []Target {
	var out []Target
	if t.Alias != "" {
		out = append(out, AliasTarget(t.Alias))
	}
	if t.Stage != "" {
		out = append(out, StageTarget(t.Stage))
	}
	return out
}

// Primary is the target that names t in tag keys and environments: the
// alias when there is one, else the stage.
func (t Target) Primary() Target {
	if t.Alias != "" {
		return AliasTarget(t.Alias)
	}
	return StageTarget(t.Stage)
}

// Kind is TargetKindAlias or TargetKindStage, of the primary target.
func (t Target) Kind() string {
	if t.Alias != "" {
		return TargetKindAlias
	}
	return TargetKindStage
}

// Name is the primary target's name: the alias (without "@") or the stage.
func (t Target) Name() string {
	if t.Alias != "" {
		return t.Alias
	}
	return t.Stage
}

// Label renders t as reports write it: "@champion", "stage Production", or
// "@champion + stage Production".
func (t Target) Label() string {
	var parts []string
	if t.Alias != "" {
		parts = append(parts, "@"+t.Alias)
	}
	if t.Stage != "" {
		parts = append(parts, "stage "+t.Stage)
	}
	return strings.Join(parts, " + ")
}

// String is Label.
func (t Target) String() string { return t.Label() }

// TagSuffix names the primary target in tag keys, as the audit record does:
// "alias.champion", else "stage.Production".
func (t Target) TagSuffix() string { return t.Kind() + "." + t.Name() }

// Environment is the default GitHub environment of a deployment of model to
// t: <model>@<alias>, or <model>/<Stage> for a stage alone.
func (t Target) Environment(model string) string {
	if t.Alias != "" {
		return model + "@" + t.Alias
	}
	return model + "/" + t.Stage
}

// MarshalText writes the label, so a report's JSON says "target": "@champion".
func (t Target) MarshalText() ([]byte, error) { return []byte(t.Label()), nil }

// UnmarshalText reads a label that MarshalText wrote.
func (t *Target) UnmarshalText(b []byte) error {
	*t = Target{}
	s := string(b)
	if s == "" {
		return nil
	}
	for _, part := range strings.Split(s, " + ") {
		switch {
		case strings.HasPrefix(part, "@") && t.Alias == "":
			t.Alias = part[1:]
		case strings.HasPrefix(part, "stage ") && t.Stage == "":
			t.Stage = strings.TrimPrefix(part, "stage ")
		default:
			return fmt.Errorf("failed to parse target %q: want @alias, stage <Stage>, or both joined by \" + \"", s)
		}
	}
	return nil
}
