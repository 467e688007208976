package action_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mlreg/mlreg-action/internal/testing/mlflowtest"
)

// NaN and infinite metrics, logged by MLflow's own Python client, as a
// diverged epoch logs them. The server sends NaN as "NaN" and, from its SQL
// store, ±inf as ±1.7976931348623157e308; a NaN logged on a logged model
// comes back from that model as 0.

// pyMetric is one mlflow.log_metric call. Value is what Python's float()
// reads: "nan", "inf", "-inf" or a number.
type pyMetric struct {
	Key     string `json:"key"`
	Value   string `json:"value"`
	Step    int    `json:"step"`
	Dataset string `json:"dataset,omitempty"` // logged-model metrics only
}

// pyRun is a run and, when Logged is set, a logged model of the run whose
// metrics are logged with model_id (the version's source is then the model).
type pyRun struct {
	Metrics []pyMetric `json:"metrics"`
	Logged  []pyMetric `json:"logged,omitempty"`
}

// logWithPython logs the runs with mlflow.log_metric (MlflowClient.log_metric
// for a metric with a dataset) and prints their run and model ids.
const logWithPython = `
import json, os
import mlflow
from mlflow import MlflowClient

spec = json.loads(os.environ["MLREG_PY_SPEC"])
exp = spec["experiment_id"]
client = MlflowClient()
out = []
for r in spec["runs"]:
    model_id = ""
    with mlflow.start_run(experiment_id=exp) as run:
        for m in r["metrics"] or []:
            mlflow.log_metric(m["key"], float(m["value"]), step=m["step"])
        if r.get("logged"):
            lm = mlflow.initialize_logged_model(name="model", source_run_id=run.info.run_id, experiment_id=exp)
            model_id = lm.model_id
            for m in r["logged"]:
                if m.get("dataset"):
                    client.log_metric(run.info.run_id, m["key"], float(m["value"]), step=m["step"],
                                      model_id=model_id, dataset_name=m["dataset"], dataset_digest="0123abcd")
                else:
                    mlflow.log_metric(m["key"], float(m["value"]), step=m["step"], model_id=model_id)
            mlflow.finalize_logged_model(model_id, "READY")
    out.append({"run_id": run.info.run_id, "model_id": model_id})
print("MLREG_RESULT " + json.dumps(out))
`

