package promote

import (
	"encoding/json"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/mlreg/mlreg-action/internal/checks"
	"github.com/mlreg/mlreg-action/internal/mlflow"
)

func withAUC(reg *memRegistry, version string, auc float64) {
	run := "run" + version
	reg.updateVersion(version, func(mv *mlflow.ModelVersion) { mv.RunID = run })
	reg.AddRun(mlflow.Run{Info: mlflow.RunInfo{RunID: run, Status: "FINISHED", EndTime: 1},
		Data: mlflow.RunData{Metrics: []mlflow.Metric{{Key: "val_auc", Value: mlflow.MetricValue(auc)}}}})
}

func TestResolveVersion(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name    string
		version string
		want    string
		wantErr error
		errText string
	}{
		{"number", "2", "2", nil, ""},
		{"latest is the highest number, not the newest stage", "latest", "10", nil, ""},
		{"empty means latest", "", "10", nil, ""},
		{"alias", "@challenger", "2", nil, ""},
		{"unset alias", "@ghost", "", mlflow.ErrAliasNotFound, "@ghost"},
		{"missing version", "7", "", nil, "RESOURCE_DOES_NOT_EXIST"},
		{"not a version", "v2", "", nil, "want a version number, latest or @alias"},
		{"negative", "-1", "", nil, `want a version number, latest or @alias, got "-1"`},
		{"zero", "0", "", nil, `version numbers start at 1, got "0"`},
		{"reserved alias", "@v3", "", nil, "reserved"},
		{"empty alias", "@", "", nil, "alias must not be empty"},
		{"pending version", "3", "", ErrNotReady, "PENDING_REGISTRATION"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			reg := newMem("m", mlflow.ModelVersion{Version: "1"}, mlflow.ModelVersion{Version: "2"},
				mlflow.ModelVersion{Version: "3", Status: "PENDING_REGISTRATION"}, mlflow.ModelVersion{Version: "10", CurrentStage: "Staging"})
			reg.setAlias("challenger", "2")
			s := &Service{Reg: reg}
			var plan *Plan
			v, err := ParseVersion(tc.version)
			if err == nil {
				plan, err = s.Plan(t.Context(), Request{Model: "m", Version: v, Target: checks.Target{Alias: "champion"}})
			}
			if tc.wantErr != nil && !errors.Is(err, tc.wantErr) {
				t.Fatalf("err = %v, want %v", err, tc.wantErr)
			}
			if tc.errText != "" {
				if err == nil || !strings.Contains(err.Error(), tc.errText) {
					t.Fatalf("err = %v, want it to mention %q", err, tc.errText)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if plan.Candidate.Version != tc.want {
				t.Errorf("candidate = v%s, want v%s", plan.Candidate.Version, tc.want)
			}
		})
	}
}

// mustVersion parses a version input the tests spell right.
func mustVersion(s string) VersionSpec {
	v, err := ParseVersion(s)
	if err != nil {
		panic(err)
	}
	return v
}

// mustExpected parses an expected-current-version input the tests spell right.
func mustExpected(s string) Expectation {
	e, err := ParseExpected(s)
	if err != nil {
		panic(err)
	}
	return e
}

func TestParseExpected(t *testing.T) {
	t.Parallel()
	cases := []struct {
		in, want, err string
	}{
		{"", "", ""},
		{"none", "none", ""},
		{"12", "12", ""},
		{"0", "", "version numbers start at 1 (none means unheld)"},
		{"v", "", `want a version number or none, got "v"`},
	}
	for _, tc := range cases {
		e, err := ParseExpected(tc.in)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("ParseExpected(%q) error = %v, want %q", tc.in, err, tc.err)
			}
			continue
		}
		if err != nil || e.String() != tc.want {
			t.Errorf("ParseExpected(%q) = %q, %v, want %q", tc.in, e, err, tc.want)
		}
	}
}

// Plan takes its values as parsed; it refuses only what no registry takes.
func TestRequestValidate(t *testing.T) {
	t.Parallel()
	err := (&Request{Model: "a/b"}).Validate(mlflow.Rules{})
	for _, want := range []string{`input model-name: model name "a/b" may not contain`, "set target-alias or target-stage"} {
		if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v does not mention %q", err, want)
		}
	}
	s := &Service{Reg: newMem("m", mlflow.ModelVersion{Version: "1"})}
	if _, err := s.Plan(t.Context(), Request{Model: "m"}); !errors.Is(err, ErrInvalid) {
		t.Errorf("Plan without a target: err = %v, want ErrInvalid", err)
	}
}

// TestTargetJSON: the plan (and so its digest) and the history JSON write a
// target as kind and name, as they did before Target was one type.
func TestTargetJSON(t *testing.T) {
	t.Parallel()
	tp := TargetPlan{Target: checks.StageTarget("Production"), Current: "12"}
	b, err := json.Marshal(tp)
	if err != nil || string(b) != `{"kind":"stage","name":"Production","current":"12","in_place":false}` {
		t.Errorf("TargetPlan JSON = %s, %v", b, err)
	}
	var back TargetPlan
	if err := json.Unmarshal(b, &back); err != nil || back != tp {
		t.Errorf("TargetPlan round trip = %+v, %v", back, err)
	}
	h := TargetHistory{Target: checks.AliasTarget("champion"), Current: "3", Entries: []Record{}, Recorded: "3"}
	b, err = json.Marshal(h)
	if err != nil || string(b) != `{"target":{"kind":"alias","name":"champion"},"current":"3","entries":[],"drift":false,"recorded":"3"}` {
		t.Errorf("TargetHistory JSON = %s, %v", b, err)
	}
	var hb TargetHistory
	if err := json.Unmarshal(b, &hb); err != nil || hb.Target != h.Target || hb.Current != "3" {
		t.Errorf("TargetHistory round trip = %+v, %v", hb, err)
	}
}

