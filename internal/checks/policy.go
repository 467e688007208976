// Package checks reads the promotion policy file (version 1) and evaluates
// its rules against a candidate model version and the current holder of the
// target ("champion"). It owns what a rule means.
//
// Parse is strict: it works on YAML nodes, reports every problem it finds
// with file, line and column, and never guesses. Evaluate returns the
// evidence of every check so that reports can show value, bound, champion
// value and delta, and the final status of each check and the verdict: it
// takes the mode (a promotion, or a rollback) and a champion that is the
// candidate itself, and decides what they skip, so no caller rewrites a
// check. Aggregate is the one place a metric's history is ordered.
//
// The package also holds the names every other package shares: Target (an
// alias and/or a stage, with its label, tag suffix and environment),
// CheckAlias and CanonicalStage, MLflow's rules for alias and stage names.
package checks

import (
	"errors"
	"fmt"
	"path"
	"strings"
	"time"
)

// MaxPolicySize is the largest policy file Parse accepts (1 MiB).
const MaxPolicySize = 1 << 20

// Metric directions.
const (
	DirectionMaximize = "maximize"
	DirectionMinimize = "minimize"
)

// Metric aggregates over a metric's history.
const (
	AggregateLast = "last"
	AggregateMin  = "min"
	AggregateMax  = "max"
	AggregateMean = "mean"
)

// Values of on-missing-metric.
const (
	OnMissingFail = "fail"
	OnMissingSkip = "skip"
)

// Values of on-first-deploy.
const (
	OnFirstDeployPass = "pass"
	OnFirstDeployFail = "fail"
)

// What a tag rule wants (TagRule.Want).
const (
	TagPresent = "present"
	TagAbsent  = "absent"
	TagEquals  = "equals"
)

// What a rule governs (AppliesTo.Kind): MLflow models, or the prompts of
// MLflow 3's Prompt Registry (registered models tagged mlflow.prompt.is_prompt).
const (
	EntityModel  = "model"
	EntityPrompt = "prompt"
)

// Approval kinds (ApprovalQuery.Kind).
const (
	ApprovalEnvironmentReviews = "environment-reviews"
	ApprovalPullRequestReviews = "pull-request-reviews"
)

// ErrNoRule is wrapped by the error Match returns when no rule applies to a
// model and target: the policy fails closed.
var ErrNoRule = errors.New("no policy rule applies")

// Policy is a parsed policy file.
type Policy struct {
	File      string  // path as given to Parse
	Version   int     // always 1
	Rules     []*Rule // in file order
	RulesLine int     // line of the rules key, 0 when unknown
	Digest    string  // "sha256:<hex>" of the raw file bytes
}

// Rule is one entry of rules.
type Rule struct {
	Name            string
	Line            int // line of the rule's first key
	AppliesTo       AppliesTo
	RequireSource   *RequireSource // nil when absent
	Metrics         []*MetricRule  // in file order
	Tags            []*TagRule     // in file order
	Run             *RunRule       // nil when absent
	Approval        *Approval      // nil when absent
	Artifacts       *Artifacts     // nil when absent
	OnMissingMetric string         // OnMissingFail (default) or OnMissingSkip
	OnFirstDeploy   string         // OnFirstDeployPass (default) or OnFirstDeployFail
}

// AppliesTo selects the promotions a rule governs. Exactly one of Alias and
// Stage is set.
type AppliesTo struct {
	Alias  string   // without "@"
	Stage  string   // canonical: Staging, Production, Archived, None
	Models []string // path.Match globs; empty means every model
	Kind   string   // EntityModel or EntityPrompt; "" (not set) is EntityModel
}

// RequireSource lists where the candidate must come from: it must hold one
// of Aliases or be in one of Stages when the policy is evaluated.
type RequireSource struct {
	Aliases []string
	Stages  []string // canonical
	Line    int
}

// MetricRule is one entry of a rule's metrics.
type MetricRule struct {
	Key        string
	Line       int
	Min        *float64
	Max        *float64
	Direction  string      // explicit or inferred; "" when neither is possible and no vs-champion is set
	VsChampion *VsChampion // nil when absent
	Dataset    string      // "" = any dataset
	Aggregate  string      // AggregateLast (default), AggregateMin, AggregateMax, AggregateMean
}

// Query is the MetricQuery that fetches the metric this rule checks.
func (m *MetricRule) Query() MetricQuery {
	return MetricQuery{Key: m.Key, Dataset: m.Dataset, Aggregate: m.Aggregate}
}

