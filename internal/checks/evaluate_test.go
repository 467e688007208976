package checks

import (
	"context"
	"errors"
	"math"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// fakeSource is a map-based MetricSource. Keys are "key" or "key@dataset";
// values are the metric's history, reduced with aggregateValues as a real
// source would.
type fakeSource struct {
	hist  map[string][]float64
	err   error
	mu    sync.Mutex
	calls int
}

func (f *fakeSource) Metric(_ context.Context, q MetricQuery) (float64, bool, error) {
	f.mu.Lock()
	f.calls++
	f.mu.Unlock()
	if f.err != nil {
		return 0, false, f.err
	}
	k := q.Key
	if q.Dataset != "" {
		k += "@" + q.Dataset
	}
	h, ok := f.hist[k]
	if !ok {
		return 0, false, nil
	}
	v, err := aggregateValues(h, q.Aggregate)
	return v, err == nil, err
}

func metrics(kv map[string][]float64) *fakeSource { return &fakeSource{hist: kv} }

// one is a history of one value.
func one(v float64) []float64 { return []float64{v} }

type fakeApprovals struct {
	res     map[string]ApprovalResult
	err     error
	mu      sync.Mutex
	queries []ApprovalQuery
}

func (f *fakeApprovals) Approvals(_ context.Context, q ApprovalQuery) (ApprovalResult, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.queries = append(f.queries, q)
	return f.res[q.Kind], f.err
}

var now = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func baseInput() Input {
	return Input{
		Model:  "fraud-us",
		Target: Target{Alias: "champion"},
		Candidate: &Subject{
			Version:   "15",
			Aliases:   []string{"challenger"},
			Stage:     "Staging",
			Tags:      map[string]string{"dataset_version": "v3", "validated": "True", "experimental": "yes"},
			RunStatus: "FINISHED",
			RunEnd:    now.Add(-2 * time.Hour),
			HasRun:    true,
		},
		Champion: &Subject{Version: "12"},
		Now:      now,
	}
}

// rulesOf parses head + body (the rule "r", its keys from line 6 on).
func rulesOf(t *testing.T, body string) []*Rule {
	t.Helper()
	pol, err := Parse("p.yml", []byte(head+body))
	if err != nil {
		t.Fatalf("Parse() error: %v", err)
	}
	return pol.Rules
}

func TestEvaluate(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name        string
		policy      string // full policy; default head + body
		body        string
		cand, champ map[string][]float64
		noChampion  bool
		mutate      func(*Input)
		want        []Check
		verdict     string
	}{
		{
			name:    "min fails",
			body:    "    metrics:\n      val_auc: {min: 0.9}\n",
			cand:    map[string][]float64{"val_auc": one(0.871)},
			verdict: VerdictFail,
			want: []Check{{Rule: "r", Kind: KindMetric, Name: "val_auc", Value: "0.871", Bound: ">= 0.9", Status: StatusFail,
				Reason: "0.871 < min 0.9", CandidateNum: f64(0.871), Line: 7}},
		},
		{
			name:    "value equal to min passes",
			body:    "    metrics:\n      val_auc: {min: 0.9}\n",
			cand:    map[string][]float64{"val_auc": one(0.9)},
			verdict: VerdictPass,
			want:    []Check{{Rule: "r", Kind: KindMetric, Name: "val_auc", Value: "0.9", Bound: ">= 0.9", Status: StatusPass, CandidateNum: f64(0.9), Line: 7}},
		},
		{
			name:    "min and max in one check; max fails",
			body:    "    metrics:\n      val_loss: {min: 0, max: 0.25}\n",
			cand:    map[string][]float64{"val_loss": one(0.3)},
			verdict: VerdictFail,
			want: []Check{{Rule: "r", Kind: KindMetric, Name: "val_loss", Value: "0.3", Bound: ">= 0, <= 0.25", Status: StatusFail,
				Reason: "0.3 > max 0.25", CandidateNum: f64(0.3), Line: 7}},
		},
		{
			name:    "small numbers are compact",
			body:    "    metrics:\n      lr: {max: 0.001}\n",
			cand:    map[string][]float64{"lr": one(1e-05)},
			verdict: VerdictPass,
			want:    []Check{{Rule: "r", Kind: KindMetric, Name: "lr", Value: "1e-05", Bound: "<= 0.001", Status: StatusPass, CandidateNum: f64(1e-05), Line: 7}},
		},
		{
			name:    "NaN never passes",
			body:    "    metrics:\n      val_auc: {max: 1}\n",
			cand:    map[string][]float64{"val_auc": one(math.NaN())},
			verdict: VerdictFail,
			want:    []Check{{Rule: "r", Kind: KindMetric, Name: "val_auc", Value: "NaN", Bound: "<= 1", Status: StatusFail, Reason: "val_auc is NaN", Line: 7}},
		},
		{
			name:    "+Inf does not pass a floor",
			body:    "    metrics:\n      val_auc: {min: 0.9}\n",
			cand:    map[string][]float64{"val_auc": one(math.Inf(1))},
			verdict: VerdictFail,
			want:    []Check{{Rule: "r", Kind: KindMetric, Name: "val_auc", Value: "+Inf", Bound: ">= 0.9", Status: StatusFail, Reason: "val_auc is +Inf", Line: 7}},
		},
		{
			name:    "-Inf does not pass a ceiling",
			body:    "    metrics:\n      loss: {max: 0.25}\n",
			cand:    map[string][]float64{"loss": one(math.Inf(-1))},
			verdict: VerdictFail,
			want:    []Check{{Rule: "r", Kind: KindMetric, Name: "loss", Value: "-Inf", Bound: "<= 0.25", Status: StatusFail, Reason: "loss is -Inf", Line: 7}},
		},
		{
			name:    "missing metric fails",
			body:    "    metrics:\n      val_auc: {min: 0.9}\n",
			verdict: VerdictFail,
			want: []Check{{Rule: "r", Kind: KindMetric, Name: "val_auc", Value: "missing", Bound: ">= 0.9", Status: StatusFail,
				Reason: `metric "val_auc" not found on candidate v15`, Line: 7}},
		},
		{
			name:    "missing metric skipped",
			body:    "    metrics:\n      val_auc: {min: 0.9}\n    on-missing-metric: skip\n",
			verdict: VerdictPass,
			want: []Check{{Rule: "r", Kind: KindMetric, Name: "val_auc", Value: "missing", Bound: ">= 0.9", Status: StatusSkip,
				Reason: `metric "val_auc" not found on candidate v15 (on-missing-metric: skip)`, Line: 7}},
		},
		{
			// NaN is not missing: on-missing-metric: skip does not skip it.
			name:    "NaN fails under on-missing-metric: skip",
			body:    "    metrics:\n      val_auc: {min: 0.9}\n    on-missing-metric: skip\n",
			cand:    map[string][]float64{"val_auc": one(math.NaN())},
			verdict: VerdictFail,
			want: []Check{{Rule: "r", Kind: KindMetric, Name: "val_auc", Value: "NaN", Bound: ">= 0.9", Status: StatusFail,
				Reason: "val_auc is NaN", Line: 7}},
		},
		{
			name:    "vs-champion min-improvement passes, with absolute floor",
			body:    "    metrics:\n      val_auc:\n        min: 0.9\n        vs-champion: {min-improvement: 0.002}\n",
			cand:    map[string][]float64{"val_auc": one(0.905)},
			champ:   map[string][]float64{"val_auc": one(0.901)},
			verdict: VerdictPass,
			want: []Check{
				{Rule: "r", Kind: KindMetric, Name: "val_auc", Value: "0.905", Bound: ">= 0.9", Status: StatusPass, CandidateNum: f64(0.905), Line: 7},
				{Rule: "r", Kind: KindVsChampion, Name: "val_auc", Value: "0.905", Bound: "delta >= +0.002", Champion: "0.901", Delta: "+0.004",
					Status: StatusPass, CandidateNum: f64(0.905), ChampionNum: f64(0.901), Line: 7},
			},
		},
		{
			name:    "vs-champion min-improvement fails",
			body:    "    metrics:\n      val_auc:\n        min: 0.8\n        vs-champion: {min-improvement: 0.002}\n",
			cand:    map[string][]float64{"val_auc": one(0.872)},
			champ:   map[string][]float64{"val_auc": one(0.871)},
			verdict: VerdictFail,
			want: []Check{
				{Rule: "r", Kind: KindMetric, Name: "val_auc", Value: "0.872", Bound: ">= 0.8", Status: StatusPass, CandidateNum: f64(0.872), Line: 7},
				{Rule: "r", Kind: KindVsChampion, Name: "val_auc", Value: "0.872", Bound: "delta >= +0.002", Champion: "0.871", Delta: "+0.001",
					Status: StatusFail, Reason: "improvement +0.001 < min-improvement 0.002", CandidateNum: f64(0.872), ChampionNum: f64(0.871), Line: 7},
			},
		},
		{
			name:    "equal values pass min-improvement 0",
			body:    "    metrics:\n      acc:\n        direction: maximize\n        vs-champion: {min-improvement: 0}\n",
			cand:    map[string][]float64{"acc": one(0.9)},
			champ:   map[string][]float64{"acc": one(0.9)},
			verdict: VerdictPass,
			want: []Check{{Rule: "r", Kind: KindVsChampion, Name: "acc", Value: "0.9", Bound: "delta >= 0", Champion: "0.9", Delta: "0",
				Status: StatusPass, CandidateNum: f64(0.9), ChampionNum: f64(0.9), Line: 7}},
		},
		{
			name:    "equal values fail a positive min-improvement",
			body:    "    metrics:\n      acc:\n        direction: maximize\n        vs-champion: {min-improvement: 0.001}\n",
			cand:    map[string][]float64{"acc": one(0.9)},
			champ:   map[string][]float64{"acc": one(0.9)},
			verdict: VerdictFail,
			want: []Check{{Rule: "r", Kind: KindVsChampion, Name: "acc", Value: "0.9", Bound: "delta >= +0.001", Champion: "0.9", Delta: "0",
				Status: StatusFail, Reason: "improvement 0 < min-improvement 0.001", CandidateNum: f64(0.9), ChampionNum: f64(0.9), Line: 7}},
		},
		{
			name:    "rounding noise does not fail an exact improvement (0.3 - 0.1 = 0.2)",
			body:    "    metrics:\n      acc:\n        direction: maximize\n        vs-champion: {min-improvement: 0.2}\n",
			cand:    map[string][]float64{"acc": one(0.3)},
			champ:   map[string][]float64{"acc": one(0.1)},
			verdict: VerdictPass,
			want: []Check{{Rule: "r", Kind: KindVsChampion, Name: "acc", Value: "0.3", Bound: "delta >= +0.2", Champion: "0.1", Delta: "+0.2",
				Status: StatusPass, CandidateNum: f64(0.3), ChampionNum: f64(0.1), Line: 7}},
		},
		{
			name:    "minimize: lower is an improvement",
			body:    "    metrics:\n      loss:\n        max: 0.25\n        vs-champion: {min-improvement: 0.01}\n",
			cand:    map[string][]float64{"loss": one(0.2)},
			champ:   map[string][]float64{"loss": one(0.22)},
			verdict: VerdictPass,
			want: []Check{
				{Rule: "r", Kind: KindMetric, Name: "loss", Value: "0.2", Bound: "<= 0.25", Status: StatusPass, CandidateNum: f64(0.2), Line: 7},
				{Rule: "r", Kind: KindVsChampion, Name: "loss", Value: "0.2", Bound: "delta <= -0.01", Champion: "0.22", Delta: "-0.02",
					Status: StatusPass, CandidateNum: f64(0.2), ChampionNum: f64(0.22), Line: 7},
			},
		},
		{
			name:    "minimize: higher is a regression",
			body:    "    metrics:\n      loss:\n        max: 0.25\n        vs-champion: {min-improvement: 0.01}\n",
			cand:    map[string][]float64{"loss": one(0.22)},
			champ:   map[string][]float64{"loss": one(0.2)},
			verdict: VerdictFail,
			want: []Check{
				{Rule: "r", Kind: KindMetric, Name: "loss", Value: "0.22", Bound: "<= 0.25", Status: StatusPass, CandidateNum: f64(0.22), Line: 7},
				{Rule: "r", Kind: KindVsChampion, Name: "loss", Value: "0.22", Bound: "delta <= -0.01", Champion: "0.2", Delta: "+0.02",
					Status: StatusFail, Reason: "improvement -0.02 < min-improvement 0.01", CandidateNum: f64(0.22), ChampionNum: f64(0.2), Line: 7},
			},
		},
		{
			name:    "max-regression: exactly the allowed regression passes",
			body:    "    metrics:\n      auc:\n        direction: maximize\n        vs-champion: {max-regression: 0.001}\n",
			cand:    map[string][]float64{"auc": one(0.870)},
			champ:   map[string][]float64{"auc": one(0.871)},
			verdict: VerdictPass,
			want: []Check{{Rule: "r", Kind: KindVsChampion, Name: "auc", Value: "0.87", Bound: "delta >= -0.001", Champion: "0.871", Delta: "-0.001",
				Status: StatusPass, CandidateNum: f64(0.870), ChampionNum: f64(0.871), Line: 7}},
		},
		{
			name:    "max-regression exceeded",
			body:    "    metrics:\n      auc:\n        direction: maximize\n        vs-champion: {max-regression: 0.001}\n",
			cand:    map[string][]float64{"auc": one(0.868)},
			champ:   map[string][]float64{"auc": one(0.871)},
			verdict: VerdictFail,
			want: []Check{{Rule: "r", Kind: KindVsChampion, Name: "auc", Value: "0.868", Bound: "delta >= -0.001", Champion: "0.871", Delta: "-0.003",
				Status: StatusFail, Reason: "regression 0.003 > max-regression 0.001", CandidateNum: f64(0.868), ChampionNum: f64(0.871), Line: 7}},
		},
		{
			name:    "max-regression when minimizing",
			body:    "    metrics:\n      latency_ms:\n        direction: minimize\n        vs-champion: {max-regression: 2}\n",
			cand:    map[string][]float64{"latency_ms": one(43)},
			champ:   map[string][]float64{"latency_ms": one(40)},
			verdict: VerdictFail,
			want: []Check{{Rule: "r", Kind: KindVsChampion, Name: "latency_ms", Value: "43", Bound: "delta <= +2", Champion: "40", Delta: "+3",
				Status: StatusFail, Reason: "regression 3 > max-regression 2", CandidateNum: f64(43), ChampionNum: f64(40), Line: 7}},
		},
		{
			name:    "relative improvement met",
			body:    "    metrics:\n      auc:\n        min: 0\n        vs-champion: {min-relative-improvement: 0.1}\n",
			cand:    map[string][]float64{"auc": one(0.88)},
			champ:   map[string][]float64{"auc": one(0.8)},
			verdict: VerdictPass,
			want: []Check{
				{Rule: "r", Kind: KindMetric, Name: "auc", Value: "0.88", Bound: ">= 0", Status: StatusPass, CandidateNum: f64(0.88), Line: 7},
				{Rule: "r", Kind: KindVsChampion, Name: "auc", Value: "0.88", Bound: "delta / |champion| >= +0.1", Champion: "0.8", Delta: "+0.08",
					Status: StatusPass, CandidateNum: f64(0.88), ChampionNum: f64(0.8), Line: 7},
			},
		},
		{
			name:    "relative improvement missed",
			body:    "    metrics:\n      auc:\n        direction: maximize\n        vs-champion: {min-relative-improvement: 0.1}\n",
			cand:    map[string][]float64{"auc": one(0.85)},
			champ:   map[string][]float64{"auc": one(0.8)},
			verdict: VerdictFail,
			want: []Check{{Rule: "r", Kind: KindVsChampion, Name: "auc", Value: "0.85", Bound: "delta / |champion| >= +0.1", Champion: "0.8", Delta: "+0.05",
				Status: StatusFail, Reason: "relative improvement +0.0625 < min-relative-improvement 0.1", CandidateNum: f64(0.85), ChampionNum: f64(0.8), Line: 7}},
		},
		{
			name:    "relative improvement over a zero champion is undefined",
			body:    "    metrics:\n      auc:\n        direction: maximize\n        vs-champion: {min-relative-improvement: 0.1}\n",
			cand:    map[string][]float64{"auc": one(0.5)},
			champ:   map[string][]float64{"auc": one(0)},
			verdict: VerdictFail,
			want: []Check{{Rule: "r", Kind: KindVsChampion, Name: "auc", Value: "0.5", Bound: "delta / |champion| >= +0.1", Champion: "0", Delta: "+0.5",
				Status: StatusFail, Reason: "relative improvement undefined for champion value 0", CandidateNum: f64(0.5), ChampionNum: f64(0), Line: 7}},
		},
		{
			name:    "relative improvement over a negative champion uses |champion|",
			body:    "    metrics:\n      loglik:\n        direction: maximize\n        vs-champion: {min-relative-improvement: 0.1}\n",
			cand:    map[string][]float64{"loglik": one(-90)},
			champ:   map[string][]float64{"loglik": one(-100)},
			verdict: VerdictPass,
			want: []Check{{Rule: "r", Kind: KindVsChampion, Name: "loglik", Value: "-90", Bound: "delta / |champion| >= +0.1", Champion: "-100", Delta: "+10",
				Status: StatusPass, CandidateNum: f64(-90), ChampionNum: f64(-100), Line: 7}},
		},
		{
			name:    "relative improvement when minimizing a negative metric",
			body:    "    metrics:\n      neg:\n        direction: minimize\n        vs-champion: {min-relative-improvement: 0.1}\n",
			cand:    map[string][]float64{"neg": one(-105)},
			champ:   map[string][]float64{"neg": one(-100)},
			verdict: VerdictFail,
			want: []Check{{Rule: "r", Kind: KindVsChampion, Name: "neg", Value: "-105", Bound: "delta / |champion| <= -0.1", Champion: "-100", Delta: "-5",
				Status: StatusFail, Reason: "relative improvement +0.05 < min-relative-improvement 0.1", CandidateNum: f64(-105), ChampionNum: f64(-100), Line: 7}},
		},
		{
			name:       "first deploy passes by default",
			body:       "    metrics:\n      auc:\n        min: 0.5\n        vs-champion: {min-improvement: 0.01}\n",
			cand:       map[string][]float64{"auc": one(0.9)},
			noChampion: true,
			verdict:    VerdictPass,
			want: []Check{
				{Rule: "r", Kind: KindMetric, Name: "auc", Value: "0.9", Bound: ">= 0.5", Status: StatusPass, CandidateNum: f64(0.9), Line: 7},
				{Rule: "r", Kind: KindVsChampion, Name: "auc", Value: "0.9", Bound: "delta >= +0.01", Status: StatusPass,
					Reason: "first deploy: no version holds @champion", CandidateNum: f64(0.9), Line: 7},
			},
		},
		{
			name:       "first deploy fails with on-first-deploy: fail",
			body:       "    metrics:\n      auc:\n        direction: maximize\n        vs-champion: {min-improvement: 0.01}\n    on-first-deploy: fail\n",
			cand:       map[string][]float64{"auc": one(0.9)},
			noChampion: true,
			verdict:    VerdictFail,
			want: []Check{{Rule: "r", Kind: KindVsChampion, Name: "auc", Value: "0.9", Bound: "delta >= +0.01", Status: StatusFail,
				Reason: "first deploy: no version holds @champion (on-first-deploy: fail)", CandidateNum: f64(0.9), Line: 7}},
		},
		{
			name:       "first deploy does not excuse a missing candidate metric",
			body:       "    metrics:\n      auc:\n        direction: maximize\n        vs-champion: {min-improvement: 0.01}\n",
			noChampion: true,
			verdict:    VerdictFail,
			want: []Check{{Rule: "r", Kind: KindVsChampion, Name: "auc", Value: "missing", Bound: "delta >= +0.01", Status: StatusFail,
				Reason: `metric "auc" not found on candidate v15`, Line: 7}},
		},
		{
			name:    "champion metric missing fails",
			body:    "    metrics:\n      auc:\n        direction: maximize\n        vs-champion: {min-improvement: 0}\n",
			cand:    map[string][]float64{"auc": one(0.9)},
			verdict: VerdictFail,
			want: []Check{{Rule: "r", Kind: KindVsChampion, Name: "auc", Value: "0.9", Bound: "delta >= 0", Champion: "missing", Status: StatusFail,
				Reason: `metric "auc" not found on champion v12`, CandidateNum: f64(0.9), Line: 7}},
		},
		{
			name:    "champion metric missing skipped",
			body:    "    metrics:\n      auc:\n        direction: maximize\n        vs-champion: {min-improvement: 0}\n    on-missing-metric: skip\n",
			cand:    map[string][]float64{"auc": one(0.9)},
			verdict: VerdictPass,
			want: []Check{{Rule: "r", Kind: KindVsChampion, Name: "auc", Value: "0.9", Bound: "delta >= 0", Champion: "missing", Status: StatusSkip,
				Reason: `metric "auc" not found on champion v12 (on-missing-metric: skip)`, CandidateNum: f64(0.9), Line: 7}},
		},
		{
			name:    "champion NaN fails",
			body:    "    metrics:\n      auc:\n        direction: maximize\n        vs-champion: {max-regression: 1}\n",
			cand:    map[string][]float64{"auc": one(0.9)},
			champ:   map[string][]float64{"auc": one(math.NaN())},
			verdict: VerdictFail,
			want: []Check{{Rule: "r", Kind: KindVsChampion, Name: "auc", Value: "0.9", Bound: "delta >= -1", Champion: "NaN", Status: StatusFail,
				Reason: "champion v12 auc is NaN", CandidateNum: f64(0.9), Line: 7}},
		},
		{
			name:    "candidate missing fails both the bound and the comparison",
			body:    "    metrics:\n      auc:\n        min: 0.5\n        vs-champion: {min-improvement: 0}\n",
			champ:   map[string][]float64{"auc": one(0.9)},
			verdict: VerdictFail,
			want: []Check{
				{Rule: "r", Kind: KindMetric, Name: "auc", Value: "missing", Bound: ">= 0.5", Status: StatusFail, Reason: `metric "auc" not found on candidate v15`, Line: 7},
				{Rule: "r", Kind: KindVsChampion, Name: "auc", Value: "missing", Bound: "delta >= 0", Champion: "0.9", Status: StatusFail,
					Reason: `metric "auc" not found on candidate v15`, ChampionNum: f64(0.9), Line: 7},
			},
		},
		{
			name: "stage rule compares with the stage holder when the target also has an alias",
			policy: "version: 1\nrules:\n  - name: prod\n    applies-to: {stage: Production}\n    metrics:\n" +
				"      auc: {min: 0.1, vs-champion: {max-regression: 0}}\n",
			cand:    map[string][]float64{"auc": one(0.8)},
			champ:   map[string][]float64{"auc": one(0.99)}, // holder of @champion: would fail
			verdict: VerdictPass,
			mutate: func(in *Input) {
				in.Target = Target{Alias: "champion", Stage: "Production"}
				in.StageChampion = &Subject{Version: "9", Metrics: metrics(map[string][]float64{"auc": one(0.5)})}
			},
			want: []Check{
				{Rule: "prod", Kind: KindMetric, Name: "auc", Value: "0.8", Bound: ">= 0.1", Status: StatusPass, CandidateNum: f64(0.8), Line: 6},
				{Rule: "prod", Kind: KindVsChampion, Name: "auc", Value: "0.8", Bound: "delta >= 0", Champion: "0.5", Delta: "+0.3",
					Status: StatusPass, CandidateNum: f64(0.8), ChampionNum: f64(0.5), Line: 6},
			},
		},
		{
			name: "stage rule: nobody in the stage is a first deploy",
			policy: "version: 1\nrules:\n  - name: prod\n    applies-to: {stage: Production}\n    metrics:\n" +
				"      auc: {min: 0.1, vs-champion: {max-regression: 0}}\n    on-first-deploy: fail\n",
			cand:    map[string][]float64{"auc": one(0.8)},
			champ:   map[string][]float64{"auc": one(0.5)},
			verdict: VerdictFail,
			mutate: func(in *Input) {
				in.Target = Target{Alias: "champion", Stage: "Production"}
			},
			want: []Check{
				{Rule: "prod", Kind: KindMetric, Name: "auc", Value: "0.8", Bound: ">= 0.1", Status: StatusPass, CandidateNum: f64(0.8), Line: 6},
				{Rule: "prod", Kind: KindVsChampion, Name: "auc", Value: "0.8", Bound: "delta >= 0", Status: StatusFail,
					Reason: "first deploy: no version holds stage Production (on-first-deploy: fail)", CandidateNum: f64(0.8), Line: 6},
			},
		},
		{
			name: "aggregates over the history",
			policy: "version: 1\nrules:\n" +
				"  - name: last\n    applies-to: {alias: champion}\n    metrics:\n      lat: {max: 40}\n" +
				"  - name: max\n    applies-to: {alias: champion}\n    metrics:\n      lat: {max: 40, aggregate: max}\n" +
				"  - name: min\n    applies-to: {alias: champion}\n    metrics:\n      lat: {min: 31, aggregate: min}\n" +
				"  - name: mean\n    applies-to: {alias: champion}\n    metrics:\n      lat: {max: 40, aggregate: mean}\n",
			cand:    map[string][]float64{"lat": {30, 45, 30}},
			verdict: VerdictFail,
			want: []Check{
				{Rule: "last", Kind: KindMetric, Name: "lat", Value: "30", Bound: "<= 40", Status: StatusPass, CandidateNum: f64(30), Line: 6},
				{Rule: "max", Kind: KindMetric, Name: "lat (max)", Value: "45", Bound: "<= 40", Status: StatusFail, Reason: "45 > max 40", CandidateNum: f64(45), Line: 10},
				{Rule: "min", Kind: KindMetric, Name: "lat (min)", Value: "30", Bound: ">= 31", Status: StatusFail, Reason: "30 < min 31", CandidateNum: f64(30), Line: 14},
				{Rule: "mean", Kind: KindMetric, Name: "lat (mean)", Value: "35", Bound: "<= 40", Status: StatusPass, CandidateNum: f64(35), Line: 18},
			},
		},
		{
			// A NaN in the history makes min, max and mean NaN; last reads the
			// last point only; ±Inf takes part in min and max as the extreme it is.
			name: "aggregates over a history with NaN and infinities",
			policy: "version: 1\nrules:\n" +
				"  - name: last\n    applies-to: {alias: champion}\n    metrics:\n      loss: {max: 0.5}\n" +
				"  - name: max\n    applies-to: {alias: champion}\n    metrics:\n      loss: {max: 0.5, aggregate: max}\n" +
				"  - name: min\n    applies-to: {alias: champion}\n    metrics:\n      loss: {max: 0.5, aggregate: min}\n" +
				"  - name: mean\n    applies-to: {alias: champion}\n    metrics:\n      loss: {max: 0.5, aggregate: mean}\n" +
				"  - name: inf\n    applies-to: {alias: champion}\n    metrics:\n" +
				"      lat: {max: 40, aggregate: max, dataset: holdout}\n      acc: {min: 0.2, aggregate: min}\n      mixed: {min: 0, aggregate: mean}\n",
			cand: map[string][]float64{
				"loss":        {0.9, math.NaN(), 0.3},
				"lat@holdout": {30, math.Inf(1), 20},
				"acc":         {0.3, math.Inf(1), 0.25},
				"mixed":       {math.Inf(1), 1, math.Inf(-1)},
			},
			verdict: VerdictFail,
			want: []Check{
				{Rule: "last", Kind: KindMetric, Name: "loss", Value: "0.3", Bound: "<= 0.5", Status: StatusPass, CandidateNum: f64(0.3), Line: 6},
				{Rule: "max", Kind: KindMetric, Name: "loss (max)", Value: "NaN", Bound: "<= 0.5", Status: StatusFail,
					Reason: "max of loss is NaN (its history holds a NaN)", Line: 10},
				{Rule: "min", Kind: KindMetric, Name: "loss (min)", Value: "NaN", Bound: "<= 0.5", Status: StatusFail,
					Reason: "min of loss is NaN (its history holds a NaN)", Line: 14},
				{Rule: "mean", Kind: KindMetric, Name: "loss (mean)", Value: "NaN", Bound: "<= 0.5", Status: StatusFail,
					Reason: "mean of loss is NaN (its history holds a NaN, or both +Inf and -Inf)", Line: 18},
				{Rule: "inf", Kind: KindMetric, Name: "lat (dataset holdout, max)", Value: "+Inf", Bound: "<= 40", Status: StatusFail,
					Reason: "max of lat (dataset holdout) is +Inf (its history holds +Inf)", Line: 22},
				{Rule: "inf", Kind: KindMetric, Name: "acc (min)", Value: "0.25", Bound: ">= 0.2", Status: StatusPass, CandidateNum: f64(0.25), Line: 23},
				{Rule: "inf", Kind: KindMetric, Name: "mixed (mean)", Value: "NaN", Bound: ">= 0", Status: StatusFail,
					Reason: "mean of mixed is NaN (its history holds a NaN, or both +Inf and -Inf)", Line: 24},
			},
		},
		{
			name:    "candidate NaN fails vs-champion too, showing the champion's value",
			body:    "    metrics:\n      val_auc:\n        min: 0.5\n        vs-champion: {min-improvement: 0}\n",
			cand:    map[string][]float64{"val_auc": one(math.NaN())},
			champ:   map[string][]float64{"val_auc": one(0.9)},
			verdict: VerdictFail,
			want: []Check{
				{Rule: "r", Kind: KindMetric, Name: "val_auc", Value: "NaN", Bound: ">= 0.5", Status: StatusFail, Reason: "val_auc is NaN", Line: 7},
				{Rule: "r", Kind: KindVsChampion, Name: "val_auc", Value: "NaN", Bound: "delta >= 0", Champion: "0.9", Status: StatusFail,
					Reason: "val_auc is NaN", ChampionNum: f64(0.9), Line: 7},
			},
		},
		{
			name:       "candidate -Inf fails vs-champion on a first deploy",
			body:       "    metrics:\n      loss:\n        direction: minimize\n        vs-champion: {max-regression: 0.1}\n",
			cand:       map[string][]float64{"loss": one(math.Inf(-1))},
			noChampion: true,
			verdict:    VerdictFail,
			want: []Check{{Rule: "r", Kind: KindVsChampion, Name: "loss", Value: "-Inf", Bound: "delta <= +0.1", Status: StatusFail,
				Reason: "loss is -Inf", Line: 7}},
		},
		{
			name:    "champion +Inf fails even under on-missing-metric: skip",
			body:    "    metrics:\n      auc:\n        direction: maximize\n        vs-champion: {min-improvement: 0}\n    on-missing-metric: skip\n",
			cand:    map[string][]float64{"auc": one(0.9)},
			champ:   map[string][]float64{"auc": one(math.Inf(1))},
			verdict: VerdictFail,
			want: []Check{{Rule: "r", Kind: KindVsChampion, Name: "auc", Value: "0.9", Bound: "delta >= 0", Champion: "+Inf", Status: StatusFail,
				Reason: "champion v12 auc is +Inf", CandidateNum: f64(0.9), Line: 7}},
		},
		{
			// The comparison is skipped before it reads the champion's NaN.
			name:    "candidate missing under on-missing-metric: skip skips, champion NaN or not",
			body:    "    metrics:\n      auc:\n        direction: maximize\n        vs-champion: {min-improvement: 0}\n    on-missing-metric: skip\n",
			champ:   map[string][]float64{"auc": one(math.NaN())},
			verdict: VerdictPass,
			want: []Check{{Rule: "r", Kind: KindVsChampion, Name: "auc", Value: "missing", Bound: "delta >= 0", Champion: "NaN", Status: StatusSkip,
				Reason: `metric "auc" not found on candidate v15 (on-missing-metric: skip)`, Line: 7}},
		},
		{
			name:    "a NaN metric no check uses changes nothing",
			body:    "    metrics:\n      val_auc:\n        min: 0.9\n        vs-champion: {min-improvement: 0}\n",
			cand:    map[string][]float64{"val_auc": one(0.95), "train_loss": one(math.NaN())},
			champ:   map[string][]float64{"val_auc": one(0.91), "train_loss": one(math.Inf(1))},
			verdict: VerdictPass,
			want: []Check{
				{Rule: "r", Kind: KindMetric, Name: "val_auc", Value: "0.95", Bound: ">= 0.9", Status: StatusPass, CandidateNum: f64(0.95), Line: 7},
				{Rule: "r", Kind: KindVsChampion, Name: "val_auc", Value: "0.95", Bound: "delta >= 0", Champion: "0.91", Delta: "+0.04",
					Status: StatusPass, CandidateNum: f64(0.95), ChampionNum: f64(0.91), Line: 7},
			},
		},
		{
			name:    "dataset-qualified metric",
			body:    "    metrics:\n      ndcg: {min: 0.4, dataset: holdout}\n",
			cand:    map[string][]float64{"ndcg": one(0.1), "ndcg@holdout": one(0.45)},
			verdict: VerdictPass,
			want: []Check{{Rule: "r", Kind: KindMetric, Name: "ndcg (dataset holdout)", Value: "0.45", Bound: ">= 0.4", Status: StatusPass,
				CandidateNum: f64(0.45), Line: 7}},
		},
		{
			name:    "dataset missing names the dataset",
			body:    "    metrics:\n      ndcg: {min: 0.4, dataset: canary, aggregate: max}\n",
			cand:    map[string][]float64{"ndcg": one(0.9)},
			verdict: VerdictFail,
			want: []Check{{Rule: "r", Kind: KindMetric, Name: "ndcg (dataset canary, max)", Value: "missing", Bound: ">= 0.4", Status: StatusFail,
				Reason: `metric "ndcg" (dataset "canary") not found on candidate v15`, Line: 7}},
		},
		{
			name: "tags present, absent and equals",
			body: "    tags:\n      dataset_version: present\n      owner: present\n      experimental: absent\n      legacy: absent\n" +
				"      validated: \"true\"\n      reviewed: \"yes\"\n      stage_note: \"True\"\n",
			mutate:  func(in *Input) { in.Candidate.Tags["stage_note"] = "True" },
			verdict: VerdictFail,
			want: []Check{
				{Rule: "r", Kind: KindTag, Name: "dataset_version", Value: "v3", Bound: "present", Status: StatusPass, Line: 7},
				{Rule: "r", Kind: KindTag, Name: "owner", Bound: "present", Status: StatusFail, Reason: "tag not set", Line: 8},
				{Rule: "r", Kind: KindTag, Name: "experimental", Value: "yes", Bound: "absent", Status: StatusFail, Reason: "tag is set", Line: 9},
				{Rule: "r", Kind: KindTag, Name: "legacy", Bound: "absent", Status: StatusPass, Line: 10},
				{Rule: "r", Kind: KindTag, Name: "validated", Value: "True", Bound: `= "true"`, Status: StatusFail, Reason: `tag is "True", want "true"`, Line: 11},
				{Rule: "r", Kind: KindTag, Name: "reviewed", Bound: `= "yes"`, Status: StatusFail, Reason: "tag not set", Line: 12},
				{Rule: "r", Kind: KindTag, Name: "stage_note", Value: "True", Bound: `= "True"`, Status: StatusPass, Line: 13},
			},
		},
		{
			name:    "run status and age pass",
			body:    "    run:\n      status: FINISHED\n      max-age: 168h\n",
			verdict: VerdictPass,
			want: []Check{
				{Rule: "r", Kind: KindRunStatus, Name: "run status", Value: "FINISHED", Bound: "= FINISHED", Status: StatusPass, Line: 7},
				{Rule: "r", Kind: KindRunAge, Name: "run age", Value: "2h", Bound: "<= 7d", Status: StatusPass, Line: 7},
			},
		},
		{
			name: "run too old and still running",
			body: "    run:\n      status: FINISHED\n      max-age: 7d\n",
			mutate: func(in *Input) {
				in.Candidate.RunStatus = "RUNNING"
				in.Candidate.RunEnd = now.Add(-8*24*time.Hour - 90*time.Minute)
			},
			verdict: VerdictFail,
			want: []Check{
				{Rule: "r", Kind: KindRunStatus, Name: "run status", Value: "RUNNING", Bound: "= FINISHED", Status: StatusFail, Reason: "run status is RUNNING, want FINISHED", Line: 7},
				{Rule: "r", Kind: KindRunAge, Name: "run age", Value: "8d1h30m", Bound: "<= 7d", Status: StatusFail, Reason: "run ended 8d1h30m ago, more than 7d", Line: 7},
			},
		},
		{
			name:    "run age exactly at the limit passes",
			body:    "    run:\n      max-age: 2h\n",
			verdict: VerdictPass,
			want:    []Check{{Rule: "r", Kind: KindRunAge, Name: "run age", Value: "2h", Bound: "<= 2h", Status: StatusPass, Line: 7}},
		},
		{
			name:    "run end unknown",
			body:    "    run:\n      max-age: 2h\n",
			mutate:  func(in *Input) { in.Candidate.RunEnd = time.Time{} },
			verdict: VerdictFail,
			want: []Check{{Rule: "r", Kind: KindRunAge, Name: "run age", Bound: "<= 2h", Status: StatusFail,
				Reason: "run end time unknown (the run may still be running)", Line: 7}},
		},
		{
			name: "no run",
			body: "    run:\n      status: FINISHED\n      max-age: 2h\n",
			mutate: func(in *Input) {
				in.Candidate.HasRun = false
				in.Candidate.RunStatus = ""
				in.Candidate.RunEnd = time.Time{}
			},
			verdict: VerdictFail,
			want: []Check{
				{Rule: "r", Kind: KindRunStatus, Name: "run status", Bound: "= FINISHED", Status: StatusFail, Reason: "candidate v15 has no run", Line: 7},
				{Rule: "r", Kind: KindRunAge, Name: "run age", Bound: "<= 2h", Status: StatusFail, Reason: "candidate v15 has no run", Line: 7},
			},
		},
		{
			name:    "require-source met by alias",
			body:    "    require-source:\n      aliases: [challenger]\n      stages: [Production]\n",
			mutate:  func(in *Input) { in.Candidate.Stage = "None" },
			verdict: VerdictPass,
			want: []Check{{Rule: "r", Kind: KindSource, Name: "require-source", Value: "@challenger, stage None", Bound: "@challenger or stage Production",
				Status: StatusPass, Line: 7}},
		},
		{
			name:    "require-source met by stage",
			body:    "    require-source:\n      aliases: [shadow]\n      stages: [staging]\n",
			verdict: VerdictPass,
			want: []Check{{Rule: "r", Kind: KindSource, Name: "require-source", Value: "@challenger, stage Staging", Bound: "@shadow or stage Staging",
				Status: StatusPass, Line: 7}},
		},
		{
			name:    "require-source not met",
			body:    "    require-source:\n      aliases: [challenger]\n",
			mutate:  func(in *Input) { in.Candidate.Aliases = nil; in.Candidate.Stage = "None" },
			verdict: VerdictFail,
			want: []Check{{Rule: "r", Kind: KindSource, Name: "require-source", Value: "stage None", Bound: "@challenger",
				Status: StatusFail, Reason: "candidate v15 holds none of @challenger", Line: 7}},
		},
		{
			name:    "approvals without a checker fail",
			body:    "    approval:\n      environment-reviews: {min: 1}\n      pull-request-reviews: {min: 1, exclude-actor: true}\n",
			verdict: VerdictFail,
			want: []Check{
				{Rule: "r", Kind: KindApproval, Name: "environment-reviews", Bound: ">= 1", Status: StatusFail,
					Reason: "approvals can only be checked in a GitHub Actions run", Line: 7},
				{Rule: "r", Kind: KindApproval, Name: "pull-request-reviews (excluding the actor)", Bound: ">= 1", Status: StatusFail,
					Reason: "approvals can only be checked in a GitHub Actions run", Line: 7},
			},
		},
		{
			name: "checks of several rules, in order",
			policy: "version: 1\nrules:\n  - name: a\n    applies-to: {alias: champion}\n    tags: {dataset_version: present}\n" +
				"  - name: b\n    applies-to: {alias: champion, models: [\"fraud-*\"]}\n    run: {status: finished}\n",
			verdict: VerdictPass,
			want: []Check{
				{Rule: "a", Kind: KindTag, Name: "dataset_version", Value: "v3", Bound: "present", Status: StatusPass, Line: 5},
				{Rule: "b", Kind: KindRunStatus, Name: "run status", Value: "FINISHED", Bound: "= FINISHED", Status: StatusPass, Line: 8},
			},
		},
		{
			name:    "the candidate holds the target already: comparisons with itself are skipped, not judged",
			body:    "    metrics:\n      val_auc:\n        min: 0.9\n        vs-champion: {min-improvement: 0.002}\n",
			cand:    map[string][]float64{"val_auc": one(0.95)},
			verdict: VerdictPass,
			mutate:  func(in *Input) { in.Champion = in.Candidate },
			want: []Check{
				{Rule: "r", Kind: KindMetric, Name: "val_auc", Value: "0.95", Bound: ">= 0.9", Status: StatusPass, CandidateNum: f64(0.95), Line: 7},
				{Rule: "r", Kind: KindVsChampion, Name: "val_auc", Value: "0.95", Bound: "delta >= +0.002", Status: StatusSkip,
					Reason: "the candidate already holds the target", CandidateNum: f64(0.95), Line: 7},
			},
		},
		{
			name:    "the candidate holds the target, even with a missing metric: skipped, not failed",
			body:    "    metrics:\n      val_auc:\n        direction: maximize\n        vs-champion: {min-improvement: 0.002}\n",
			verdict: VerdictPass,
			mutate:  func(in *Input) { in.Champion = &Subject{Version: in.Candidate.Version} },
			want: []Check{
				{Rule: "r", Kind: KindVsChampion, Name: "val_auc", Value: "missing", Bound: "delta >= +0.002", Status: StatusSkip,
					Reason: "the candidate already holds the target", Line: 7},
			},
		},
		{
			name: "with an alias and a stage, holding the alias skips only the alias rule's comparison",
			policy: "version: 1\nrules:\n  - name: a\n    applies-to: {alias: champion}\n    metrics:\n      auc: {direction: maximize, vs-champion: {max-regression: 0}}\n" +
				"  - name: s\n    applies-to: {stage: Production}\n    metrics:\n      auc: {direction: maximize, vs-champion: {max-regression: 0}}\n",
			cand:    map[string][]float64{"auc": one(0.8)},
			verdict: VerdictFail,
			mutate: func(in *Input) {
				in.Target = Target{Alias: "champion", Stage: "Production"}
				in.Champion = in.Candidate
				in.StageChampion = &Subject{Version: "9", Metrics: metrics(map[string][]float64{"auc": one(0.9)})}
			},
			want: []Check{
				{Rule: "a", Kind: KindVsChampion, Name: "auc", Value: "0.8", Bound: "delta >= 0", Status: StatusSkip,
					Reason: "the candidate already holds the target", CandidateNum: f64(0.8), Line: 6},
				{Rule: "s", Kind: KindVsChampion, Name: "auc", Value: "0.8", Bound: "delta >= 0", Champion: "0.9", Delta: "-0.1", Status: StatusFail,
					Reason: "regression 0.1 > max-regression 0", CandidateNum: f64(0.8), ChampionNum: f64(0.9), Line: 10},
			},
		},
		{
			name: "rollback: comparisons with the replaced version and the run's age are not re-checked, their evidence kept",
			body: "    metrics:\n      val_auc:\n        min: 0.9\n        vs-champion: {min-improvement: 0.002}\n" +
				"    run: {status: FINISHED, max-age: 1h}\n",
			cand:    map[string][]float64{"val_auc": one(0.91)},
			champ:   map[string][]float64{"val_auc": one(0.95)},
			verdict: VerdictPass,
			mutate:  func(in *Input) { in.Mode = ModeRollback },
			want: []Check{
				{Rule: "r", Kind: KindMetric, Name: "val_auc", Value: "0.91", Bound: ">= 0.9", Status: StatusPass, CandidateNum: f64(0.91), Line: 7},
				{Rule: "r", Kind: KindVsChampion, Name: "val_auc", Value: "0.91", Bound: "delta >= +0.002", Champion: "0.95", Delta: "-0.04",
					Status: StatusSkip, Reason: "not re-checked on rollback", CandidateNum: f64(0.91), ChampionNum: f64(0.95), Line: 7},
				{Rule: "r", Kind: KindRunStatus, Name: "run status", Value: "FINISHED", Bound: "= FINISHED", Status: StatusPass, Line: 10},
				{Rule: "r", Kind: KindRunAge, Name: "run age", Value: "2h", Bound: "<= 1h", Status: StatusSkip,
					Reason: "not re-checked on rollback: the version's run is expected to be older", Line: 10},
			},
		},
		{
			name:    "rollback still judges absolute bounds",
			body:    "    metrics:\n      val_auc: {min: 0.9}\n",
			cand:    map[string][]float64{"val_auc": one(0.8)},
			verdict: VerdictFail,
			mutate:  func(in *Input) { in.Mode = ModeRollback },
			want: []Check{{Rule: "r", Kind: KindMetric, Name: "val_auc", Value: "0.8", Bound: ">= 0.9", Status: StatusFail,
				Reason: "0.8 < min 0.9", CandidateNum: f64(0.8), Line: 7}},
		},
		{
			name:    "a rule without checks passes",
			body:    "",
			verdict: VerdictPass,
			want:    []Check{},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			src := tc.policy
			if src == "" {
				src = head + tc.body
			}
			pol, err := Parse("p.yml", []byte(src))
			if err != nil {
				t.Fatalf("Parse() error: %v", err)
			}
			in := baseInput()
			in.Candidate.Metrics = metrics(tc.cand)
			in.Champion.Metrics = metrics(tc.champ)
			if tc.noChampion {
				in.Champion = nil
			}
			if tc.mutate != nil {
				tc.mutate(&in)
			}
			res, err := Evaluate(t.Context(), pol.Rules, in)
			if err != nil {
				t.Fatalf("Evaluate() error: %v", err)
			}
			if diff := cmp.Diff(tc.want, res.Checks); diff != "" {
				t.Errorf("Evaluate() checks (-want +got):\n%s", diff)
			}
			if res.Verdict != tc.verdict {
				t.Errorf("Evaluate() verdict = %q, want %q", res.Verdict, tc.verdict)
			}
			var names []string
			for _, r := range pol.Rules {
				names = append(names, r.Name)
			}
			if diff := cmp.Diff(names, res.Rules); diff != "" {
				t.Errorf("Evaluate() rules (-want +got):\n%s", diff)
			}
		})
	}
}

