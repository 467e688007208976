package mlflowtest

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
)

// Fleet is a set of registered models for desired-state (manifest) tests:
// each has v1 (val_auc 0.86) holding @champion and v2 (val_auc 0.90)
// holding @challenger, and the first Stages models also have v1 in
// Production.
type Fleet struct {
	F      *Fixtures // the server's fixtures; nil for a fleet made with other fixtures (NewFleetWith)
	Models []string
	Stages int
}

// FleetFixtures is what NewFleetWith makes a fleet with: *Fixtures, or the
// fixtures of another registry with the same methods (memregistry's).
type FleetFixtures interface {
	CreateExperiment(ctx context.Context, name string) (string, error)
	CreateRun(ctx context.Context, experimentID string, r RunSpec) (string, error)
	CreateRegisteredModel(ctx context.Context, name string) error
	CreateRunVersion(ctx context.Context, model, runID string, tags map[string]string) (string, error)
	SetAlias(ctx context.Context, model, alias, version string) error
	Transition(ctx context.Context, model, version, stage string) error
}

// FleetPolicy gates a fleet's @champion on val_auc (no regression against
// the holder), @challenger on a finished run, and Production on val_auc:
// every change of Manifest passes it.
const FleetPolicy = `version: 1
rules:
  - name: champion gate
    applies-to: {alias: champion}
    metrics:
      val_auc:
        min: 0.85
        vs-champion: {min-improvement: 0.0}
  - name: challenger
    applies-to: {alias: challenger}
    run: {status: FINISHED}
  - name: production
    applies-to: {stage: Production}
    metrics:
      val_auc: {min: 0.85}
`

// NewFleet creates n such models on s, 8 at a time.
func NewFleet(t testing.TB, s *Server, n, stages int) *Fleet {
	t.Helper()
	f := s.Fixtures()
	fx := NewFleetWith(t, f, n, stages)
	fx.F = f
	return fx
}

// NewFleetWith creates n such models with f, 8 at a time.
func NewFleetWith(t testing.TB, f FleetFixtures, n, stages int) *Fleet {
	t.Helper()
	ctx := t.Context()
	exp, err := f.CreateExperiment(ctx, UniqueName(t, "fleet"))
	if err != nil {
		t.Fatal(err)
	}
	runs := make([]string, 2)
	for i, auc := range []float64{0.86, 0.90} {
		if runs[i], err = f.CreateRun(ctx, exp, RunSpec{Name: fmt.Sprintf("v%d", i+1), Metrics: map[string]float64{"val_auc": auc}}); err != nil {
			t.Fatal(err)
		}
	}
	base := UniqueName(t, "fleet")
	fx := &Fleet{Stages: stages}
	for i := range n {
		fx.Models = append(fx.Models, fmt.Sprintf("%s-%02d", base, i))
	}
	err = fx.Each(ctx, 8, func(ctx context.Context, i int, m string) error {
		if err := f.CreateRegisteredModel(ctx, m); err != nil {
			return err
		}
		for want, run := range runs {
			v, err := f.CreateRunVersion(ctx, m, run, nil)
			if err != nil {
				return err
			}
			if v != fmt.Sprint(want+1) {
				return fmt.Errorf("version %s, want %d", v, want+1)
			}
		}
		if err := f.SetAlias(ctx, m, "champion", "1"); err != nil {
			return err
		}
		if err := f.SetAlias(ctx, m, "challenger", "2"); err != nil {
			return err
		}
		if i < stages {
			return f.Transition(ctx, m, "1", "Production")
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return fx
}

// Each runs fn for every model, workers at once, and joins the errors,
// each prefixed by its model.
func (fx *Fleet) Each(ctx context.Context, workers int, fn func(ctx context.Context, i int, model string) error) error {
	var wg sync.WaitGroup
	var mu sync.Mutex
	var errs []error
	sem := make(chan struct{}, workers)
	for i, m := range fx.Models {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			if err := fn(ctx, i, m); err != nil {
				mu.Lock()
				errs = append(errs, fmt.Errorf("%s: %w", m, err))
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}

// Manifest is the desired-state file that says @champion: 2 and
// @challenger: 2 for every model, and production: 2 (a stage key in lower
// case) for the models with a stage.
func (fx *Fleet) Manifest() string {
	var b strings.Builder
	b.WriteString("version: 1\nmodels:\n")
	for i, m := range fx.Models {
		fmt.Fprintf(&b, "  %s:\n    aliases: {champion: 2, challenger: 2}\n", m)
		if i < fx.Stages {
			b.WriteString("    stages: {production: 2}\n")
		}
	}
	return b.String()
}