// VsChampion compares the candidate with the champion. Exactly one field is set.
type VsChampion struct {
	MinImprovement         *float64 // improvement >= this (absolute)
	MinRelativeImprovement *float64 // improvement / |champion| >= this
	MaxRegression          *float64 // -improvement <= this (absolute)
}

// TagRule is one entry of a rule's tags.
type TagRule struct {
	Key   string
	Line  int
	Want  string // TagPresent, TagAbsent or TagEquals
	Value string // for TagEquals
}

// RunRule checks the run that produced the version.
type RunRule struct {
	Status string        // canonical upper case; "" = not checked
	MaxAge time.Duration // 0 = not checked
	Line   int
}

// Approval lists approvals recorded outside MLflow.
type Approval struct {
	EnvironmentReviews *EnvironmentReviews // nil when absent
	PullRequestReviews *PullRequestReviews // nil when absent
	Line               int
}

// EnvironmentReviews requires approvals of the workflow run's environment.
type EnvironmentReviews struct {
	Min         int
	Environment string // only approvals of this environment count; "" = any environment of the run
}

// PullRequestReviews requires approving reviews on the pull request that
// brought the commit.
type PullRequestReviews struct {
	Min          int
	ExcludeActor bool // the actor's own approval does not count
}

// Match returns the rules that govern promoting model (an MLflow model, not a
// prompt) to t, in file order. See MatchKind.
func (p *Policy) Match(model string, t Target) ([]*Rule, error) {
	return p.MatchKind(model, EntityModel, t)
}

// MatchKind returns the rules that govern promoting model, of kind
// EntityModel or EntityPrompt, to t, in file order.
//
// A rule matches when its kind is kind (a rule that names none governs
// models only), its models globs match (no globs: every name) and its alias
// equals t.Alias or its stage equals t.Stage. A target with both an alias and
// a stage gets the rules of either, and each of the two must be governed by
// at least one rule. Otherwise MatchKind fails closed with an error wrapping
// ErrNoRule.
func (p *Policy) MatchKind(model, kind string, t Target) ([]*Rule, error) {
	if kind == "" {
		kind = EntityModel
	}
	alias := strings.TrimPrefix(t.Alias, "@")
	stage := t.Stage
	if c, ok := CanonicalStage(stage); ok {
		stage = c
	}
	if alias == "" && stage == "" {
		return nil, fmt.Errorf("failed to match policy rules: the target has neither an alias nor a stage")
	}
	var (
		out                []*Rule
		aliasHit, stageHit bool
	)
	for _, r := range p.Rules {
		if r.AppliesTo.kind() != kind || !r.AppliesTo.matchesModel(model) {
			continue
		}
		switch {
		case r.AppliesTo.Alias != "" && r.AppliesTo.Alias == alias:
			aliasHit = true
			out = append(out, r)
		case r.AppliesTo.Stage != "" && r.AppliesTo.Stage == stage:
			stageHit = true
			out = append(out, r)
		}
	}
	var missing []string
	if alias != "" && !aliasHit {
		missing = append(missing, AliasTarget(alias).Label())
	}
	if stage != "" && !stageHit {
		missing = append(missing, StageTarget(stage).Label())
	}
	if len(missing) > 0 {
		hint := ""
		if kind == EntityPrompt {
			hint = " with kind: prompt"
		}
		// An *Error at the rules key, so that the annotation points there.
		return nil, &Error{File: p.File, Line: p.RulesLine, Err: ErrNoRule,
			Msg: fmt.Sprintf("%v to %s %q at %s: add a rule whose applies-to matches it%s (fail closed)",
				ErrNoRule, kind, model, strings.Join(missing, " and "), hint)}
	}
	return out, nil
}

func (a AppliesTo) kind() string {
	if a.Kind == "" {
		return EntityModel
	}
	return a.Kind
}

// Target is the single target a rule governs.
func (a AppliesTo) Target() Target { return Target{Alias: a.Alias, Stage: a.Stage} }

func (a AppliesTo) matchesModel(model string) bool {
	if len(a.Models) == 0 {
		return true
	}
	for _, g := range a.Models {
		if ok, err := path.Match(g, model); err == nil && ok {
			return true
		}
	}
	return false
}

var stages = []string{"None", "Staging", "Production", "Archived"}

// CanonicalStage returns the canonical spelling of an MLflow stage name
// given in any case ("production" → "Production"). As in MLflow, only ASCII
// letters fold: "PRODUCTİON" is not a stage.
func CanonicalStage(s string) (string, bool) {
	for _, st := range stages {
		if asciiEqualFold(s, st) {
			return st, true
		}
	}
	return "", false
}