func TestEvaluateApprovals(t *testing.T) {
	t.Parallel()
	rules := rulesOf(t, "    approval:\n      environment-reviews: {min: 1, environment: production}\n      pull-request-reviews: {min: 2, exclude-actor: true}\n")
	fake := &fakeApprovals{res: map[string]ApprovalResult{
		ApprovalEnvironmentReviews: {Count: 1, Approvers: []string{"alice"}, Detail: "environment production, run 123"},
		ApprovalPullRequestReviews: {Count: 1, Approvers: []string{"bob"}, Detail: "pull request #7"},
	}}
	in := baseInput()
	in.Approvals = fake
	res, err := Evaluate(t.Context(), rules, in)
	if err != nil {
		t.Fatalf("Evaluate() error: %v", err)
	}
	want := &Result{
		Verdict: VerdictFail,
		Rules:   []string{"r"},
		Checks: []Check{
			{Rule: "r", Kind: KindApproval, Name: "environment-reviews", Value: "1", Bound: ">= 1", Status: StatusPass,
				Reason: "environment production, run 123", Line: 7, Approvers: []string{"alice"}},
			{Rule: "r", Kind: KindApproval, Name: "pull-request-reviews (excluding the actor)", Value: "1", Bound: ">= 2", Status: StatusFail,
				Reason: "1 approval, need 2; pull request #7", Line: 7, Approvers: []string{"bob"}},
		},
	}
	if diff := cmp.Diff(want, res); diff != "" {
		t.Errorf("Evaluate() (-want +got):\n%s", diff)
	}
	wantQ := []ApprovalQuery{
		{Kind: ApprovalEnvironmentReviews, Min: 1, Environment: "production"},
		{Kind: ApprovalPullRequestReviews, Min: 2, ExcludeActor: true},
	}
	if diff := cmp.Diff(wantQ, fake.queries); diff != "" {
		t.Errorf("approval queries (-want +got):\n%s", diff)
	}
}

