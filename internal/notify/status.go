package notify

import (
	"fmt"
	"slices"
	"strings"

	"github.com/mlreg/mlreg-action/internal/checks"
	"github.com/mlreg/mlreg-action/internal/github"
	"github.com/mlreg/mlreg-action/internal/outcome"
)

// MaxStatusLine is GitHub's limit for a deployment status description.
const MaxStatusLine = 140

// Deployment states GitHub accepts that a report maps to.
const (
	StateInProgress = github.StateInProgress
	StateSuccess    = github.StateSuccess
	StateFailure    = github.StateFailure
	StateError      = github.StateError
)

// DeploymentState is the final deployment state of the report's outcome, and
// false when the outcome creates no deployment (validate, dry run, no-op).
func (r *Report) DeploymentState() (string, bool) {
	switch r.Outcome {
	case outcome.Promoted, outcome.RolledBack:
		return StateSuccess, true
	case outcome.Blocked:
		return StateFailure, true
	case outcome.Conflict, outcome.Failed:
		return StateError, true
	}
	return "", false
}

// StatusLine renders the promotion's report r as a deployment status
// description: one plain line of at most 140 characters. state is the
// status it describes.
func (pm *Promotion) StatusLine(r *Report, state string) string {
	model := r.subject(40)
	target := plainText(r.Target.Label(), 40)
	v, prev := "", ""
	if pm.Plan != nil {
		v = "v" + plainText(pm.Plan.Candidate.Version, 12)
		if p := pm.PreviousVersion(); p != "" {
			prev = "v" + plainText(p, 12)
		}
	}
	var s string
	switch {
	case state == StateInProgress:
		s = fmt.Sprintf("Promoting %s %s to %s", model, v, target)
		if r.Outcome == outcome.RolledBack {
			s = fmt.Sprintf("Rolling back %s %s to %s", model, target, v)
		}
	case r.Outcome == outcome.Promoted:
		s = fmt.Sprintf("%s %s promoted to %s", model, v, target)
		if prev != "" {
			s += " (was " + prev + ")"
		}
		s += pm.checkSummary()
	case r.Outcome == outcome.RolledBack:
		s = fmt.Sprintf("%s %s rolled back to %s", model, target, v)
		if prev != "" {
			s += " (was " + prev + ")"
		}
	case r.Outcome == outcome.Blocked:
		s = fmt.Sprintf("%s %s blocked for %s", model, v, target) + pm.checkSummary()
	case r.Outcome == outcome.Conflict:
		s = fmt.Sprintf("%s %s: %s moved since the plan; nothing changed", model, v, target)
	default:
		s = fmt.Sprintf("%s %s to %s failed", model, v, target)
		if r.Error != "" {
			s += ": " + plainText(r.Error, MaxStatusLine)
		}
	}
	return plainText(strings.Join(strings.Fields(s), " "), MaxStatusLine)
}

// checkSummary is ": 3/3 checks passed" or ": 1 of 3 checks failed (val_auc)";
// a check that failed on a NaN or infinite value says so: "(val_auc is NaN)".
func (pm *Promotion) checkSummary() string {
	if pm.Plan == nil || len(pm.Plan.Checks) == 0 {
		return ""
	}
	pass, fail, _ := pm.counts()
	n := len(pm.Plan.Checks)
	if fail == 0 {
		return fmt.Sprintf(": %d/%d checks passed", pass, n)
	}
	var names []string
	for _, c := range pm.Plan.Checks {
		if c.Status != checks.StatusFail {
			continue
		}
		n := plainText(c.Name, 30)
		switch {
		case nonFinite(c.Value):
			n += " is " + c.Value
		case nonFinite(c.Champion):
			n = "champion " + n + " is " + c.Champion
		}
		if !slices.Contains(names, n) {
			names = append(names, n)
		}
	}
	return fmt.Sprintf(": %d of %d checks failed (%s)", fail, n, strings.Join(names, ", "))
}

// nonFinite reports whether a check's displayed value is NaN or infinite.
func nonFinite(shown string) bool { return shown == "NaN" || shown == "+Inf" || shown == "-Inf" }
