package mlflowtest_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/mlreg/mlreg-action/internal/testing/mlflowtest"
)

// RunPython runs a script with the venv's Python and MLflow, with the given
// environment, and returns its output: here it logs NaN and infinities with
// mlflow.log_metric, and the server answers them as MLflow's docs say.
func TestRunPython(t *testing.T) {
	t.Parallel()
	s := mlflowtest.RequireServer(t, srv)
	ctx := t.Context()
	f := s.Fixtures()
	exp, err := f.CreateExperiment(ctx, mlflowtest.UniqueName(t, "py"))
	if err != nil {
		t.Fatal(err)
	}
	out := mlflowtest.RunPython(ctx, t, `
import os, mlflow
with mlflow.start_run(experiment_id=os.environ["EXP"]) as run:
    mlflow.log_metric("nan", float("nan"))
    mlflow.log_metric("inf", float("inf"))
    mlflow.log_metric("ninf", float("-inf"))
print("run", run.info.run_id)
`, "MLFLOW_TRACKING_URI="+s.URL, "EXP="+exp)
	var runID string
	for _, line := range strings.Split(out, "\n") {
		if id, ok := strings.CutPrefix(line, "run "); ok {
			runID = id
		}
	}
	if runID == "" {
		t.Fatalf("no run id in the output %q", out)
	}
	run, err := f.GetRun(ctx, runID)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	data, _ := run["data"].(map[string]any)
	metrics, _ := data["metrics"].([]any)
	for _, m := range metrics {
		m, _ := m.(map[string]any)
		got[fmt.Sprint(m["key"])] = fmt.Sprint(m["value"])
	}
	// The SQL store keeps ±inf as ±max float64.
	want := map[string]string{"nan": "NaN", "inf": "1.7976931348623157e+308", "ninf": "-1.7976931348623157e+308"}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("metric %s = %s, want %s (all: %v)", k, got[k], v, got)
		}
	}
}

// fatalRecorder records Fatalf instead of stopping the test.
type fatalRecorder struct {
	testing.TB
	fatal string
}

func (r *fatalRecorder) Fatalf(format string, args ...any) { r.fatal = fmt.Sprintf(format, args...) }

// A script that fails fails the test, showing the script and its error.
func TestRunPythonFailure(t *testing.T) {
	t.Parallel()
	mlflowtest.RequireServer(t, srv)
	rec := &fatalRecorder{TB: t}
	mlflowtest.RunPython(t.Context(), rec, "import sys\nprint('to stderr', file=sys.stderr)\nsys.exit(3)")
	for _, want := range []string{"exit status 3", "sys.exit(3)", "--- stderr ---\nto stderr"} {
		if !strings.Contains(rec.fatal, want) {
			t.Errorf("Fatalf message %q does not contain %q", rec.fatal, want)
		}
	}
}