func TestEvaluateErrors(t *testing.T) {
	t.Parallel()
	boom := errors.New("boom")
	cases := []struct {
		name    string
		body    string
		mutate  func(*Input)
		ctx     func(context.Context) context.Context
		noRules bool
		wantErr string
		wantIs  error
	}{
		{
			name:    "candidate metric source error",
			body:    "    metrics:\n      auc: {min: 0.9}\n",
			mutate:  func(in *Input) { in.Candidate.Metrics = &fakeSource{err: boom} },
			wantErr: `failed to fetch the metrics of candidate v15: boom`,
			wantIs:  boom,
		},
		{
			name: "champion metric source error",
			body: "    metrics:\n      auc: {min: 0.9, vs-champion: {min-improvement: 0}}\n",
			mutate: func(in *Input) {
				in.Candidate.Metrics = metrics(map[string][]float64{"auc": one(0.95)})
				in.Champion.Metrics = &fakeSource{err: boom}
			},
			wantErr: `failed to fetch the metrics of champion v12: boom`,
			wantIs:  boom,
		},
		{
			name:    "approval checker error",
			body:    "    approval:\n      environment-reviews: {min: 1}\n",
			mutate:  func(in *Input) { in.Approvals = &fakeApprovals{err: boom} },
			wantErr: `failed to check environment-reviews of rule "r": boom`,
			wantIs:  boom,
		},
		{
			name:    "run age without a clock",
			body:    "    run:\n      max-age: 1h\n",
			mutate:  func(in *Input) { in.Now = time.Time{} },
			wantErr: `failed to evaluate run age of rule "r": current time not set`,
		},
		{
			name:    "no rules",
			noRules: true,
			wantErr: "failed to evaluate policy: no rules to evaluate",
		},
		{
			name:    "no candidate",
			mutate:  func(in *Input) { in.Candidate = nil },
			wantErr: "failed to evaluate policy: no candidate version",
		},
		{
			name: "canceled context",
			ctx: func(ctx context.Context) context.Context {
				ctx, cancel := context.WithCancel(ctx)
				cancel()
				return ctx
			},
			wantErr: "failed to evaluate policy: context canceled",
			wantIs:  context.Canceled,
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			rules := rulesOf(t, tc.body)
			if tc.noRules {
				rules = nil
			}
			in := baseInput()
			if tc.mutate != nil {
				tc.mutate(&in)
			}
			ctx := t.Context()
			if tc.ctx != nil {
				ctx = tc.ctx(ctx)
			}
			res, err := Evaluate(ctx, rules, in)
			if err == nil || err.Error() != tc.wantErr {
				t.Fatalf("Evaluate() = %+v, %v; want error %q", res, err, tc.wantErr)
			}
			if tc.wantIs != nil && !errors.Is(err, tc.wantIs) {
				t.Errorf("errors.Is(%v, %v) = false", err, tc.wantIs)
			}
		})
	}
}

