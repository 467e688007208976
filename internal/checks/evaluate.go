package checks

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Evaluate checks in.Candidate against rules (as returned by Match) and
// returns the evidence and final status of every check, and the verdict:
// fail when any check failed, else pass. It owns what a check means in each
// situation, so callers take its statuses and verdict as they are:
//
//   - a vs-champion check whose champion is the candidate itself (the
//     candidate already holds the rule's target) is skipped: comparing a
//     version with itself says nothing;
//   - with in.Mode ModeRollback, vs-champion and run-age checks are
//     skipped, their evidence kept (see ModeRollback).
//
// Errors from in.Candidate.Metrics, the champion's Metrics and
// in.Approvals are returned wrapped: a registry that cannot be read is not a
// policy failure.
//
// vs-champion checks of stage rules use in.StageChampion when the target
// also has an alias, and in.Champion otherwise.
func Evaluate(ctx context.Context, rules []*Rule, in Input) (*Result, error) {
	if len(rules) == 0 {
		return nil, errors.New("failed to evaluate policy: no rules to evaluate")
	}
	if in.Candidate == nil {
		return nil, errors.New("failed to evaluate policy: no candidate version")
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("failed to evaluate policy: %w", err)
	}
	e := &evaluator{in: in, cache: map[metricKey]metricValue{}}
	res := &Result{Verdict: VerdictPass, Checks: []Check{}}
	for _, r := range rules {
		res.Rules = append(res.Rules, r.Name)
		checks, err := e.rule(ctx, r)
		if err != nil {
			return nil, err
		}
		res.Checks = append(res.Checks, checks...)
	}
	for _, c := range res.Checks {
		if c.Status == StatusFail {
			res.Verdict = VerdictFail
			break
		}
	}
	return res, nil
}

type metricKey struct {
	s *Subject
	q MetricQuery
}

type metricValue struct {
	v     float64
	found bool
}

type evaluator struct {
	in    Input
	cache map[metricKey]metricValue
}

func (e *evaluator) rule(ctx context.Context, r *Rule) ([]Check, error) {
	var out []Check
	if r.RequireSource != nil {
		out = append(out, e.source(r))
	}
	for _, m := range r.Metrics {
		cs, err := e.metric(ctx, r, m)
		if err != nil {
			return nil, err
		}
		out = append(out, cs...)
	}
	for _, t := range r.Tags {
		out = append(out, e.tag(r, t))
	}
	if r.Run != nil {
		cs, err := e.run(r)
		if err != nil {
			return nil, err
		}
		out = append(out, cs...)
	}
	if r.Approval != nil {
		cs, err := e.approval(ctx, r)
		if err != nil {
			return nil, err
		}
		out = append(out, cs...)
	}
	if r.Artifacts != nil {
		out = append(out, e.artifacts(r)...)
	}
	return out, nil
}

func (e *evaluator) source(r *Rule) Check {
	rs := r.RequireSource
	cand := e.in.Candidate
	var want, have []string
	for _, a := range rs.Aliases {
		want = append(want, "@"+a)
	}
	for _, s := range rs.Stages {
		want = append(want, "stage "+s)
	}
	for _, a := range cand.Aliases {
		have = append(have, "@"+a)
	}
	if cand.Stage != "" {
		have = append(have, "stage "+cand.Stage)
	}
	c := Check{
		Rule:  r.Name,
		Kind:  KindSource,
		Name:  "require-source",
		Value: strings.Join(have, ", "),
		Bound: strings.Join(want, " or "),
		Line:  rs.Line,
	}
	ok := false
	for _, a := range rs.Aliases {
		ok = ok || slices.Contains(cand.Aliases, a)
	}
	for _, s := range rs.Stages {
		ok = ok || strings.EqualFold(cand.Stage, s)
	}
	if ok {
		c.Status = StatusPass
	} else {
		c.Status = StatusFail
		c.Reason = fmt.Sprintf("%s holds none of %s", subjectName("candidate", cand), strings.Join(want, ", "))
	}
	return c
}

