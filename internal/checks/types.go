package checks

import (
	"context"
	"time"
)

// Check statuses.
const (
	StatusPass = "pass"
	StatusFail = "fail"
	StatusSkip = "skipped"
)

// Verdicts.
const (
	VerdictPass    = "pass"
	VerdictFail    = "fail"
	VerdictSkipped = "skipped" // policy "none": nothing was checked
)

// Check kinds, as shown in reports.
const (
	KindMetric     = "metric"      // absolute min/max bound
	KindVsChampion = "vs-champion" // comparison with the current holder
	KindTag        = "tag"
	KindRunStatus  = "run-status"
	KindRunAge     = "run-age"
	KindSource     = "require-source"
	KindApproval   = "approval"
)

// MetricQuery names one metric value to fetch.
type MetricQuery struct {
	Key       string
	Dataset   string // "" = any dataset (logged-model metrics carry a dataset name)
	Aggregate string // last (default), min, max, mean
}

// MetricSource fetches metric values of one model version. Implementations
// decide where the values come from (logged model or run) and cache.
// found is false when the metric does not exist; err is a registry error.
type MetricSource interface {
	Metric(ctx context.Context, q MetricQuery) (value float64, found bool, err error)
}

// Subject is one model version as the policy sees it.
type Subject struct {
	Version   string            // "3"
	Aliases   []string          // aliases it holds now
	Stage     string            // current stage
	Tags      map[string]string // run tags overlaid by model version tags (version wins)
	RunStatus string            // "" when the version has no run
	RunEnd    time.Time         // zero when unknown or still running
	HasRun    bool
	Metrics   MetricSource
	// ModelDigest is the digest of the version's model files
	// ("sha256:<hex>"), computed when a rule asks for it
	// (NeedsModelDigest); "" when not computed.
	ModelDigest string
}

// ApprovalQuery asks for approvals recorded outside MLflow (GitHub).
type ApprovalQuery struct {
	Kind         string // "environment-reviews" or "pull-request-reviews"
	Min          int
	ExcludeActor bool   // pull-request-reviews: the actor's approval does not count
	Environment  string // environment-reviews: only this environment's approvals count ("" = any)
}

// ApprovalResult is what an ApprovalChecker found.
type ApprovalResult struct {
	Count     int      // qualifying approvals
	Approvers []string // logins, recorded in the audit record
	Detail    string   // e.g. "environment production, run 123"
}

// ApprovalChecker checks approvals; nil means approvals cannot be checked here,
// which fails any rule that requires them.
type ApprovalChecker interface {
	Approvals(ctx context.Context, q ApprovalQuery) (ApprovalResult, error)
}

// Mode is what an evaluation judges.
type Mode int

const (
	// ModePromote judges a candidate for its target: every check counts.
	ModePromote Mode = iota
	// ModeRollback judges a return to a version that held the target
	// before. Its comparisons with the version it replaces (vs-champion) and
	// its run's age are not re-checked: they are skipped, with the evidence
	// kept, because the version was replaced for a reason and its run is
	// expected to be older.
	ModeRollback
)

// Input is everything Evaluate needs.
type Input struct {
	Model     string
	Target    Target
	Candidate *Subject
	// Champion is the holder of the target: nil when no version holds it
	// (first deploy), the candidate itself when the candidate holds it
	// already, in which case comparisons with it are skipped.
	Champion *Subject
	// StageChampion is the holder of Target.Stage when Target has both an
	// alias and a stage (Champion then holds the alias); stage rules compare
	// with it, as they do with Champion. Unused when Target has only one of
	// the two.
	StageChampion *Subject
	Now           time.Time
	Approvals     ApprovalChecker
	Mode          Mode
}

// Check is the evidence for one check. Numbers are kept as display strings
// (NaN and Inf included) plus finite values for charts.
type Check struct {
	Rule         string   `json:"rule"`
	Kind         string   `json:"kind"`
	Name         string   `json:"name"`                    // metric key, tag key, ...
	Value        string   `json:"value"`                   // candidate value as shown
	Bound        string   `json:"bound"`                   // e.g. ">= 0.9", "= true", "present"
	Champion     string   `json:"champion,omitempty"`      // champion value as shown
	Delta        string   `json:"delta,omitempty"`         // candidate - champion, signed
	Status       string   `json:"status"`                  // pass, fail, skipped
	Reason       string   `json:"reason,omitempty"`        // why, in words
	CandidateNum *float64 `json:"candidate_num,omitempty"` // finite candidate value
	ChampionNum  *float64 `json:"champion_num,omitempty"`  // finite champion value
	Line         int      `json:"line,omitempty"`          // policy line of the rule entry
	Approvers    []string `json:"approvers,omitempty"`     // for approval checks
}

// Result is the outcome of evaluating every matching rule.
type Result struct {
	Verdict string   `json:"verdict"`
	Rules   []string `json:"rules"` // names of matching rules
	Checks  []Check  `json:"checks"`
}