func TestEvaluateFetchesEachMetricOnce(t *testing.T) {
	t.Parallel()
	rules := rulesOf(t, "    metrics:\n      auc: {min: 0.5, vs-champion: {min-improvement: 0}}\n")
	// A second rule asking for the same metric.
	rules = append(rules, &Rule{Name: "again", AppliesTo: AppliesTo{Alias: "champion"}, OnMissingMetric: OnMissingFail, OnFirstDeploy: OnFirstDeployPass,
		Metrics: []*MetricRule{{Key: "auc", Min: f64(0.1), Aggregate: AggregateLast, Direction: DirectionMaximize}}})
	in := baseInput()
	cand := metrics(map[string][]float64{"auc": one(0.9)})
	champ := metrics(map[string][]float64{"auc": one(0.8)})
	in.Candidate.Metrics, in.Champion.Metrics = cand, champ
	res, err := Evaluate(t.Context(), rules, in)
	if err != nil {
		t.Fatal(err)
	}
	if res.Verdict != VerdictPass || len(res.Checks) != 3 {
		t.Errorf("Evaluate() = %+v", res)
	}
	if cand.calls != 1 || champ.calls != 1 {
		t.Errorf("metric source calls: candidate %d, champion %d; want 1 each", cand.calls, champ.calls)
	}
}