// newPyModel creates a registered model with one version per run, in order;
// the runs' metrics are logged by MLflow's Python client.
func newPyModel(t *testing.T, runs ...pyRun) (string, *mlflowtest.Fixtures) {
	t.Helper()
	s := mlflowtest.RequireServer(t, srv)
	f := s.Fixtures()
	ctx := t.Context()
	name := mlflowtest.UniqueName(t, "nf")
	exp, err := f.CreateExperiment(ctx, name)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.CreateRegisteredModel(ctx, name); err != nil {
		t.Fatal(err)
	}
	spec, err := json.Marshal(map[string]any{"experiment_id": exp, "runs": runs})
	if err != nil {
		t.Fatal(err)
	}
	out := mlflowtest.RunPython(ctx, t, logWithPython, "MLFLOW_TRACKING_URI="+s.URL, "MLREG_PY_SPEC="+string(spec))
	var ids []struct {
		RunID   string `json:"run_id"`
		ModelID string `json:"model_id"`
	}
	for _, line := range strings.Split(out, "\n") {
		if js, ok := strings.CutPrefix(line, "MLREG_RESULT "); ok {
			if err := json.Unmarshal([]byte(js), &ids); err != nil {
				t.Fatalf("Python result %q: %v", js, err)
			}
		}
	}
	if len(ids) != len(runs) {
		t.Fatalf("Python logged %d runs, want %d; output:\n%s", len(ids), len(runs), out)
	}
	for _, id := range ids {
		if id.ModelID != "" {
			_, err = f.CreateVersion(ctx, name, "models:/"+id.ModelID, id.RunID, nil)
		} else {
			_, err = f.CreateRunVersion(ctx, name, id.RunID, nil)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	return name, f
}

func m(key, value string) pyMetric { return pyMetric{Key: key, Value: value} }

// history is one metric logged at steps 0, 1, ...
func history(key string, values ...string) []pyMetric {
	out := make([]pyMetric, len(values))
	for i, v := range values {
		out[i] = pyMetric{Key: key, Value: v, Step: i}
	}
	return out
}

func policyFile(body string) map[string]string {
	return map[string]string{".github/mlreg-policy.yml": "version: 1\nrules:\n  - name: gate\n    applies-to: {alias: champion}\n" + body}
}

// reportFile reads the JSON report the run wrote (output report-path).
func reportFile(t *testing.T, res result) string {
	t.Helper()
	p := res.outputs["report-path"]
	if p == "" {
		t.Fatalf("no report-path output: %v", res.outputs)
	}
	b, err := os.ReadFile(filepath.Join(res.dir, p))
	if err != nil {
		t.Fatal(err)
	}
	if !json.Valid(b) {
		t.Fatalf("report %s is not JSON:\n%s", p, b)
	}
	return string(b)
}

func wantAll(t *testing.T, what, got string, wants ...string) {
	t.Helper()
	for _, w := range wants {
		if !strings.Contains(got, w) {
			t.Errorf("%s lacks %q:\n%s", what, w, got)
		}
	}
}

const aucGate = "    metrics:\n      val_auc:\n        min: 0.9\n        vs-champion: {min-improvement: 0.002}\n"

// (a) A diverged epoch in a metric the policy does not use changes nothing.
func TestNonFiniteMetricNotInPolicyPromotes(t *testing.T) {
	t.Parallel()
	metrics := append(history("train_loss", "0.7", "nan", "nan"), m("val_auc", "0.95"), m("grad_norm", "inf"), m("log_lr", "-inf"))
	model, f := newPyModel(t, pyRun{Metrics: metrics})
	res := runAction(t, promoteInputs(model), policyFile(aucGate))
	if res.code != 0 {
		t.Fatalf("exit %d, want 0\nstdout:\n%s\nstderr:\n%s", res.code, res.stdout, res.stderr)
	}
	if got := aliasOf(t, f, model, "champion"); got != "1" {
		t.Errorf("@champion = %q, want 1", got)
	}
	wantAll(t, "summary", res.summary, "0.95")
}

// (b) A NaN on the champion's run, in a metric the policy does not use,
// does not block its challengers.
func TestNonFiniteMetricOnChampionNotInPolicy(t *testing.T) {
	t.Parallel()
	model, f := newPyModel(t,
		pyRun{Metrics: append(history("train_loss", "0.5", "nan"), m("val_auc", "0.91"), m("grad_norm", "inf"))},
		pyRun{Metrics: []pyMetric{m("val_auc", "0.95"), m("train_loss", "0.2")}},
	)
	if err := f.SetAlias(t.Context(), model, "champion", "1"); err != nil {
		t.Fatal(err)
	}
	res := runAction(t, promoteInputs(model, "version", "2"), policyFile(aucGate))
	if res.code != 0 {
		t.Fatalf("exit %d, want 0\nstdout:\n%s\nstderr:\n%s", res.code, res.stdout, res.stderr)
	}
	if got := aliasOf(t, f, model, "champion"); got != "2" {
		t.Errorf("@champion = %q, want 2", got)
	}
	wantAll(t, "summary", res.summary, "0.91", "+0.04")
}

// (c) A NaN or infinite value that a check uses fails it (status 1), and
// every report shows it; on the champion's side too.
func TestNonFiniteMetricInPolicyExits1(t *testing.T) {
	t.Parallel()
	model, f := newPyModel(t,
		pyRun{Metrics: []pyMetric{m("val_auc", "0.9"), m("val_loss", "0.2")}},
		pyRun{Metrics: []pyMetric{m("val_auc", "nan"), m("val_loss", "inf")}},
		pyRun{Metrics: []pyMetric{m("val_auc", "0.95"), m("val_loss", "0.1")}},
	)
	ctx := t.Context()
	if err := f.SetAlias(ctx, model, "champion", "1"); err != nil {
		t.Fatal(err)
	}
	policy := policyFile(aucGate + "      val_loss: {max: 0.25}\n")
	res := runAction(t, promoteInputs(model, "version", "2"), policy)
	if res.code != 1 {
		t.Fatalf("exit %d, want 1\nstdout:\n%s\nstderr:\n%s", res.code, res.stdout, res.stderr)
	}
	if got := aliasOf(t, f, model, "champion"); got != "1" {
		t.Errorf("@champion = %q, want 1 (unchanged)", got)
	}
	if res.outputs["verdict"] != "fail" {
		t.Errorf("verdict = %q, want fail", res.outputs["verdict"])
	}
	wantAll(t, "annotation", res.stdout, "::error", "val_auc is NaN", "val_loss is +Inf")
	wantAll(t, "summary", res.summary, "| NaN |", "| \\+Inf |", "fail: val\\_auc is NaN", "fail: val\\_loss is \\+Inf")
	wantAll(t, "report file", reportFile(t, res), `"value": "NaN"`, `"value": "+Inf"`, `"reason": "val_auc is NaN"`)

	// The champion's NaN blocks a challenger that the check compares with it.
	if err := f.SetAlias(ctx, model, "champion", "2"); err != nil {
		t.Fatal(err)
	}
	res = runAction(t, promoteInputs(model, "version", "3"), policy)
	if res.code != 1 {
		t.Fatalf("champion NaN: exit %d, want 1\nstdout:\n%s\nstderr:\n%s", res.code, res.stdout, res.stderr)
	}
	wantAll(t, "annotation", res.stdout, "champion v2 val_auc is NaN")
	wantAll(t, "summary", res.summary, "| 0.95 | &gt;= 0.9 |", "| NaN |", "champion v2 val\\_auc is NaN")
	if got := aliasOf(t, f, model, "champion"); got != "2" {
		t.Errorf("@champion = %q, want 2 (unchanged)", got)
	}
}

// (d) Aggregates over metrics/get-history: a NaN makes max and mean NaN,
// +Inf makes a mean +Inf; last and min read past them.
func TestNonFiniteMetricInHistory(t *testing.T) {
	t.Parallel()
	metrics := append(history("latency_p95_ms", "30", "nan", "20"), history("val_loss", "0.3", "inf", "0.2")...)
	model, f := newPyModel(t, pyRun{Metrics: metrics})
	res := runAction(t, promoteInputs(model), policyFile(
		"    metrics:\n      latency_p95_ms: {max: 40, aggregate: max}\n      val_loss: {max: 0.5, aggregate: mean}\n"))
	if res.code != 1 {
		t.Fatalf("exit %d, want 1\nstdout:\n%s\nstderr:\n%s", res.code, res.stdout, res.stderr)
	}
	wantAll(t, "summary", res.summary,
		"max of latency\\_p95\\_ms is NaN \\(its history holds a NaN\\)",
		"mean of val\\_loss is \\+Inf \\(its history holds \\+Inf\\)")
	wantAll(t, "report file", reportFile(t, res), `"value": "NaN"`, `"value": "+Inf"`)
	if got := aliasOf(t, f, model, "champion"); got != "" {
		t.Errorf("@champion = %q, want unset", got)
	}

	res = runAction(t, promoteInputs(model), policyFile(
		"    metrics:\n      latency_p95_ms: {max: 40}\n      val_loss: {max: 0.25, aggregate: min}\n"))
	if res.code != 0 {
		t.Fatalf("last and min: exit %d, want 0\nstdout:\n%s\nstderr:\n%s", res.code, res.stdout, res.stderr)
	}
	wantAll(t, "summary", res.summary, "| 20 |", "| 0.2 |")
}

// (e) Logged-model metrics: the server sends a logged model's NaN as 0.0;
// it still fails, while a real 0 and an unused NaN change nothing.
func TestNonFiniteLoggedModelMetrics(t *testing.T) {
	t.Parallel()
	model, f := newPyModel(t, pyRun{
		Metrics: []pyMetric{m("val_auc", "0.5")}, // the run's own value; the logged model's wins
		Logged: []pyMetric{
			{Key: "val_auc", Value: "0.97", Dataset: "holdout"},
			{Key: "val_loss", Value: "nan", Dataset: "holdout"},
			{Key: "errors", Value: "0", Dataset: "holdout"},
			{Key: "latency_p95_ms", Value: "inf"},
		},
	})
	res := runAction(t, promoteInputs(model, "command", "validate"), policyFile(
		"    metrics:\n      val_auc: {min: 0.95, dataset: holdout}\n      errors: {max: 0, dataset: holdout}\n"))
	if res.code != 0 {
		t.Fatalf("exit %d, want 0\nstdout:\n%s\nstderr:\n%s", res.code, res.stdout, res.stderr)
	}
	wantAll(t, "summary", res.summary, "| 0.97 |", "| 0 | &lt;= 0 |")

	res = runAction(t, promoteInputs(model), policyFile(
		"    metrics:\n      val_loss: {max: 0.25, dataset: holdout}\n      latency_p95_ms: {max: 40}\n"))
	if res.code != 1 {
		t.Fatalf("exit %d, want 1\nstdout:\n%s\nstderr:\n%s", res.code, res.stdout, res.stderr)
	}
	wantAll(t, "summary", res.summary, "val\\_loss \\(dataset holdout\\) is NaN", "latency\\_p95\\_ms is \\+Inf")
	wantAll(t, "report file", reportFile(t, res), `"value": "NaN"`, `"value": "+Inf"`)
	if got := aliasOf(t, f, model, "champion"); got != "" {
		t.Errorf("@champion = %q, want unset", got)
	}
}
