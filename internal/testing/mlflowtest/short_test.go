package mlflowtest_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mlreg/mlreg-action/internal/testing/mlflowtest"
	"github.com/mlreg/mlreg-action/internal/testing/pytools"
	"github.com/mlreg/mlreg-action/internal/testing/s3test"
	"github.com/mlreg/mlreg-action/internal/testing/testutil"
	"github.com/mlreg/mlreg-action/internal/testing/ucfake"
)

// envShortChild marks the run of this test binary that TestShortStartsNoService starts.
const envShortChild = "MLFLOWTEST_SHORT_CHILD"

// TestShortStartsNoService: go test -short (make unit) starts no MLflow
// server, no PostgreSQL, no Python and no tool of the tools venv (SeaweedFS,
// model_signing), even where they are installed and on CI (CI=true), where
// a missing one fails a full run. It runs this test binary again with
// -test.short, CI=true, and an mlflow binary, PostgreSQL binaries and
// tools that leave a mark when run: the run passes and leaves no mark.
func TestShortStartsNoService(t *testing.T) {
	t.Parallel()
	if os.Getenv(envShortChild) != "" {
		t.Skip("the run this test starts")
	}
	dir := t.TempDir()
	mark := filepath.Join(dir, "started")
	fake := "#!/bin/sh\necho \"$0 $*\" >> '" + mark + "'\nexit 1\n"
	if err := os.Mkdir(filepath.Join(dir, "bin"), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"mlflow", "python", "initdb", "pg_ctl", "createdb", "bin/weed", "bin/model_signing", "bin/python"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(fake), 0o755); err != nil { //nolint:gosec // an executable fake
			t.Fatal(err)
		}
	}
	cmd := exec.CommandContext(t.Context(), os.Args[0], "-test.run=^TestShortChild$", "-test.short", "-test.v", "-test.count=1")
	cmd.Env = append(os.Environ(), envShortChild+"=1", "CI=true", mlflowtest.EnvMLflow+"="+filepath.Join(dir, "mlflow"),
		mlflowtest.EnvPostgresBin+"="+dir, pytools.EnvVenv+"="+dir)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	if err != nil {
		t.Errorf("go test -short with CI=true failed: %v\n%s", err, out.String())
	}
	if b, err := os.ReadFile(mark); err == nil {
		t.Errorf("go test -short started:\n%s", b)
	}
	if !strings.Contains(out.String(), "--- PASS: TestShortChild") {
		t.Errorf("the -short run did not pass TestShortChild:\n%s", out.String())
	}
}

// TestShortChild is the -short run of TestShortStartsNoService: every way a
// test gets a service finds none, and none fails the run.
func TestShortChild(t *testing.T) {
	t.Parallel()
	if os.Getenv(envShortChild) == "" {
		t.Skip("run by TestShortStartsNoService")
	}
	if srv != nil {
		t.Errorf("Main started a server under -short: %s", srv.URL)
	}
	if testutil.Required() {
		t.Error("Required() is true under -short")
	}
	s, err := mlflowtest.Start(t.Context(), mlflowtest.Options{})
	if !errors.Is(err, mlflowtest.ErrNoMLflow) {
		t.Errorf("Start: %v, %v; want ErrNoMLflow", s, err)
	}
	pg, err := mlflowtest.StartPostgres(t.Context())
	if !errors.Is(err, mlflowtest.ErrNoPostgres) {
		t.Errorf("StartPostgres: %v, %v; want ErrNoPostgres", pg, err)
	}
	s3, err := s3test.Start(t.Context())
	if !errors.Is(err, pytools.ErrMissing) {
		t.Errorf("s3test.Start: %v, %v; want pytools.ErrMissing", s3, err)
	}
	for name, skips := range map[string]func(t *testing.T){
		"RequireServer": func(t *testing.T) { mlflowtest.RequireServer(t, srv) },
		"RunPython":     func(t *testing.T) { mlflowtest.RunPython(context.Background(), t, "print(1)") },
		"pytools":       func(t *testing.T) { pytools.Require(t, "model_signing") },
		"ucfake":        func(t *testing.T) { ucfake.VenvPython(t) },
	} {
		t.Run(name, func(t *testing.T) {
			defer func() {
				if !t.Skipped() {
					t.Errorf("%s did not skip under -short", name)
				}
			}()
			skips(t)
		})
	}
}
