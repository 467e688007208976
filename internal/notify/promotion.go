package notify

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/mlreg/mlreg-action/internal/checks"
	"github.com/mlreg/mlreg-action/internal/outcome"
	"github.com/mlreg/mlreg-action/internal/promote"
)

// Promotion is the body of the report of validate, promote and rollback: the
// plan and its evidence and, once applied, what the apply did. Its
// renderings are in markdown.go, text.go, slackmsg.go and status.go.
type Promotion struct {
	quiet
	Plan    *promote.Plan    // nil when the run stopped before it had a plan
	Applied *promote.Outcome // nil until applied
	// Moves: the run moves the target when the plan passes (promote and
	// rollback, not a dry run); only such a report has a deployment and a
	// Slack message that a rerun edits.
	Moves bool
}

func (pm *Promotion) version() string {
	if pm.Plan == nil {
		return ""
	}
	return pm.Plan.Candidate.Version
}

func (pm *Promotion) prompt() bool { return pm.Plan != nil && pm.Plan.Prompt }

// PreviousVersion is the version the promotion replaced at its first
// target ("" when none); see promote.PreviousVersion.
func (pm *Promotion) PreviousVersion() string { return promote.PreviousVersion(pm.Plan, pm.Applied) }

func (pm *Promotion) headline(r *Report) string {
	v := versionSuffix(pm.version())
	target := r.Target.Label()
	model := r.Model
	if pm.prompt() {
		model = "prompt " + model
	}
	switch r.Outcome {
	case outcome.Promoted:
		return fmt.Sprintf("✅ %s%s promoted to %s", model, v, target)
	case outcome.RolledBack:
		return fmt.Sprintf("↩️ %s %s rolled back to%s", model, target, v)
	case outcome.InPlace:
		return fmt.Sprintf("✅ %s%s already in place at %s", model, v, target)
	case outcome.WouldChange:
		if r.DryRun {
			return fmt.Sprintf("🧪 %s%s would be promoted to %s (dry run)", model, v, target)
		}
		return fmt.Sprintf("✅ %s%s passes the policy for %s", model, v, target)
	case outcome.Blocked:
		return fmt.Sprintf("❌ %s%s does not meet the policy for %s", model, v, target)
	case outcome.Conflict:
		return fmt.Sprintf("⚠️ %s%s: %s moved since the plan", model, v, target)
	}
	return r.failedHeadline(pm.version())
}

// counts counts the checks by status.
func (pm *Promotion) counts() (pass, fail, skip int) {
	if pm.Plan == nil {
		return
	}
	for _, c := range pm.Plan.Checks {
		switch c.Status {
		case checks.StatusPass:
			pass++
		case checks.StatusFail:
			fail++
		default:
			skip++
		}
	}
	return
}

func (pm *Promotion) encode(r *Report, j *reportJSON) { j.Plan, j.Applied = pm.Plan, pm.Applied }

// outputs: verdict, the candidate and the version it replaced, whether the
// registry changed, the URIs and the plan digest.
func (pm *Promotion) outputs(r *Report) [][2]string {
	verdict, version, digest, uri, aliasURI := "", "", "", "", ""
	if p := pm.Plan; p != nil {
		verdict, version, digest = p.Verdict, p.Candidate.Version, p.Digest
		uri, aliasURI = URIs(p.Model, version, r.Target.Alias, p.Prompt)
	}
	changed := pm.Applied != nil && pm.Applied.Changed
	return [][2]string{
		{"verdict", verdict},
		{"model-version", version},
		{"previous-version", pm.PreviousVersion()},
		{"changed", fmt.Sprint(changed)},
		{"model-uri", uri},
		{"alias-uri", aliasURI},
		{"plan-digest", digest},
	}
}

// slackThread: a promotion that applied or found itself in place keeps its
// message in a tag of the promoted version, next to the audit record. The
// same promotion is the one the audit record names: its plan digest is the
// promoting run's, and stays so on no-op reruns.
func (pm *Promotion) slackThread(r *Report) (slackThread, bool) {
	if !pm.Moves || pm.Plan == nil {
		return slackThread{}, false
	}
	switch r.Outcome {
	case outcome.Promoted, outcome.InPlace, outcome.RolledBack:
	default:
		return slackThread{}, false
	}
	return slackThread{tag: SlackTagPrefix + r.Target.TagSuffix(), model: pm.Plan.Model, version: pm.Plan.Candidate.Version,
		noun: "promotion", digest: func(tags map[string]string, s Settings) string {
			var rec promote.Record
			if v := tags[s.storedKey(promote.PromotionTagKey(r.Target))]; v != "" && json.Unmarshal([]byte(v), &rec) == nil && rec.PlanDigest != "" {
				return rec.PlanDigest
			}
			return r.PlanDigest
		}}, true
}

// deploy creates the deployment of a promotion that moved (or tried to
// move) its target.
func (pm *Promotion) deploy(ctx context.Context, r *Report, s Settings, res *Result) error {
	if !pm.Moves {
		return nil
	}
	return deployReport(ctx, r, pm, s, res)
}