// TestPreviousVersion: the one rule for the version a promotion replaced.
func TestPreviousVersion(t *testing.T) {
	t.Parallel()
	plan := func(current string) *Plan {
		return &Plan{Candidate: VersionRef{Version: "5"}, Targets: []TargetPlan{{Target: checks.AliasTarget("champion"), Current: current}}}
	}
	cases := []struct {
		name string
		p    *Plan
		o    *Outcome
		want string
	}{
		{"no plan", nil, nil, ""},
		{"unheld", plan(""), nil, ""},
		{"the plan's holder", plan("3"), nil, "3"},
		{"in place", plan("5"), nil, ""},
		{"what apply found wins", plan("3"), &Outcome{Previous: map[string]string{"@champion": "4"}}, "4"},
		{"apply found it in place", plan("3"), &Outcome{Previous: map[string]string{"@champion": "5"}}, ""},
	}
	for _, tc := range cases {
		if got := PreviousVersion(tc.p, tc.o); got != tc.want {
			t.Errorf("%s: PreviousVersion = %q, want %q", tc.name, got, tc.want)
		}
	}
}

const digestPolicy = `version: 1
rules:
  - name: gate
    applies-to: {alias: champion}
    metrics:
      val_auc: {min: 0.9, vs-champion: {min-improvement: 0.01}}
`

func planFor(t *testing.T, policy string, champion string) *Plan {
	t.Helper()
	reg := newMem("m", mlflow.ModelVersion{Version: "1"}, mlflow.ModelVersion{Version: "2"}, mlflow.ModelVersion{Version: "3"})
	withAUC(reg, "1", 0.91)
	withAUC(reg, "2", 0.92)
	withAUC(reg, "3", 0.95)
	if champion != "" {
		reg.setAlias("champion", champion)
	}
	p, err := checks.Parse("policy.yml", []byte(policy))
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	s := &Service{Reg: reg, Now: func() time.Time { return now }}
	plan, err := s.Plan(t.Context(), Request{Model: "m", Version: mustVersion("3"), Target: checks.Target{Alias: "champion"}, Policy: p})
	if err != nil {
		t.Fatal(err)
	}
	return plan
}

func TestPlanDigestStability(t *testing.T) {
	t.Parallel()
	base := planFor(t, digestPolicy, "1")
	if !strings.HasPrefix(base.Digest, "sha256:") || len(base.Digest) != len("sha256:")+64 {
		t.Fatalf("digest = %q", base.Digest)
	}
	if again := planFor(t, digestPolicy, "1"); again.Digest != base.Digest {
		t.Errorf("same inputs gave digests %s and %s", base.Digest, again.Digest)
	}
	if other := planFor(t, digestPolicy, "2"); other.Digest == base.Digest {
		t.Error("a different champion gave the same digest")
	}
	if other := planFor(t, strings.Replace(digestPolicy, "0.01", "0.02", 1), "1"); other.Digest == base.Digest {
		t.Error("a different policy gave the same digest")
	}
}

func TestApplyIsCompareAndSet(t *testing.T) {
	t.Parallel()
	reg := newMem("m", mlflow.ModelVersion{Version: "1"}, mlflow.ModelVersion{Version: "2"}, mlflow.ModelVersion{Version: "3"})
	reg.setAlias("champion", "1")
	s := &Service{Reg: reg}
	plan, err := s.Plan(t.Context(), Request{Model: "m", Version: mustVersion("3"), Target: checks.Target{Alias: "champion"}})
	if err != nil {
		t.Fatal(err)
	}
	reg.setAlias("champion", "2") // someone else moved it after the plan
	reg.ResetCalls()
	if _, err := s.Apply(t.Context(), plan); !errors.Is(err, ErrConflict) {
		t.Fatalf("err = %v, want ErrConflict", err)
	}
	for _, c := range reg.Calls() {
		if strings.HasPrefix(c, "Set") {
			t.Errorf("conflicting apply wrote %q", c)
		}
	}
}

func TestHistoryIsBounded(t *testing.T) {
	t.Parallel()
	var h []Record
	for i := 0; i < 1000; i++ {
		h = append(h, Record{Version: strconv.Itoa(1000 - i), PreviousVersion: strconv.Itoa(999 - i), At: "2026-01-01T00:00:00Z",
			By: strings.Repeat("x", 40), RunURL: "https://github.com/acme/models/actions/runs/123456789", PlanDigest: "sha256:" + strings.Repeat("a", 64)})
	}
	enc := mlflow.Rules{}.EncodeHistory(h)
	if len(enc) > mlflow.MaxHistoryChars {
		t.Fatalf("history is %d characters, over %d", len(enc), mlflow.MaxHistoryChars)
	}
	got, err := mlflow.Rules{}.ParseHistory(enc)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) < 100 || got[0].Version != "1000" {
		t.Errorf("kept %d entries, newest v%s; want the newest kept and many entries", len(got), got[0].Version)
	}
	if diff := cmp.Diff(h[:len(got)], got); diff != "" {
		t.Errorf("kept entries differ from the newest ones (-want +got):\n%s", diff)
	}
}
