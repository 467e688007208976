package promote

import (
	"encoding/json"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/mlreg/mlreg-action/internal/checks"
	"github.com/mlreg/mlreg-action/internal/mlflow"
)

// MLflow's SQL store answers 0.0 for a NaN logged on a logged model, and
// "NaN" for the same point in the run's history: the metric source reads
// such a 0 as NaN, and leaves every other value alone.
func TestLoggedModelNaNSentAsZero(t *testing.T) {
	t.Parallel()
	nan := mlflow.MetricValue(math.NaN())
	lm := func(key string, v mlflow.MetricValue, ts, step int64, dataset string) mlflow.Metric {
		return mlflow.Metric{Key: key, Value: v, Timestamp: ts, Step: step, DatasetName: dataset, ModelID: "m-1", RunID: "r1"}
	}
	reg := newMem("m", mlflow.ModelVersion{Version: "1", RunID: "r1", Source: "models:/m-1", Status: "READY"})
	reg.AddLoggedModel(mlflow.LoggedModel{Info: mlflow.LoggedModelInfo{ModelID: "m-1", SourceRunID: "r1"},
		Data: mlflow.LoggedModelData{Metrics: []mlflow.Metric{
			lm("loss", 0, 100, 0, "holdout"), // NaN on the run
			lm("loss", 0.2, 100, 0, "train"),
			lm("acc", 0, 200, 1, "holdout"), // a real 0: 0 on the run
			lm("f1", 0, 300, 0, "holdout"),  // NaN and 0 on the run at that point: cannot tell, NaN
			lm("f1", 0, 300, 0, "train"),
			lm("auc", 0.9, 400, 0, "holdout"), // no 0: the run is not read
			lm("mae", 0, 500, 0, "holdout"),   // NaN on the run at another step: a real 0
		}}})
	for key, h := range map[string][]mlflow.Metric{
		"loss": {{Key: "loss", Value: nan, Timestamp: 100}, {Key: "loss", Value: 0.2, Timestamp: 100}},
		"acc":  {{Key: "acc", Value: 0, Timestamp: 200, Step: 1}},
		"f1":   {{Key: "f1", Value: 0, Timestamp: 300}, {Key: "f1", Value: nan, Timestamp: 300}},
		"mae":  {{Key: "mae", Value: 0, Timestamp: 500}, {Key: "mae", Value: nan, Timestamp: 500, Step: 1}},
	} {
		reg.SetMetricHistory("r1", key, h)
	}
	src := &metricSource{reg: reg, mv: reg.version("1")}
	cases := []struct {
		q     checks.MetricQuery
		want  float64
		reads bool // the run's history is read
	}{
		{checks.MetricQuery{Key: "loss", Dataset: "holdout"}, math.NaN(), true},
		{checks.MetricQuery{Key: "loss", Dataset: "train"}, 0.2, false},
		{checks.MetricQuery{Key: "loss", Aggregate: "max"}, math.NaN(), true},
		{checks.MetricQuery{Key: "acc", Dataset: "holdout"}, 0, true},
		{checks.MetricQuery{Key: "f1", Dataset: "train"}, math.NaN(), true},
		{checks.MetricQuery{Key: "auc"}, 0.9, false},
		{checks.MetricQuery{Key: "mae"}, 0, true},
	}
	for _, tc := range cases {
		reg.ResetCalls()
		got, found, err := src.Metric(t.Context(), tc.q)
		if err != nil || !found {
			t.Fatalf("Metric(%+v) = %v, %v, %v", tc.q, got, found, err)
		}
		if diff := cmp.Diff(tc.want, got, cmpopts.EquateNaNs()); diff != "" {
			t.Errorf("Metric(%+v) (-want +got):\n%s", tc.q, diff)
		}
		var want []string
		if tc.reads {
			want = []string{"MetricHistoryPages r1 " + tc.q.Key}
		}
		if diff := cmp.Diff(want, reg.callsOf("MetricHistoryPages")); diff != "" {
			t.Errorf("Metric(%+v) calls (-want +got):\n%s", tc.q, diff)
		}
	}
	// The cached logged model keeps what the server sent.
	if lm, _ := reg.LoggedModel("m-1"); lm.Data.Metrics[0].Value != 0 {
		t.Errorf("logged model's metric changed to %v", lm.Data.Metrics[0].Value)
	}
}

// A plan whose evidence holds NaN and ±Inf has a digest and marshals to
// JSON (the report file): the values are kept as the strings reports show.
func TestPlanWithNonFiniteMetrics(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		cand, champ          float64
		shown, shownChampion string
	}{
		{math.NaN(), 0.91, "NaN", "0.91"},
		{0.95, math.Inf(1), "0.95", "+Inf"},
		{math.Inf(-1), math.NaN(), "-Inf", "NaN"},
	} {
		reg := newMem("m", mlflow.ModelVersion{Version: "1"}, mlflow.ModelVersion{Version: "3"})
		withAUC(reg, "1", tc.champ)
		withAUC(reg, "3", tc.cand)
		reg.setAlias("champion", "1")
		p, err := checks.Parse("policy.yml", []byte(digestPolicy))
		if err != nil {
			t.Fatal(err)
		}
		s := &Service{Reg: reg, Now: func() time.Time { return time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC) }}
		plan, err := s.Plan(t.Context(), Request{Model: "m", Version: mustVersion("3"), Target: checks.Target{Alias: "champion"}, Policy: p})
		if err != nil {
			t.Fatalf("Plan: %v", err)
		}
		if plan.Verdict != checks.VerdictFail || !strings.HasPrefix(plan.Digest, "sha256:") {
			t.Errorf("%s vs %s: verdict %s, digest %q; want fail and a digest", tc.shown, tc.shownChampion, plan.Verdict, plan.Digest)
		}
		b, err := json.Marshal(plan)
		if err != nil {
			t.Fatalf("json.Marshal(plan): %v", err)
		}
		vs := plan.Checks[len(plan.Checks)-1]
		if vs.Kind != checks.KindVsChampion || vs.Value != tc.shown || vs.Champion != tc.shownChampion || vs.Status != checks.StatusFail {
			t.Errorf("vs-champion check = %+v, want value %s, champion %s, failed", vs, tc.shown, tc.shownChampion)
		}
		if want := `"value":"` + tc.shown + `"`; !strings.Contains(string(b), want) {
			t.Errorf("plan JSON lacks %s: %s", want, b)
		}
	}
}
