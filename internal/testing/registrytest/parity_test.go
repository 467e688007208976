package registrytest_test

import (
	"fmt"
	"os"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/mlreg/mlreg-action/internal/mlflow"
	"github.com/mlreg/mlreg-action/internal/registry"
	"github.com/mlreg/mlreg-action/internal/testing/memregistry"
	"github.com/mlreg/mlreg-action/internal/testing/mlflowtest"
	"github.com/mlreg/mlreg-action/internal/testing/registrytest"
	"github.com/mlreg/mlreg-action/internal/testing/ucfake"
	"github.com/mlreg/mlreg-action/internal/uc"
)

var srv *mlflowtest.Server

func TestMain(m *testing.M) { os.Exit(mlflowtest.Main(m, &srv)) }

var seq atomic.Int64

// unique is a model name of its own for one test, in the form the rules take.
func unique(t *testing.T, catalog bool) string {
	name := fmt.Sprintf("parity-%d-%s", seq.Add(1), strings.NewReplacer("/", "-", " ", "-").Replace(t.Name()))
	if catalog {
		return "main.ml." + strings.ToLower(name)
	}
	return name
}

// The in-memory registry under MLflow's rules, the fake of the unit tests.
func TestMemoryRegistryWithMLflowRules(t *testing.T) {
	t.Parallel()
	registrytest.Run(t, func(t *testing.T) *registrytest.Harness { return memHarness(t, mlflow.Rules{}, false) })
}

// The in-memory registry under Unity Catalog's rules.
func TestMemoryRegistryWithUnityCatalogRules(t *testing.T) {
	t.Parallel()
	registrytest.Run(t, func(t *testing.T) *registrytest.Harness { return memHarness(t, uc.Rules{}, true) })
}

func memHarness(t *testing.T, rules registry.Rules, catalog bool) *registrytest.Harness {
	r := memregistry.New(rules)
	return &registrytest.Harness{
		Backend: r,
		Absent:  unique(t, catalog),
		NewModel: func(t *testing.T, n int) string {
			name := r.CreateModel(unique(t, catalog))
			for range n {
				r.AddVersion(name, registry.ModelVersion{Source: "s3://bucket/model"})
			}
			return name
		},
	}
}

// The real MLflow server (integration: skipped without it, unless CI=true).
func TestMLflowServer(t *testing.T) {
	t.Parallel()
	s := mlflowtest.RequireServer(t, srv)
	registrytest.Run(t, func(t *testing.T) *registrytest.Harness {
		c, err := mlflow.New(mlflow.Options{TrackingURI: s.URL})
		if err != nil {
			t.Fatal(err)
		}
		fx := s.Fixtures()
		return &registrytest.Harness{
			Backend: mlflow.NewRegistry(c),
			Absent:  unique(t, false),
			NewModel: func(t *testing.T, n int) string {
				name := unique(t, false)
				if err := fx.CreateRegisteredModel(t.Context(), name); err != nil {
					t.Fatal(err)
				}
				for range n {
					if _, err := fx.CreateVersion(t.Context(), name, "s3://bucket/model", "", nil); err != nil {
						t.Fatal(err)
					}
				}
				return name
			},
		}
	})
}

// Unity Catalog's fake (checked against MLflow's UC protos) behind
// uc.Registry, its tracking calls forwarded to the real server when there
// is one.
func TestUnityCatalogFake(t *testing.T) {
	t.Parallel()
	registrytest.Run(t, func(t *testing.T) *registrytest.Harness {
		opts := ucfake.Options{}
		if srv != nil {
			opts.TrackingURL = srv.URL
		}
		f := ucfake.New(t, opts)
		c, err := mlflow.New(mlflow.Options{TrackingURI: f.URL(), Token: f.Token(), MaxRetries: -1})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			if v := f.Violations(); len(v) > 0 {
				t.Errorf("requests that broke MLflow's UC proto: %q", v)
			}
		})
		return &registrytest.Harness{
			Backend:    uc.NewRegistry(uc.New(c), c, f.URL()),
			Absent:     unique(t, true),
			NoTracking: srv == nil,
			NewModel: func(t *testing.T, n int) string {
				name := unique(t, true)
				for range n {
					f.CreateModelVersion(name, ucfake.Version{Source: "s3://bucket/model"})
				}
				return name
			},
		}
	})
}