func TestEvaluateNilMetricSourceMeansNoMetrics(t *testing.T) {
	t.Parallel()
	rules := rulesOf(t, "    metrics:\n      auc: {min: 0.5}\n")
	in := baseInput()
	res, err := Evaluate(t.Context(), rules, in)
	if err != nil {
		t.Fatal(err)
	}
	if res.Verdict != VerdictFail || !strings.Contains(res.Checks[0].Reason, "not found") {
		t.Errorf("Evaluate() = %+v", res)
	}
}

// sub subtracts at run time, in float64 (constant expressions are exact).
func sub(a, b float64) float64 { return a - b }

func TestFormat(t *testing.T) {
	t.Parallel()
	nums := []struct {
		v          float64
		num, delta string
	}{
		{0.871, "0.871", "+0.871"},
		{0.002, "0.002", "+0.002"},
		{1e-05, "1e-05", "+1e-05"},
		{40, "40", "+40"},
		{-0.004, "-0.004", "-0.004"},
		{sub(0.875, 0.871), "0.0040000000000000036", "+0.004"},
		{0, "0", "0"},
		{math.Copysign(0, -1), "-0", "0"},
		{1234567.5, "1234567.5", "+1234567.5"},
		{1e21, "1e+21", "+1e+21"},
		{math.NaN(), "NaN", "NaN"},
		{math.Inf(1), "+Inf", "+Inf"},
		{math.Inf(-1), "-Inf", "-Inf"},
	}
	for _, n := range nums {
		if got := formatNumber(n.v); got != n.num {
			t.Errorf("formatNumber(%v) = %q, want %q", n.v, got, n.num)
		}
		if got := formatDelta(n.v); got != n.delta {
			t.Errorf("formatDelta(%v) = %q, want %q", n.v, got, n.delta)
		}
	}
	durs := []struct {
		d    time.Duration
		want string
	}{
		{168 * time.Hour, "7d"},
		{36 * time.Hour, "1d12h"},
		{90 * time.Minute, "1h30m"},
		{45 * time.Second, "45s"},
		{500 * time.Millisecond, "0s"},
		{25*time.Hour + 1500*time.Millisecond, "1d1h2s"},
	}
	for _, d := range durs {
		if got := formatDuration(d.d); got != d.want {
			t.Errorf("formatDuration(%v) = %q, want %q", d.d, got, d.want)
		}
	}
}
