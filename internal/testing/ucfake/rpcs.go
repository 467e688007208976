package ucfake

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/mlreg/mlreg-action/internal/testing/testutil"
)

// RPCs are the methods of MLflow's UcModelRegistryService that mlreg-action
// calls (internal/uc), and that MLflow's own Python client calls for the same
// operations; the trimmed description under testdata/uc holds exactly these,
// and the fake answers no other UC endpoint.
var RPCs = []string{
	"GetRegisteredModel",
	"GetModelVersion",
	"GetModelVersionByAlias",
	"SearchModelVersions",
	"SetRegisteredModelAlias",
	"DeleteRegisteredModelAlias",
	"SetRegisteredModelTag",
	"DeleteRegisteredModelTag",
	"SetModelVersionTag",
	"DeleteModelVersionTag",
	// The promotion lock: a registered model created and deleted around an
	// apply (see internal/uc LockName).
	"CreateRegisteredModel",
	"DeleteRegisteredModel",
}

// VenvPython returns the Python of the pinned MLflow virtual environment: the
// sibling of $MLREG_MLFLOW, else <repo>/.venv/bin/python. It skips the test
// when there is none, or fails it on CI (CI=true), where the venv is required;
// -short runs no Python and skips it.
func VenvPython(t testing.TB) string {
	t.Helper()
	if testing.Short() {
		t.Skip("go test -short runs no Python")
	}
	bin := os.Getenv("MLREG_MLFLOW")
	if bin == "" {
		root, err := testutil.RepoRoot()
		if err != nil {
			t.Fatal(err)
		}
		bin = filepath.Join(root, ".venv", "bin", "mlflow")
	}
	py := filepath.Join(filepath.Dir(bin), "python")
	if _, err := os.Stat(py); err != nil {
		if testutil.Required() {
			t.Fatalf("no MLflow venv Python at %s (CI=true, so this is a failure): %v", py, err)
		}
		t.Skipf("no MLflow venv Python at %s (run `make venv` or set MLREG_MLFLOW): %v", py, err)
	}
	return py
}
