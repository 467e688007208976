package mlflowtest

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// RunPython runs script with the Python interpreter of the MLflow installation the harness uses (the python
// next to the mlflow binary, so that `import mlflow` gets the same version as the server) and returns its
// standard output. MLFLOW_TRACKING_URI is trackingURI, so MLflow's own API in the script talks to the test
// server. A missing interpreter skips the test, as a missing server does (a failure on CI, see Main); a failing
// script fails the test with its standard error.
func RunPython(ctx context.Context, t testing.TB, trackingURI, script string) string {
	t.Helper()
	python, err := pythonBinary()
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("mlflowtest: %v (CI=true: a missing Python is a failure)", err)
		}
		t.Skipf("mlflowtest: %v", err)
	}
	cmd := exec.CommandContext(ctx, python, "-c", script) //nolint:gosec // the harness's own interpreter
	cmd.Dir = t.TempDir()                                 // anything the script writes to its cwd is removed
	cmd.Env = append(os.Environ(),
		"MLFLOW_TRACKING_URI="+trackingURI,
		"PYTHONUNBUFFERED=1",
		"PYTHONDONTWRITEBYTECODE=1",
		// Keep MLflow from probing for a Databricks or Git context, which is slow and irrelevant here.
		"GIT_PYTHON_REFRESH=quiet",
	)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("mlflowtest: python script failed: %v\n--- script ---\n%s\n--- stderr ---\n%s", err, script, stderr.String())
	}
	return stdout.String()
}

// pythonBinary returns the python in the directory of the mlflow binary (a virtual environment's bin/).
func pythonBinary() (string, error) {
	bin, err := mlflowBinary()
	if err != nil {
		return "", err
	}
	dir := filepath.Dir(bin)
	for _, name := range []string{"python", "python3"} {
		p := filepath.Join(dir, name)
		if info, err := os.Stat(p); err == nil && !info.IsDir() && info.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	return "", fmt.Errorf("failed to find python next to %s", bin)
}
