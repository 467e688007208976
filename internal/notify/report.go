package notify

import (
	"encoding/json"
	"fmt"
	"net/url"

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
	OutcomeRegistered = "registered"         // register: a new version
	OutcomeReused     = "already registered" // register: this workflow run registered it before
	OutcomeHistory    = "recorded"           // history: the holder is the last recorded one
	OutcomeDrift      = "drift"              // history: a target was moved outside mlreg-action
)

// Report is everything a reviewer needs to judge what a command did: the
// plan and its evidence for validate, promote and rollback, the new version
// for register, the recorded history for history.
type Report struct {
	Command    string           `json:"command"`
	Outcome    string           `json:"outcome"`
	DryRun     bool             `json:"dry_run"`
	Plan       *promote.Plan    `json:"plan,omitempty"`
	PlanDigest string           `json:"plan_digest,omitempty"`
	Applied    *promote.Outcome `json:"applied,omitempty"`
	// Registered is the version register created or found.
	Registered *Registration `json:"registered,omitempty"`
	// History is each single target's recorded history, for history.
	History []*promote.TargetHistory `json:"history,omitempty"`
	Error   string                   `json:"error,omitempty"`
	Links   Links                    `json:"links"`
	Model   string                   `json:"model"`
	// Target is what the command moves or reads; zero for register. The
	// JSON holds its label: "@champion", "stage Production", or both
	// joined by " + ".
	Target   checks.Target `json:"target"`
	NoPolicy bool          `json:"no_policy,omitempty"`
	// Fleet is set for validate and promote with manifest (fleet.go); the
	// report file holds its fleetJSON (MarshalJSON).
	Fleet       *Fleet `json:"-"`
	TrackingURI string `json:"-"`
}

// Registration is the model version a register run created (or found, when
// the same workflow run had registered it before).
type Registration struct {
	Version string `json:"version"`
	Source  string `json:"source"`
	// Requested is the runs:/ URI asked for, and Resolution which source it
	// resolved to and why; both "" for any other source.
	Requested  string `json:"requested,omitempty"`
	Resolution string `json:"resolution,omitempty"`
	RunID      string `json:"run_id,omitempty"`
	Status     string `json:"status"`
	Reused     bool   `json:"reused,omitempty"`
}

// PreviousVersion is the version the promotion replaced at its first
// target ("" when none); see promote.PreviousVersion.
func (r *Report) PreviousVersion() string { return promote.PreviousVersion(r.Plan, r.Applied) }

// Drift reports whether any target of a history report drifted.
func (r *Report) Drift() bool {
	for _, h := range r.History {
		if h.Drift {
			return true
		}
	}
	return false
}

// Version is the model version the report is about: the candidate, the
// registered version, or the current holder of a history's first target.
func (r *Report) Version() string {
	switch {
	case r.Plan != nil:
		return r.Plan.Candidate.Version
	case r.Registered != nil:
		return r.Registered.Version
	case len(r.History) > 0:
		return r.History[0].Current
	}
	return ""
}

// Links point to where the evidence lives.
type Links struct {
	Version     string `json:"version,omitempty"`      // MLflow model version page
	Run         string `json:"run,omitempty"`          // MLflow run page of the candidate
	WorkflowRun string `json:"workflow_run,omitempty"` // GitHub Actions run
}

// URIs are the URIs MLflow loads a version and an alias by:
// models:/<name>/<version> and models:/<name>@<alias> (mlflow.pyfunc), or
// prompts:/ for a prompt (mlflow.genai.load_prompt); aliasURI is "" without
// an alias, and modelURI without a version.
func URIs(name, version, alias string, prompt bool) (modelURI, aliasURI string) {
	scheme := "models"
	if prompt {
		scheme = "prompts"
	}
	if version != "" {
		modelURI = fmt.Sprintf("%s:/%s/%s", scheme, name, version)
	}
	if alias != "" {
		aliasURI = fmt.Sprintf("%s:/%s@%s", scheme, name, alias)
	}
	return modelURI, aliasURI
}

// MarshalJSON writes the report file. With a manifest the report is about
// many models and targets, each in its entry: the top-level model and
// target, which would be empty, are left out.
func (r *Report) MarshalJSON() ([]byte, error) {
	type plain Report // without this method
	if r.Fleet == nil {
		return json.Marshal((*plain)(r))
	}
	return json.Marshal(struct {
		*plain
		Model  string     `json:"model,omitempty"`
		Target string     `json:"target,omitempty"`
		Fleet  *fleetJSON `json:"manifest"`
	}{plain: (*plain)(r), Fleet: r.fleetJSON()})
}

// RunURL is MLflow's UI page of a run (the experiment id is not needed by the UI's redirect).
func RunURL(trackingURI, runID string) string {
	if trackingURI == "" || runID == "" {
		return ""
	}
	return fmt.Sprintf("%s/#/runs/%s", trackingURI, url.PathEscape(runID))
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
	if r.Fleet != nil {
		return r.fleetHeadline()
	}
	v := ""
	if ver := r.Version(); ver != "" && r.Command != "history" {
		v = " v" + ver
	}
	target := r.Target.Label()
	switch r.Outcome {
	case OutcomeRegistered, OutcomeReused:
		from := ""
		if g := r.Registered; g != nil && g.RunID != "" {
			from = " from run " + g.RunID
		} else if g != nil {
			from = " from " + g.Source
		}
		if r.Outcome == OutcomeReused {
			return fmt.Sprintf("📦 %s%s already registered%s by this workflow run", r.Model, v, from)
		}
		return fmt.Sprintf("📦 %s%s registered%s", r.Model, v, from)
	case OutcomeHistory:
		return fmt.Sprintf("📜 %s %s: held by %s, as recorded", r.Model, target, verOrNone(r.Version()))
	case OutcomeDrift:
		return fmt.Sprintf("⚠️ %s %s: drift, moved outside mlreg-action", r.Model, target)
	}
	model := r.Model
	if r.prompt() {
		model = "prompt " + model
	}
	switch r.Outcome {
	case OutcomePromoted:
		return fmt.Sprintf("✅ %s%s promoted to %s", model, v, target)
	case OutcomeRolledBack:
		return fmt.Sprintf("↩️ %s %s rolled back to%s", model, target, v)
	case OutcomeInPlace:
		return fmt.Sprintf("✅ %s%s already in place at %s", model, v, target)
	case OutcomeWould:
		if r.DryRun {
			return fmt.Sprintf("🧪 %s%s would be promoted to %s (dry run)", model, v, target)
		}
		return fmt.Sprintf("✅ %s%s passes the policy for %s", model, v, target)
	case OutcomeBlocked:
		return fmt.Sprintf("❌ %s%s does not meet the policy for %s", model, v, target)
	case OutcomeConflict:
		return fmt.Sprintf("⚠️ %s%s: %s moved since the plan", model, v, target)
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
