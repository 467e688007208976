package mlflowtest_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/mlreg/mlreg-action/internal/testing/mlflowtest"
	"github.com/mlreg/mlreg-action/internal/testing/testutil"
)

// TestPostgresBackend starts a throwaway PostgreSQL cluster and an MLflow server on it, and checks that the
// registry works there. It skips when PostgreSQL is not installed, unless CI=true.
func TestPostgresBackend(t *testing.T) {
	t.Parallel()
	mlflowtest.RequireServer(t, srv)
	if testing.Short() {
		t.Skip("starts PostgreSQL and a second MLflow server")
	}
	ctx := t.Context()
	pg, err := mlflowtest.StartPostgres(ctx)
	if errors.Is(err, mlflowtest.ErrNoPostgres) && !testutil.Required() {
		t.Skipf("no PostgreSQL: %v", err)
	}
	if err != nil {
		t.Fatalf("StartPostgres: %v", err)
	}
	t.Cleanup(func() {
		if err := pg.Stop(); err != nil {
			t.Errorf("Stop: %v", err)
		}
		if err := pg.Stop(); err != nil {
			t.Errorf("second Stop: %v", err)
		}
	})
	if want := "postgresql+psycopg2://postgres@127.0.0.1:"; !strings.HasPrefix(pg.URI("x"), want) || !strings.HasSuffix(pg.URI("x"), "/x") {
		t.Errorf("URI = %q, want %s<port>/x", pg.URI("x"), want)
	}
	if err := pg.CreateDatabase(ctx, "mlflow"); err != nil {
		t.Fatal(err)
	}
	if err := pg.CreateDatabase(ctx, "mlflow"); err == nil {
		t.Error("CreateDatabase twice: want an error")
	}

	s, err := mlflowtest.Start(ctx, mlflowtest.Options{BackendURI: pg.URI("mlflow")})
	if err != nil {
		t.Fatalf("start MLflow on PostgreSQL (is psycopg2-binary in the venv? run `make venv`): %v", err)
	}
	t.Cleanup(func() { _ = s.Stop() })
	f := s.Fixtures()
	name := mlflowtest.UniqueName(t, "pg")
	if err := f.CreateRegisteredModel(ctx, name); err != nil {
		t.Fatal(err)
	}
	v, err := f.CreateVersion(ctx, name, "s3://bucket/model", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.SetAlias(ctx, name, "champion", v); err != nil {
		t.Fatal(err)
	}
	if got, err := f.AliasVersion(ctx, name, "champion"); err != nil || got != v {
		t.Fatalf("AliasVersion = %q, %v; want %q", got, err, v)
	}
}
