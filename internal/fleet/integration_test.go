package fleet_test

import (
	"errors"
	"flag"
	"net/http"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/mlreg/mlreg-action/internal/checks"
	"github.com/mlreg/mlreg-action/internal/fleet"
	"github.com/mlreg/mlreg-action/internal/manifest"
	"github.com/mlreg/mlreg-action/internal/mlflow"
	"github.com/mlreg/mlreg-action/internal/outcome"
	"github.com/mlreg/mlreg-action/internal/promote"
	"github.com/mlreg/mlreg-action/internal/testing/faultproxy"
	"github.com/mlreg/mlreg-action/internal/testing/mlflowtest"
)

var srv *mlflowtest.Server

// TestMain starts one MLflow server for the integration tests, except with
// -short (unit tests only).
func TestMain(m *testing.M) {
	flag.Parse()
	if testing.Short() {
		os.Exit(m.Run())
	}
	os.Exit(mlflowtest.Main(m, &srv))
}

func requireServer(t *testing.T) *mlflowtest.Server {
	t.Helper()
	if testing.Short() {
		t.Skip("integration test: not with -short")
	}
	return mlflowtest.RequireServer(t, srv)
}

// fleetFixture is the registry of a manifest test (mlflowtest.Fleet).
type fleetFixture struct {
	f      *mlflowtest.Fixtures
	models []string
	fleet  *mlflowtest.Fleet
}

func newFleetFixture(t *testing.T, s *mlflowtest.Server, n, stages int) *fleetFixture {
	t.Helper()
	fx := mlflowtest.NewFleet(t, s, n, stages)
	return &fleetFixture{f: fx.F, models: fx.Models, fleet: fx}
}

// manifest is the fleet's desired-state file (mlflowtest.Fleet.Manifest).
func (fx *fleetFixture) manifest(t *testing.T) *manifest.Manifest {
	t.Helper()
	return mustManifest(t, fx.fleet.Manifest())
}

