// Package testutil holds what the test-support packages and the tests share:
// finding the repository, golden files, and whether services are started.
package testutil

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// Short reports whether this is a test binary run with -short (go test
// -short, make unit): then no service is started, neither MLflow nor
// PostgreSQL nor a Python or tool of the virtual environments, even where
// they are installed. Outside a test binary (the benchmark) it is false.
func Short() bool { return testing.Testing() && flag.Parsed() && testing.Short() }

// Required reports whether a service the tests cannot have (no mlflow
// binary, no PostgreSQL, no venv Python, no tool of the tools venv) fails
// them rather than skips them: on CI (CI=true), except under -short, which
// starts none.
func Required() bool { return os.Getenv("CI") == "true" && !Short() }

// RepoRoot walks up from the working directory (a package directory under
// go test) to the directory holding go.mod.
func RepoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("failed to get working directory: %w", err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("failed to find the module root (go.mod)")
		}
		dir = parent
	}
}

// Golden compares got with the file at path, or rewrites the file when
// update is set (the tests' -update flag); rerun names the command that does.
func Golden(t testing.TB, path, got string, update bool, rerun string) {
	t.Helper()
	if update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("failed to read golden file (run %s): %v", rerun, err)
	}
	if diff := cmp.Diff(string(want), got); diff != "" {
		t.Errorf("%s differs (-want +got); run %s if the change is right:\n%s", path, rerun, diff)
	}
}
