package mlflowtest

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mlreg/mlreg-action/internal/testing/testutil"
)

// RunPython runs script with the Python interpreter of the virtual environment that holds the mlflow binary
// (see EnvMLflow), so that tests can arrange data through MLflow's own client exactly as users log it. env
// holds extra KEY=VALUE entries, which win over the test's environment; pass
// "MLFLOW_TRACKING_URI="+srv.URL to reach a harness server. It returns the script's standard output and
// fails the test, with the script's standard error, when the script does not exit 0. It skips the test
// like RequireServer when there is no mlflow binary and CI is not true, and under -short. MLflow's
// telemetry is off.
func RunPython(ctx context.Context, t testing.TB, script string, env ...string) string {
	t.Helper()
	bin, err := mlflowBinary()
	if err != nil {
		if !testutil.Required() {
			t.Skipf("%s: %v", SkipMessage, err)
		}
		t.Fatalf("RunPython: %v", err)
	}
	python := filepath.Join(filepath.Dir(bin), "python")
	cmd := exec.CommandContext(ctx, python, "-c", script) //nolint:gosec // test helper runs the venv's Python
	cmd.Dir = t.TempDir()                                 // mlflow may write ./mlruns or ./mlartifacts
	cmd.Env = append(os.Environ(), "PYTHONUNBUFFERED=1", "PYTHONDONTWRITEBYTECODE=1", "MLFLOW_DISABLE_TELEMETRY=true",
		"GIT_PYTHON_REFRESH=quiet") // keep MLflow from probing Git, slow and irrelevant here
	cmd.Env = append(cmd.Env, env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("RunPython: %s: %v\n--- script ---\n%s\n--- stderr ---\n%s", python, err, script,
			strings.TrimSpace(stderr.String()))
	}
	return stdout.String()
}