// client is the product's MLflow client, through uri (a proxy, or the server).
func client(t *testing.T, uri string) *promote.Service {
	t.Helper()
	c, err := mlflow.New(mlflow.Options{TrackingURI: uri, BackoffFactor: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	reg := mlflow.NewRegistry(c)
	return &promote.Service{Reg: reg, Lock: reg, LockOwner: "fleet-test"}
}

// lockModels lists the promotion locks left among the fixture's models.
func (fx *fleetFixture) lockModels(t *testing.T) []string {
	t.Helper()
	var left []string
	for _, m := range fx.models {
		var out struct{}
		err := fx.f.Do(t.Context(), http.MethodGet, "registered-models/get", url.Values{"name": {mlflow.LockName(m)}}, nil, &out)
		switch {
		case err == nil:
			left = append(left, mlflow.LockName(m))
		case !mlflowtest.IsErrorCode(err, "RESOURCE_DOES_NOT_EXIST"):
			t.Fatal(err)
		}
	}
	return left
}

func (fx *fleetFixture) history(t *testing.T, model string, tp checks.Target) []promote.Record {
	t.Helper()
	tags, err := fx.f.ModelTags(t.Context(), model)
	if err != nil {
		t.Fatal(err)
	}
	h, err := mlflow.Rules{}.ParseHistory(tags[promote.HistoryTagKey(tp)])
	if err != nil {
		t.Fatal(err)
	}
	return h
}

var (
	champion   = checks.AliasTarget("champion")
	production = checks.StageTarget(mlflow.StageProduction)
)

// TestIntegrationManifestOf44Entries plans and applies 44 entries (24
// changes) at parallelism 8 against the real server.
func TestIntegrationManifestOf44Entries(t *testing.T) {
	t.Parallel()
	s := requireServer(t)
	const models, stages = 20, 4
	fx := newFleetFixture(t, s, models, stages)
	m, pol := fx.manifest(t), mustPolicy(t, testPolicy)
	svc := client(t, s.URL)
	ctx := t.Context()

	// validate on the pull request, then promote after the merge: same state, same digest.
	validate, err := fleet.Plan(ctx, svc, m, pol, fleet.Options{Parallelism: 8, Actor: "author"})
	if err != nil {
		t.Fatal(err)
	}
	if err := validate.Err(); err != nil {
		t.Fatal(err)
	}
	if got := len(validate.Entries); got != 44 {
		t.Fatalf("%d entries, want 44", got)
	}
	if validate.ChangeCount() != 24 || validate.Unchanged() != 20 || validate.Verdict() != checks.VerdictPass {
		t.Fatalf("plan: %d changes, %d unchanged, verdict %s; want 24, 20, pass",
			validate.ChangeCount(), validate.Unchanged(), validate.Verdict())
	}
	o := fleet.Options{Parallelism: 8, ArchiveExisting: true, Actor: "merger", Commit: "c0ffee", RunURL: "https://x/runs/9"}
	fp, err := fleet.Plan(ctx, svc, m, pol, o)
	if err != nil {
		t.Fatal(err)
	}
	if fp.Digest != validate.Digest {
		t.Fatalf("promote's plan digest %s differs from validate's %s", fp.Digest, validate.Digest)
	}
	for _, e := range fp.Entries {
		if e.Status == fleet.StatusUnchanged && e.Requests > 1 {
			t.Errorf("%s %s: unchanged entry cost %d requests", e.Model, e.Label(), e.Requests)
		}
	}

	res, err := fleet.Apply(ctx, svc, fp, fleet.ApplyOptions{Parallelism: 8, ExpectedDigest: validate.Digest})
	if err != nil {
		t.Fatalf("Apply: %v", err)
	}
	promoted := 0
	for _, er := range res.Entries {
		if er.Outcome == outcome.Promoted {
			promoted++
		}
	}
	if promoted != 24 {
		t.Errorf("%d entries promoted, want 24", promoted)
	}
	if left := fx.lockModels(t); len(left) != 0 {
		t.Errorf("locks left: %v", left)
	}
	for i, model := range fx.models {
		aliases, err := fx.f.Aliases(ctx, model)
		if err != nil {
			t.Fatal(err)
		}
		if aliases["champion"] != "2" || aliases["challenger"] != "2" {
			t.Errorf("%s aliases = %v, want both on v2", model, aliases)
		}
		h := fx.history(t, model, champion)
		if len(h) != 1 || h[0].Version != "2" || h[0].PreviousVersion != "1" || h[0].Manifest != m.File ||
			h[0].Commit != "c0ffee" || h[0].PlanDigest != validate.Digest {
			t.Errorf("%s @champion history = %+v, want one record of the manifest promotion", model, h)
		}
		if i < stages {
			v2, err := fx.f.GetVersion(ctx, model, "2")
			if err != nil {
				t.Fatal(err)
			}
			if v2["current_stage"] != mlflow.StageProduction {
				t.Errorf("%s v2 is in %v, want Production", model, v2["current_stage"])
			}
			if h := fx.history(t, model, production); len(h) != 1 || h[0].Version != "2" {
				t.Errorf("%s stage history = %+v, want one record", model, h)
			}
		}
	}

	// A rerun: everything in place, one request per model, nothing applied.
	again, err := fleet.Plan(ctx, svc, m, pol, o)
	if err != nil {
		t.Fatal(err)
	}
	if again.ChangeCount() != 0 || again.Requests != models {
		t.Errorf("rerun plan: %d changes, %d requests; want 0 and %d", again.ChangeCount(), again.Requests, models)
	}
	// Its apply reads the version of each target in place without a record of
	// ours (@challenger, set by hand), to find any record left unfinished.
	res, err = fleet.Apply(ctx, svc, again, fleet.ApplyOptions{Parallelism: 8, ExpectedDigest: validate.Digest})
	if err != nil || res.Changed() || res.Requests != models {
		t.Errorf("rerun apply: err %v, changed %v, %d requests; want no change and %d reads", err, res.Changed(), res.Requests, models)
	}
	for _, model := range fx.models {
		if h := fx.history(t, model, champion); len(h) != 1 {
			t.Errorf("%s has %d history entries after the rerun, want 1", model, len(h))
		}
	}
}

// TestIntegrationMoveByHandBetweenPlanAndApply: the reviewed plan no longer
// matches, so nothing is applied.
func TestIntegrationMoveByHandBetweenPlanAndApply(t *testing.T) {
	t.Parallel()
	s := requireServer(t)
	fx := newFleetFixture(t, s, 3, 0)
	m, pol := fx.manifest(t), mustPolicy(t, testPolicy)
	svc := client(t, s.URL)
	ctx := t.Context()
	reviewed, err := fleet.Plan(ctx, svc, m, pol, fleet.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := fx.f.SetAlias(ctx, fx.models[1], "challenger", "1"); err != nil {
		t.Fatal(err)
	}
	fp, err := fleet.Plan(ctx, svc, m, pol, fleet.Options{})
	if err != nil {
		t.Fatal(err)
	}
	_, err = fleet.Apply(ctx, svc, fp, fleet.ApplyOptions{ExpectedDigest: reviewed.Digest})
	if !errors.Is(err, promote.ErrConflict) {
		t.Fatalf("Apply error = %v, want a conflict", err)
	}
	for i, model := range fx.models {
		aliases, err := fx.f.Aliases(ctx, model)
		if err != nil {
			t.Fatal(err)
		}
		wantChallenger := "2"
		if i == 1 {
			wantChallenger = "1"
		}
		if aliases["champion"] != "1" || aliases["challenger"] != wantChallenger {
			t.Errorf("%s aliases = %v: the apply changed something", model, aliases)
		}
		if h := fx.history(t, model, champion); len(h) != 0 {
			t.Errorf("%s has a history: %+v", model, h)
		}
	}
}

// TestIntegrationPolicyFailureBlocksAll: one change failing the policy
// blocks the others.
func TestIntegrationPolicyFailureBlocksAll(t *testing.T) {
	t.Parallel()
	s := requireServer(t)
	fx := newFleetFixture(t, s, 3, 0)
	m := fx.manifest(t)
	// @champion needs a validated version: the v2 of models 1 and 2 are.
	pol := mustPolicy(t, `version: 1
rules:
  - name: champion gate
    applies-to: {alias: champion}
    tags: {validated: "true"}
  - name: challenger
    applies-to: {alias: challenger}
    run: {status: FINISHED}
`)
	for _, model := range fx.models[1:] {
		if err := fx.f.SetVersionTag(t.Context(), model, "2", "validated", "true"); err != nil {
			t.Fatal(err)
		}
	}
	svc := client(t, s.URL)
	ctx := t.Context()
	fp, err := fleet.Plan(ctx, svc, m, pol, fleet.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if got := changesJSON(t, fp.Changes()); strings.Count(got, `"outcome":"blocked"`) != 1 ||
		strings.Count(got, `"outcome":"would-change"`) != 2 {
		t.Errorf("Changes() = %s, want one blocked and two would-change", got)
	}
	_, err = fleet.Apply(ctx, svc, fp, fleet.ApplyOptions{})
	if !errors.Is(err, promote.ErrPolicyFailed) {
		t.Fatalf("Apply error = %v, want the policy failure", err)
	}
	for _, model := range fx.models {
		if v, err := fx.f.AliasVersion(ctx, model, "champion"); err != nil || v != "1" {
			t.Errorf("%s@champion = v%s (%v), want v1 untouched", model, v, err)
		}
	}
	if left := fx.lockModels(t); len(left) != 0 {
		t.Errorf("locks left: %v", left)
	}
}

// TestIntegrationRerunCompletesAPartialApply: one entry's move is refused
// and another's history write fails; the rerun with the reviewed digest
// completes both and leaves the others alone.
func TestIntegrationRerunCompletesAPartialApply(t *testing.T) {
	t.Parallel()
	s := requireServer(t)
	fx := newFleetFixture(t, s, 6, 0)
	m, pol := fx.manifest(t), mustPolicy(t, testPolicy)
	proxy := faultproxy.New(t, s.URL)
	svc := client(t, proxy.URL)
	ctx := t.Context()
	reviewed, err := fleet.Plan(ctx, svc, m, pol, fleet.Options{Parallelism: 8})
	if err != nil {
		t.Fatal(err)
	}
	proxy.Add(
		faultproxy.Rule{Method: http.MethodPost, Path: "/registered-models/alias", Contains: `"` + fx.models[2] + `"`,
			Fault: faultproxy.Status(http.StatusForbidden)},
		faultproxy.Rule{Method: http.MethodPost, Path: "/registered-models/set-tag", Contains: `"` + fx.models[4] + `"`,
			Fault: faultproxy.Status(http.StatusForbidden)},
	)
	res, err := fleet.Apply(ctx, svc, reviewed, fleet.ApplyOptions{Parallelism: 8, ExpectedDigest: reviewed.Digest})
	if err == nil || errors.Is(err, promote.ErrConflict) {
		t.Fatalf("Apply error = %v, want a registry error", err)
	}
	for i, er := range res.Entries {
		e := reviewed.Entries[i]
		wantFailed := e.Status == fleet.StatusChange && (e.Model == fx.models[2] || e.Model == fx.models[4])
		if (er.Outcome == outcome.Failed) != wantFailed {
			t.Errorf("%s %s: outcome %s", e.Model, e.Label(), er.Outcome)
		}
	}
	if v, _ := fx.f.AliasVersion(ctx, fx.models[4], "champion"); v != "2" {
		t.Fatalf("%s@champion = v%s: the fault came too early", fx.models[4], v)
	}
	if left := fx.lockModels(t); len(left) != 0 {
		t.Errorf("locks left: %v", left)
	}

	proxy.Clear()
	fp, err := fleet.Plan(ctx, svc, m, pol, fleet.Options{Parallelism: 8})
	if err != nil {
		t.Fatal(err)
	}
	if fp.ChangeCount() != 1 {
		t.Errorf("rerun plan has %d changes, want 1 (the refused move)", fp.ChangeCount())
	}
	res, err = fleet.Apply(ctx, svc, fp, fleet.ApplyOptions{Parallelism: 8, ExpectedDigest: reviewed.Digest})
	if err != nil {
		t.Fatalf("rerun Apply: %v", err)
	}
	if !res.Resumed {
		t.Error("the rerun was not recognised as the reviewed plan")
	}
	for _, model := range fx.models {
		if v, _ := fx.f.AliasVersion(ctx, model, "champion"); v != "2" {
			t.Errorf("%s@champion = v%s, want v2", model, v)
		}
		h := fx.history(t, model, champion)
		if len(h) != 1 || h[0].PlanDigest != reviewed.Digest {
			t.Errorf("%s history = %+v, want exactly one record of the reviewed plan", model, h)
		}
	}
}
