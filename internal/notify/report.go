package notify

import (
	"fmt"
	"net/url"
	"strings"

	"github.com/mlreg/mlreg-action/internal/checks"
	"github.com/mlreg/mlreg-action/internal/promote"
)

// Outcomes of a report, as users read them.
const (
	OutcomePromoted   = "promoted"
	OutcomeInPlace    = "already in place"
	OutcomeWould      = "would promote" // validate or dry-run with a passing verdict
	OutcomeBlocked    = "blocked by policy"
	OutcomeConflict   = "conflict"
	OutcomeError      = "error"
	OutcomeRolledBack = "rolled back"
)

// Report is everything a reviewer needs to judge a promotion.
type Report struct {
	Command     string           `json:"command"`
	Outcome     string           `json:"outcome"`
	DryRun      bool             `json:"dry_run"`
	Plan        *promote.Plan    `json:"plan,omitempty"`
	PlanDigest  string           `json:"plan_digest,omitempty"`
	Applied     *promote.Outcome `json:"applied,omitempty"`
	Error       string           `json:"error,omitempty"`
	Links       Links            `json:"links"`
	Model       string           `json:"model"`
	Target      string           `json:"target"` // "@champion", "stage Production", or both joined by " + "
	NoPolicy    bool             `json:"no_policy,omitempty"`
	TrackingURI string           `json:"-"`
}

// Links point to where the evidence lives.
type Links struct {
	Version     string `json:"version,omitempty"`      // MLflow model version page
	Run         string `json:"run,omitempty"`          // MLflow run page of the candidate
	WorkflowRun string `json:"workflow_run,omitempty"` // GitHub Actions run
}

// VersionURL is MLflow's UI page of a model version.
func VersionURL(trackingURI, model, version string) string {
	if trackingURI == "" || version == "" {
		return ""
	}
	return fmt.Sprintf("%s/#/models/%s/versions/%s", trackingURI, url.PathEscape(model), url.PathEscape(version))
}

// PromptURL is MLflow's UI page of a prompt version (the Prompt Registry's
// route /prompts/:promptName, with the version in its promptVersion query).
func PromptURL(trackingURI, prompt, version string) string {
	if trackingURI == "" || version == "" {
		return ""
	}
	return fmt.Sprintf("%s/#/prompts/%s?promptVersion=%s", trackingURI, url.PathEscape(prompt), url.QueryEscape(version))
}

// RunURL is MLflow's UI page of a run (the experiment id is not needed by the UI's redirect).
func RunURL(trackingURI, runID string) string {
	if trackingURI == "" || runID == "" {
		return ""
	}
	return fmt.Sprintf("%s/#/runs/%s", trackingURI, url.PathEscape(runID))
}

// TargetLabel renders a plan's targets: "@champion + stage Production".
func TargetLabel(p *promote.Plan) string {
	labels := make([]string, 0, len(p.Targets))
	for _, t := range p.Targets {
		labels = append(labels, t.Label())
	}
	return strings.Join(labels, " + ")
}

// prompt reports whether the report is about a prompt of MLflow's Prompt Registry.
func (r *Report) prompt() bool { return r.Plan != nil && r.Plan.Prompt }

// subject names what the report is about: the model's name, or "prompt"
// and the prompt's name. n bounds the name.
func (r *Report) subject(n int) string {
	if r.prompt() {
		return "prompt " + plainText(r.Model, n)
	}
	return plainText(r.Model, n)
}

// versionLabel is the text of the link to the candidate's MLflow page.
func (r *Report) versionLabel() string {
	if r.prompt() {
		return "MLflow prompt"
	}
	return "MLflow version"
}

// Headline is the one-line verdict, e.g. "✅ fraud-model v15 promoted to
// @champion", or "✅ prompt support v4 promoted to @production".
func (r *Report) Headline() string {
	v := ""
	if r.Plan != nil {
		v = " v" + r.Plan.Candidate.Version
	}
	model := r.Model
	if r.prompt() {
		model = "prompt " + model
	}
	switch r.Outcome {
	case OutcomePromoted:
		return fmt.Sprintf("✅ %s%s promoted to %s", model, v, r.Target)
	case OutcomeRolledBack:
		return fmt.Sprintf("↩️ %s %s rolled back to%s", model, r.Target, v)
	case OutcomeInPlace:
		return fmt.Sprintf("✅ %s%s already in place at %s", model, v, r.Target)
	case OutcomeWould:
		if r.DryRun {
			return fmt.Sprintf("🧪 %s%s would be promoted to %s (dry run)", model, v, r.Target)
		}
		return fmt.Sprintf("✅ %s%s passes the policy for %s", model, v, r.Target)
	case OutcomeBlocked:
		return fmt.Sprintf("❌ %s%s does not meet the policy for %s", model, v, r.Target)
	case OutcomeConflict:
		return fmt.Sprintf("⚠️ %s%s: %s moved since the plan", model, v, r.Target)
	default:
		return fmt.Sprintf("⚠️ %s%s: %s failed", model, v, r.Command)
	}
}

// failed counts failing checks.
func (r *Report) counts() (pass, fail, skip int) {
	if r.Plan == nil {
		return
	}
	for _, c := range r.Plan.Checks {
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