// fetch returns a metric value of s, asking its MetricSource once per
// query. A subject without a MetricSource has no metrics.
func (e *evaluator) fetch(ctx context.Context, s *Subject, who string, q MetricQuery) (float64, bool, error) {
	k := metricKey{s, q}
	if mv, ok := e.cache[k]; ok {
		return mv.v, mv.found, nil
	}
	var mv metricValue
	if s.Metrics != nil {
		v, found, err := s.Metrics.Metric(ctx, q)
		if err != nil {
			// The source's error names the metric, or the run or logged model
			// that holds it; this says whose.
			return 0, false, fmt.Errorf("failed to fetch the metrics of %s: %w", subjectName(who, s), err)
		}
		mv = metricValue{v, found}
	}
	e.cache[k] = mv
	return mv.v, mv.found, nil
}

func (e *evaluator) metric(ctx context.Context, r *Rule, m *MetricRule) ([]Check, error) {
	q := m.Query()
	cand := e.in.Candidate
	cv, cFound, err := e.fetch(ctx, cand, "candidate", q)
	if err != nil {
		return nil, err
	}
	candProblem := problemOf(cv, cFound, "", cand, q)
	base := Check{Rule: r.Name, Name: metricName(m), Value: formatValue(cv, cFound), Line: m.Line}
	if candProblem.ok() {
		base.CandidateNum = ptr(cv)
	}
	var out []Check
	if m.Min != nil || m.Max != nil {
		c := base
		c.Kind = KindMetric
		var bounds []string
		if m.Min != nil {
			bounds = append(bounds, ">= "+formatNumber(*m.Min))
		}
		if m.Max != nil {
			bounds = append(bounds, "<= "+formatNumber(*m.Max))
		}
		c.Bound = strings.Join(bounds, ", ")
		switch {
		case !candProblem.ok():
			missing(&c, r, candProblem)
		case m.Min != nil && cv < *m.Min:
			c.Status = StatusFail
			c.Reason = fmt.Sprintf("%s < min %s", formatNumber(cv), formatNumber(*m.Min))
		case m.Max != nil && cv > *m.Max:
			c.Status = StatusFail
			c.Reason = fmt.Sprintf("%s > max %s", formatNumber(cv), formatNumber(*m.Max))
		default:
			c.Status = StatusPass
		}
		out = append(out, c)
	}
	if m.VsChampion != nil {
		c, err := e.vsChampion(ctx, r, m, base, cv, candProblem)
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, nil
}

// champion returns the holder of the target a rule governs, and that
// target's name for reasons.
func (e *evaluator) champion(r *Rule) (*Subject, string) {
	label := r.AppliesTo.Target().Label()
	if r.AppliesTo.Stage != "" && e.in.Target.Alias != "" {
		return e.in.StageChampion, label
	}
	return e.in.Champion, label
}

// tolerance absorbs floating-point rounding in candidate − champion, so
// that 0.3 − 0.1 counts as an improvement of 0.2.
func tolerance(a, b float64) float64 {
	return 1e-12 * math.Max(math.Abs(a), math.Abs(b))
}

// vsChampion compares the candidate with the holder of the rule's target,
// as the mode says (see Evaluate).
func (e *evaluator) vsChampion(ctx context.Context, r *Rule, m *MetricRule, base Check, cv float64, candProblem valueProblem) (Check, error) {
	c, err := e.compare(ctx, r, m, base, cv, candProblem)
	if err == nil && e.in.Mode == ModeRollback && c.Reason != reasonInPlace {
		// A rollback returns to a version that was replaced for a reason; it
		// is expected to compare worse with the version it replaces.
		c.Status, c.Reason = StatusSkip, "not re-checked on rollback"
	}
	return c, err
}

// reasonInPlace is why a comparison with the candidate itself is skipped.
const reasonInPlace = "the candidate already holds the target"

func (e *evaluator) compare(ctx context.Context, r *Rule, m *MetricRule, base Check, cv float64, candProblem valueProblem) (Check, error) {
	c := base
	c.Kind = KindVsChampion
	vs := m.VsChampion
	var sign float64
	switch m.Direction {
	case DirectionMaximize:
		sign = 1
	case DirectionMinimize:
		sign = -1
	default:
		return c, fmt.Errorf("failed to evaluate metric %q of rule %q: direction %q is not maximize or minimize", m.Key, r.Name, m.Direction)
	}
	c.Bound = vsBound(vs, sign)

	champ, label := e.champion(r)
	if champ != nil && champ.Version == e.in.Candidate.Version {
		c.Status, c.Reason = StatusSkip, reasonInPlace
		return c, nil
	}
	var (
		hv           float64
		champProblem valueProblem
	)
	if champ != nil {
		var hFound bool
		var err error
		hv, hFound, err = e.fetch(ctx, champ, "champion", m.Query())
		if err != nil {
			return c, err
		}
		c.Champion = formatValue(hv, hFound)
		champProblem = problemOf(hv, hFound, "champion", champ, m.Query())
		if champProblem.ok() {
			c.ChampionNum = ptr(hv)
		}
	}
	switch {
	case !candProblem.ok(): // even on a first deploy: missing values never pass
		missing(&c, r, candProblem)
		return c, nil
	case champ == nil:
		c.Reason = "first deploy: no version holds " + label
		c.Status = StatusPass
		if r.OnFirstDeploy == OnFirstDeployFail {
			c.Status = StatusFail
			c.Reason += " (on-first-deploy: fail)"
		}
		return c, nil
	case !champProblem.ok():
		missing(&c, r, champProblem)
		return c, nil
	}
	delta := cv - hv
	c.Delta = formatDelta(delta)
	improvement := sign * delta
	tol := tolerance(cv, hv)
	c.Status = StatusPass
	switch {
	case vs.MinImprovement != nil:
		if improvement < *vs.MinImprovement-tol {
			c.Status = StatusFail
			c.Reason = fmt.Sprintf("improvement %s < min-improvement %s", formatDelta(improvement), formatNumber(*vs.MinImprovement))
		}
	case vs.MinRelativeImprovement != nil:
		if hv == 0 {
			c.Status = StatusFail
			c.Reason = "relative improvement undefined for champion value 0"
			break
		}
		rel := improvement / math.Abs(hv)
		if rel < *vs.MinRelativeImprovement-tol/math.Abs(hv) {
			c.Status = StatusFail
			c.Reason = fmt.Sprintf("relative improvement %s < min-relative-improvement %s", formatDelta(rel), formatNumber(*vs.MinRelativeImprovement))
		}
	case vs.MaxRegression != nil:
		if -improvement > *vs.MaxRegression+tol {
			c.Status = StatusFail
			c.Reason = fmt.Sprintf("regression %s > max-regression %s", formatRounded(-improvement), formatNumber(*vs.MaxRegression))
		}
	default:
		return c, fmt.Errorf("failed to evaluate metric %q of rule %q: vs-champion sets no comparison", m.Key, r.Name)
	}
	return c, nil
}

// vsBound describes a vs-champion comparison as a bound on the delta
// (candidate − champion) shown next to it.
func vsBound(vs *VsChampion, sign float64) string {
	cmp := ">="
	if sign < 0 {
		cmp = "<="
	}
	switch {
	case vs.MinImprovement != nil:
		return "delta " + cmp + " " + formatDelta(sign*(*vs.MinImprovement))
	case vs.MinRelativeImprovement != nil:
		return "delta / |champion| " + cmp + " " + formatDelta(sign*(*vs.MinRelativeImprovement))
	case vs.MaxRegression != nil:
		return "delta " + cmp + " " + formatDelta(-sign*(*vs.MaxRegression))
	}
	return ""
}

// missing marks a check whose value cannot be compared. A missing value
// fails, or is skipped when the rule says on-missing-metric: skip. A NaN or
// infinite value is not missing: it always fails.
func missing(c *Check, r *Rule, problem valueProblem) {
	c.Reason = problem.reason
	c.Status = StatusFail
	if problem.missing && r.OnMissingMetric == OnMissingSkip {
		c.Status = StatusSkip
		c.Reason += " (on-missing-metric: skip)"
	}
}

// valueProblem says why a metric value cannot be compared.
type valueProblem struct {
	reason  string // "" when the value can be compared
	missing bool   // the metric does not exist (otherwise it is NaN or infinite)
}

func (p valueProblem) ok() bool { return p.reason == "" }

// problemOf says why metric value v of subject s cannot be compared, if it
// cannot: it is missing, NaN or infinite. who is "" for the candidate.
func problemOf(v float64, found bool, who string, s *Subject, q MetricQuery) valueProblem {
	switch {
	case !found:
		what := fmt.Sprintf("metric %q", q.Key)
		if q.Dataset != "" {
			what += fmt.Sprintf(" (dataset %q)", q.Dataset)
		}
		return valueProblem{reason: fmt.Sprintf("%s not found on %s", what, subjectName(orDefault(who, "candidate"), s)), missing: true}
	case math.IsNaN(v) || math.IsInf(v, 0):
		reason := valueLabel(q) + " is " + formatNumber(v)
		if who != "" {
			reason = subjectName(who, s) + " " + reason
		}
		if hint := nonFiniteHint(v, q.Aggregate); hint != "" {
			reason += " (" + hint + ")"
		}
		return valueProblem{reason: reason}
	}
	return valueProblem{}
}

// valueLabel names the value a query reads: "val_auc", "val_auc (dataset
// holdout)", "max of latency_p95_ms".
func valueLabel(q MetricQuery) string {
	s := q.Key
	if q.Dataset != "" {
		s += " (dataset " + q.Dataset + ")"
	}
	if q.Aggregate != "" && q.Aggregate != AggregateLast {
		s = q.Aggregate + " of " + s
	}
	return s
}

// nonFiniteHint says where a non-finite aggregate comes from (see
// Aggregate): min and max are NaN only when the history holds a NaN;
// a mean is NaN also when it holds both +Inf and -Inf.
func nonFiniteHint(v float64, aggregate string) string {
	switch {
	case aggregate != AggregateMin && aggregate != AggregateMax && aggregate != AggregateMean:
		return ""
	case math.IsNaN(v) && aggregate == AggregateMean:
		return "its history holds a NaN, or both +Inf and -Inf"
	case math.IsNaN(v):
		return "its history holds a NaN"
	}
	return "its history holds " + formatNumber(v)
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

func subjectName(who string, s *Subject) string {
	if s == nil || s.Version == "" {
		return who
	}
	return who + " v" + s.Version
}

// metricName is the metric key, qualified by dataset and aggregate when
// they are not the defaults.
func metricName(m *MetricRule) string {
	var q []string
	if m.Dataset != "" {
		q = append(q, "dataset "+m.Dataset)
	}
	if m.Aggregate != "" && m.Aggregate != AggregateLast {
		q = append(q, m.Aggregate)
	}
	if len(q) == 0 {
		return m.Key
	}
	return m.Key + " (" + strings.Join(q, ", ") + ")"
}

func (e *evaluator) tag(r *Rule, t *TagRule) Check {
	c := Check{Rule: r.Name, Kind: KindTag, Name: t.Key, Line: t.Line}
	v, ok := e.in.Candidate.Tags[t.Key]
	if ok {
		c.Value = v
	}
	pass := false
	switch t.Want {
	case TagPresent:
		c.Bound = "present"
		pass = ok
		if !ok {
			c.Reason = "tag not set"
		}
	case TagAbsent:
		c.Bound = "absent"
		pass = !ok
		if ok {
			c.Reason = "tag is set"
		}
	default:
		c.Bound = "= " + strconv.Quote(t.Value)
		pass = ok && v == t.Value
		switch {
		case !ok:
			c.Reason = "tag not set"
		case !pass:
			c.Reason = fmt.Sprintf("tag is %q, want %q", v, t.Value)
		}
	}
	c.Status = StatusFail
	if pass {
		c.Status = StatusPass
	}
	return c
}

func (e *evaluator) run(r *Rule) ([]Check, error) {
	cand := e.in.Candidate
	rr := r.Run
	var out []Check
	if rr.Status != "" {
		c := Check{Rule: r.Name, Kind: KindRunStatus, Name: "run status", Value: cand.RunStatus, Bound: "= " + rr.Status, Line: rr.Line}
		switch {
		case !cand.HasRun:
			c.Status, c.Reason = StatusFail, subjectName("candidate", cand)+" has no run"
		case !strings.EqualFold(cand.RunStatus, rr.Status):
			c.Status, c.Reason = StatusFail, fmt.Sprintf("run status is %s, want %s", orDefault(cand.RunStatus, "unknown"), rr.Status)
		default:
			c.Status = StatusPass
		}
		out = append(out, c)
	}
	if rr.MaxAge > 0 {
		c := Check{Rule: r.Name, Kind: KindRunAge, Name: "run age", Bound: "<= " + formatDuration(rr.MaxAge), Line: rr.Line}
		switch {
		case !cand.HasRun:
			c.Status, c.Reason = StatusFail, subjectName("candidate", cand)+" has no run"
		case cand.RunEnd.IsZero():
			c.Status, c.Reason = StatusFail, "run end time unknown (the run may still be running)"
		case e.in.Now.IsZero():
			return nil, fmt.Errorf("failed to evaluate run age of rule %q: current time not set", r.Name)
		default:
			age := max(e.in.Now.Sub(cand.RunEnd), 0)
			c.Value = formatDuration(age)
			if age > rr.MaxAge {
				c.Status, c.Reason = StatusFail, fmt.Sprintf("run ended %s ago, more than %s", formatDuration(age), formatDuration(rr.MaxAge))
			} else {
				c.Status = StatusPass
			}
		}
		if e.in.Mode == ModeRollback {
			c.Status, c.Reason = StatusSkip, "not re-checked on rollback: the version's run is expected to be older"
		}
		out = append(out, c)
	}
	return out, nil
}

func (e *evaluator) approval(ctx context.Context, r *Rule) ([]Check, error) {
	a := r.Approval
	var qs []ApprovalQuery
	if a.EnvironmentReviews != nil {
		qs = append(qs, ApprovalQuery{Kind: ApprovalEnvironmentReviews, Min: a.EnvironmentReviews.Min, Environment: a.EnvironmentReviews.Environment})
	}
	if a.PullRequestReviews != nil {
		qs = append(qs, ApprovalQuery{Kind: ApprovalPullRequestReviews, Min: a.PullRequestReviews.Min, ExcludeActor: a.PullRequestReviews.ExcludeActor})
	}
	var out []Check
	for _, q := range qs {
		c := Check{Rule: r.Name, Kind: KindApproval, Name: q.Kind, Bound: ">= " + strconv.Itoa(q.Min), Line: a.Line}
		if q.ExcludeActor {
			c.Name += " (excluding the actor)"
		}
		if e.in.Approvals == nil {
			c.Status, c.Reason = StatusFail, "approvals can only be checked in a GitHub Actions run"
			out = append(out, c)
			continue
		}
		res, err := e.in.Approvals.Approvals(ctx, q)
		if err != nil {
			return nil, fmt.Errorf("failed to check %s of rule %q: %w", q.Kind, r.Name, err)
		}
		c.Value = strconv.Itoa(res.Count)
		c.Approvers = res.Approvers
		c.Reason = res.Detail
		if res.Count >= q.Min {
			c.Status = StatusPass
		} else {
			c.Status = StatusFail
			noun := "approvals"
			if res.Count == 1 {
				noun = "approval"
			}
			c.Reason = strings.TrimSuffix(fmt.Sprintf("%d %s, need %d; %s", res.Count, noun, q.Min, res.Detail), "; ")
		}
		out = append(out, c)
	}
	return out, nil
}

func ptr(v float64) *float64 { return &v }

// formatNumber formats v compactly and exactly: the shortest text that
// reads back as v (0.871, 40, 1e-05, 1500000, NaN, +Inf, -Inf).
func formatNumber(v float64) string {
	switch {
	case math.IsNaN(v):
		return "NaN"
	case math.IsInf(v, 1):
		return "+Inf"
	case math.IsInf(v, -1):
		return "-Inf"
	case math.Abs(v) >= 1e6 && math.Abs(v) < 1e15:
		return strconv.FormatFloat(v, 'f', -1, 64) // counts read better without an exponent
	}
	return strconv.FormatFloat(v, 'g', -1, 64)
}

func formatValue(v float64, found bool) string {
	if !found {
		return "missing"
	}
	return formatNumber(v)
}

// formatRounded is formatNumber after rounding to 10 significant digits,
// which hides the rounding noise of a subtraction (0.875 − 0.871 is 0.004).
func formatRounded(v float64) string {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return formatNumber(v)
	}
	r, _ := strconv.ParseFloat(strconv.FormatFloat(v, 'g', 10, 64), 64)
	return formatNumber(r)
}

// formatDelta is formatRounded with a sign: +0.004, -0.002, 0.
func formatDelta(v float64) string {
	s := formatRounded(v)
	if v > 0 && !strings.HasPrefix(s, "+") {
		return "+" + s
	}
	if s == "-0" {
		return "0"
	}
	return s
}

// formatDuration formats d compactly with days: 7d, 1d12h, 26m, 45s.
func formatDuration(d time.Duration) string {
	if d < time.Second {
		return "0s"
	}
	d = d.Round(time.Second)
	var b strings.Builder
	for _, u := range []struct {
		n    time.Duration
		unit string
	}{{24 * time.Hour, "d"}, {time.Hour, "h"}, {time.Minute, "m"}, {time.Second, "s"}} {
		if k := d / u.n; k > 0 {
			fmt.Fprintf(&b, "%d%s", k, u.unit)
			d -= k * u.n
		}
	}
	return b.String()
}
