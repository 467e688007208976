package checks

import (
	"context"
	"encoding/json"
	"errors"
	"hash/fnv"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// fuzzMetrics answers every metric query with a value that depends on the
// query only: ordinary numbers, NaN, ±Inf, or missing.
type fuzzMetrics struct{ salt string }

func (m fuzzMetrics) Metric(_ context.Context, q MetricQuery) (float64, bool, error) {
	h := fnv.New64a()
	h.Write([]byte(m.salt + "\x00" + q.Key + "\x00" + q.Dataset + "\x00" + q.Aggregate))
	n := h.Sum64()
	switch n % 8 {
	case 0:
		return 0, false, nil
	case 1:
		return math.NaN(), true, nil
	case 2:
		return math.Inf(1 - 2*int(n>>8%2)), true, nil
	case 3:
		return 0, true, nil
	}
	return float64(int64(n>>16)%20000)/1000 - 10, true, nil
}

// fuzzApprovals answers approval queries with a count from the query.
type fuzzApprovals struct{}

func (fuzzApprovals) Approvals(_ context.Context, q ApprovalQuery) (ApprovalResult, error) {
	return ApprovalResult{Count: len(q.Environment) % 3, Approvers: []string{"octocat"}, Detail: "fuzz"}, nil
}

// fuzzExtraSeeds are broken policies beyond badCases: YAML oddities.
var fuzzExtraSeeds = []string{
	"",
	"version: 1\nrules:\n  - *a\n",
	"version: 1\nrules: &a [*a]\n",
	"version: 1\nrules: !!binary AAAA\n",
	"version: 1\nrules:\n  - name: r\n    applies-to: {alias: champion}\n    metrics: {m: {min: 1e400}}\n",
	"version: 1\nrules:\n  - name: r\n    applies-to: {alias: champion, models: ['[']}\n",
	"version: 1\nrules:\n  - name: r\n    applies-to: {stage: production}\n    run: {max-age: 1d1h}\n",
	"version: 1\nrules:\n  - {name: r, applies-to: {alias: champion}, approval: {environment-reviews: {min: 1, environment: prod}}}\n",
	"version: 1\x00\nrules: []\n",
	"\xef\xbb\xbfversion: 1\nrules: []\n",
	"%YAML 1.2\n%YAML 1.2\n---\nversion: 1\n",
	"version: 1\r\nrules:\r\n\t- x\r\n",
	"? [a, b]\n: c\n",
	"version: 1\nrules: [" + strings.Repeat("[", 200) + "\n",
}

// fuzzSeeds are the repository's example policies and some broken ones.
func fuzzSeeds(f *testing.F) {
	files, err := filepath.Glob(filepath.Join("..", "..", "testdata", "policies", "*.yml"))
	if err != nil || len(files) == 0 {
		f.Fatalf("no seed policies: %v", err)
	}
	for _, p := range files {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	for _, c := range badCases {
		f.Add([]byte(c.src))
	}
	for _, s := range fuzzExtraSeeds {
		f.Add([]byte(s))
	}
}

// Parse never panics; every problem it reports names the file and a line;
// a policy it accepts evaluates without panicking, for every target its
// rules name, and gives the same result twice.
func FuzzParse(f *testing.F) {
	fuzzSeeds(f)
	now := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, data []byte) {
		pol, err := Parse("fuzz.yml", data)
		if err != nil {
			if pol != nil {
				t.Fatalf("Parse() returned a policy and an error: %v", err)
			}
			var errs Errors
			if !errors.As(err, &errs) || len(errs) == 0 {
				t.Fatalf("Parse() error %T is not Errors: %v", err, err)
			}
			for _, e := range errs {
				if e.File != "fuzz.yml" || e.Line < 1 || e.Column < 0 || e.Msg == "" {
					t.Errorf("problem without a position: file %q line %d column %d: %q", e.File, e.Line, e.Column, e.Msg)
				}
			}
			if !slices.IsSortedFunc(errs, func(a, b *Error) int { return a.Line - b.Line }) {
				t.Errorf("problems are not sorted by line: %v", err)
			}
			return
		}
		if pol == nil || len(pol.Rules) == 0 || pol.Version != 1 || pol.Digest != Digest(data) {
			t.Fatalf("Parse() = %+v without an error", pol)
		}
		// Every target a rule governs, plus one no rule governs.
		targets := []Target{{Alias: "fuzz-nobody"}}
		for _, r := range pol.Rules {
			if (r.AppliesTo.Alias == "") == (r.AppliesTo.Stage == "") {
				t.Fatalf("rule %q applies to alias %q and stage %q", r.Name, r.AppliesTo.Alias, r.AppliesTo.Stage)
			}
			targets = append(targets, Target{Alias: r.AppliesTo.Alias, Stage: r.AppliesTo.Stage})
		}
		ctx := context.Background()
		for _, tg := range targets {
			for _, model := range []string{"fraud-model", "m"} {
				rules, err := pol.Match(model, tg)
				if err != nil {
					if !errors.Is(err, ErrNoRule) {
						t.Fatalf("Match(%s, %+v) error: %v", model, tg, err)
					}
					continue
				}
				in := Input{
					Model:  model,
					Target: tg,
					Candidate: &Subject{Version: "2", Aliases: []string{"challenger"}, Stage: "Staging",
						Tags: map[string]string{"validated": "true", "dataset_version": ""}, RunStatus: "FINISHED",
						RunEnd: now.Add(-time.Hour), HasRun: true, Metrics: fuzzMetrics{"cand"}},
					Champion: &Subject{Version: "1", Stage: "Production", HasRun: false, Metrics: fuzzMetrics{"champ"}},
					Now:      now,
				}
				if len(data)%2 == 0 {
					in.Champion, in.Approvals = nil, fuzzApprovals{} // first deploy
				}
				res, err := Evaluate(ctx, rules, in)
				if err != nil {
					t.Fatalf("Evaluate() error: %v", err)
				}
				again, err := Evaluate(ctx, rules, in)
				if err != nil || again.Verdict != res.Verdict || len(again.Checks) != len(res.Checks) {
					t.Fatalf("Evaluate() is not deterministic: %+v, then %+v (%v)", res, again, err)
				}
				// Reports and the plan digest are JSON: NaN and ±Inf must not reach a number field.
				if _, err := json.Marshal(res); err != nil {
					t.Fatalf("result does not marshal: %v", err)
				}
				failed := false
				for _, c := range res.Checks {
					// A non-finite value fails every check that uses it; a skipped
					// comparison (the candidate's value is missing) uses neither.
					if nonFinite(c.Value) || (nonFinite(c.Champion) && c.Value != "missing") {
						if c.Status != StatusFail {
							t.Errorf("check %+v with a non-finite value is %s, want fail", c, c.Status)
						}
					}
					switch c.Status {
					case StatusFail:
						failed = true
					case StatusPass, StatusSkip:
					default:
						t.Errorf("check %+v has status %q", c, c.Status)
					}
				}
				if want := map[bool]string{true: VerdictFail, false: VerdictPass}[failed]; res.Verdict != want {
					t.Errorf("verdict %q, want %q for %+v", res.Verdict, want, res.Checks)
				}
			}
		}
	})
}

// nonFinite reports whether a displayed value is NaN or infinite.
func nonFinite(shown string) bool { return shown == "NaN" || shown == "+Inf" || shown == "-Inf" }
