package promote

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/mlreg/mlreg-action/internal/checks"
	"github.com/mlreg/mlreg-action/internal/mlflow"
)

// TestPlanReadsMetricsWhereTheyLive: the candidate's metrics come from its
// MLflow 3 logged model (per dataset, aggregated over steps), the
// champion's from its run (the latest value, or the history read page by
// page for an aggregate).
func TestPlanReadsMetricsWhereTheyLive(t *testing.T) {
	t.Parallel()
	const policy = `version: 1
rules:
  - name: gate
    applies-to: {alias: champion}
    metrics:
      val_auc: {min: 0.9, dataset: holdout}
      latency: {max: 40, aggregate: max, vs-champion: {max-regression: 0}}
      loss: {max: 0.5, vs-champion: {max-regression: 0.1}}
`
	pol, err := checks.Parse("p.yml", []byte(policy))
	if err != nil {
		t.Fatal(err)
	}
	reg := newMem("m",
		mlflow.ModelVersion{Version: "1", RunID: "r1"},
		mlflow.ModelVersion{Version: "2", RunID: "r2", Source: "models:/m-2"})
	reg.setAlias("champion", "1")
	reg.updateRun("r1", func(r *mlflow.Run) {
		r.Data.Metrics = []mlflow.Metric{{Key: "loss", Value: 0.25}, {Key: "latency", Value: 20}}
	})
	reg.SetMetricHistory("r1", "latency", []mlflow.Metric{
		{Key: "latency", Value: 10, Step: 0}, {Key: "latency", Value: 50, Step: 1}, {Key: "latency", Value: 20, Step: 2}})
	reg.setLogged("m-2", mlflow.LoggedModel{Data: mlflow.LoggedModelData{Metrics: []mlflow.Metric{
		{Key: "val_auc", Value: 0.5, DatasetName: "train"},
		{Key: "val_auc", Value: 0.95, DatasetName: "holdout"},
		{Key: "latency", Value: 38, Step: 1}, {Key: "latency", Value: 30, Step: 0},
		{Key: "loss", Value: 0.3},
	}}})
	s := &Service{Reg: reg, Now: clock(t0)}
	req := promoteTo("2")
	req.Policy = pol
	plan, err := s.Plan(t.Context(), req)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, c := range plan.Checks {
		got[c.Kind+" "+c.Name] = strings.Join([]string{c.Status, c.Value, c.Champion}, " ")
	}
	want := map[string]string{
		"metric val_auc (dataset holdout)": "pass 0.95 ",
		"metric latency (max)":             "pass 38 ",
		"vs-champion latency (max)":        "pass 38 50", // the champion's worst latency over its history
		"metric loss":                      "pass 0.3 ",
		"vs-champion loss":                 "pass 0.3 0.25",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("checks (-want +got):\n%s", diff)
	}
	if plan.Candidate.LoggedModelID != "m-2" || plan.Champion == nil || plan.Champion.Version != "1" {
		t.Errorf("plan candidate %+v champion %+v", plan.Candidate, plan.Champion)
	}
	if got := reg.callsOf("MetricHistoryPages"); len(got) != 1 {
		t.Errorf("metric history reads %v, want one (the champion's latency)", got)
	}
	if plan.InPlace() {
		t.Error("InPlace() = true for a move")
	}
	if diff := cmp.Diff([]string{"@champion: v1 → v2"}, plan.Moves()); diff != "" {
		t.Errorf("Moves (-want +got):\n%s", diff)
	}
}

func TestPlanMetricErrors(t *testing.T) {
	t.Parallel()
	const policy = "version: 1\nrules:\n  - name: gate\n    applies-to: {alias: champion}\n    metrics:\n      latency: {max: 40, aggregate: max}\n"
	pol, err := checks.Parse("p.yml", []byte(policy))
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name   string
		source string
		inject func(m *memRegistry)
		want   string
	}{
		{"logged model unreadable", "models:/m-2", func(m *memRegistry) { m.fail("GetLoggedModel", "", 0, errUnavailable) },
			"failed to fetch the metrics of candidate v2: "},
		{"metric history unreadable", "", func(m *memRegistry) { m.fail("MetricHistoryPages", "", 0, errUnavailable) },
			"failed to fetch the metrics of candidate v2: "},
		{"run unreadable", "", func(m *memRegistry) { m.fail("GetRun", "", 0, errUnavailable) },
			`failed to read "m" v2: `},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			reg := newMem("m", mlflow.ModelVersion{Version: "2", RunID: "r2", Source: tc.source})
			reg.setLogged("m-2", mlflow.LoggedModel{})
			tc.inject(reg)
			req := promoteTo("2")
			req.Policy = pol
			_, err := (&Service{Reg: reg, Now: clock(t0)}).Plan(t.Context(), req)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want %q", err, tc.want)
			}
		})
	}
}

func TestPlanInPlace(t *testing.T) {
	t.Parallel()
	reg := threeVersions()
	reg.setStage("1", mlflow.StageProduction)
	req := promoteTo("1")
	req.Target.Stage = "Production"
	plan, err := (&Service{Reg: reg}).Plan(t.Context(), req)
	if err != nil {
		t.Fatal(err)
	}
	if !plan.InPlace() {
		t.Error("InPlace() = false for a candidate holding both targets")
	}
	want := []string{"@champion: v1 (already in place)", "stage Production: v1 (already in place)"}
	if diff := cmp.Diff(want, plan.Moves()); diff != "" {
		t.Errorf("Moves (-want +got):\n%s", diff)
	}
}
