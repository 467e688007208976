package uc_test

import (
	"context"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/mlreg/mlreg-action/internal/mlflow"
	"github.com/mlreg/mlreg-action/internal/promote"
	"github.com/mlreg/mlreg-action/internal/registry"
	"github.com/mlreg/mlreg-action/internal/testing/mlflowtest"
	"github.com/mlreg/mlreg-action/internal/testing/ucfake"
	"github.com/mlreg/mlreg-action/internal/uc"
)

var srv *mlflowtest.Server

func TestMain(m *testing.M) { os.Exit(mlflowtest.Main(m, &srv)) }

// The adapter is the backend promote uses on UC.
var _ registry.Backend = (*uc.Registry)(nil)

const model = "main.ml.fraud"

// newRegistry builds the registry as the command layer will: a UC client
// through an internal/mlflow client for the workspace, and a tracking client
// (here the fake too, which forwards to the real server, as with
// tracking-uri: databricks).
func newRegistry(t *testing.T, f *ucfake.Server) *uc.Registry {
	t.Helper()
	mc, err := mlflow.New(mlflow.Options{TrackingURI: f.URL(), Token: f.Token(), MaxRetries: -1})
	if err != nil {
		t.Fatal(err)
	}
	return uc.NewRegistry(uc.New(mc), mc, f.URL())
}

// A UC version backed by a real run and logged model: the registry side is
// the fake, runs and metrics come from the harness's MLflow server.
func TestRegistryAgainstFakeAndRealTracking(t *testing.T) {
	t.Parallel()
	s := mlflowtest.RequireServer(t, srv)
	ctx := t.Context()
	fx := s.Fixtures()
	exp, err := fx.CreateExperiment(ctx, mlflowtest.UniqueName(t, "uc"))
	if err != nil {
		t.Fatal(err)
	}
	runID, err := fx.CreateRun(ctx, exp, mlflowtest.RunSpec{
		Metrics: map[string]float64{"train_auc": 0.91},
		History: map[string][]float64{"loss": {0.9, 0.5, 0.3}},
	})
	if err != nil {
		t.Fatal(err)
	}
	modelID, err := fx.CreateLoggedModel(ctx, exp, runID, []mlflowtest.LoggedMetric{{Key: "val_auc", Value: 0.94, Dataset: "eval"}})
	if err != nil {
		t.Fatal(err)
	}

	f := ucfake.New(t, ucfake.Options{TrackingURL: s.URL})
	f.CreateModelVersion(model, ucfake.Version{Source: "models:/m-old", RunID: runID})
	f.CreateModelVersion(model, ucfake.Version{Source: "models:/" + modelID, RunID: runID, ModelID: modelID})
	f.CreateModelVersion(model, ucfake.Version{Status: "PENDING_REGISTRATION"})
	reg := newRegistry(t, f)

	mv, err := reg.GetModelVersion(ctx, model, "2")
	if err != nil {
		t.Fatal(err)
	}
	if mv.Version != "2" || mv.Status != mlflow.StatusReady || mv.ModelID != modelID || mv.LoggedModelID() != modelID || mv.RunID != runID {
		t.Errorf("version 2 = %+v", mv)
	}
	if pending, err := reg.GetModelVersion(ctx, model, "3"); err != nil || pending.Status != mlflow.StatusPending {
		t.Errorf("version 3 = %+v, %v; want PENDING_REGISTRATION", pending, err)
	}

	// Metrics are real: the logged model's, and the run's, through the tracking client.
	lm, err := reg.GetLoggedModel(ctx, mv.LoggedModelID())
	if err != nil {
		t.Fatal(err)
	}
	if len(lm.Data.Metrics) != 1 || lm.Data.Metrics[0].Key != "val_auc" || lm.Data.Metrics[0].Value != 0.94 || lm.Data.Metrics[0].DatasetName != "eval" {
		t.Errorf("logged model metrics = %+v", lm.Data.Metrics)
	}
	run, err := reg.GetRun(ctx, mv.RunID)
	if err != nil {
		t.Fatal(err)
	}
	if v := metric(run.Data.Metrics, "train_auc"); v != 0.91 {
		t.Errorf("run train_auc = %v, want 0.91", v)
	}
	var hist []float64
	if err := reg.MetricHistoryPages(ctx, runID, "loss", func(ms []mlflow.Metric) error {
		for _, m := range ms {
			hist = append(hist, float64(m.Value))
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]float64{0.9, 0.5, 0.3}, hist); diff != "" {
		t.Errorf("loss history (-want +got):\n%s", diff)
	}

	// Aliases.
	// The Registry contract (internal/mlflow/registry.go) is the sentinel itself, unwrapped.
	if _, err := reg.GetModelVersionByAlias(ctx, model, "champion"); err != mlflow.ErrAliasNotFound { //nolint:errorlint // see above
		t.Errorf("unset alias: err = %v, want exactly mlflow.ErrAliasNotFound", err)
	}
	if err := reg.SetAlias(ctx, model, "champion", "1"); err != nil {
		t.Fatal(err)
	}
	if err := reg.SetAlias(ctx, model, "champion", "2"); err != nil { // moves it
		t.Fatal(err)
	}
	held, err := reg.GetModelVersionByAlias(ctx, model, "champion")
	if err != nil {
		t.Fatal(err)
	}
	if held.Version != "2" || !cmp.Equal(held.Aliases, []string{"champion"}) {
		t.Errorf("@champion = v%s with aliases %v, want v2 [champion]", held.Version, held.Aliases)
	}
	rm, err := reg.GetRegisteredModel(ctx, model)
	if err != nil {
		t.Fatal(err)
	}
	if rm.AliasVersion("champion") != "2" || rm.Name != model {
		t.Errorf("registered model = %+v", rm)
	}

	// Audit tags go in their UC-safe form, keyed once by the rules.
	key := reg.TagKey("mlreg.promotion.alias.champion")
	if err := reg.SetModelVersionTag(ctx, model, "2", key, `{"verdict":"pass"}`); err != nil {
		t.Fatal(err)
	}
	if err := reg.SetRegisteredModelTag(ctx, model, reg.TagKey("mlreg.history.alias.champion"), `[{"v":"2"}]`); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(map[string]string{"mlreg_promotion_alias_champion": `{"verdict":"pass"}`}, f.VersionTags(model, "2")); diff != "" {
		t.Errorf("version tags (-want +got):\n%s", diff)
	}
	mv, err = reg.GetModelVersion(ctx, model, "2")
	if err != nil {
		t.Fatal(err)
	}
	if v, ok := mv.Tag(key); !ok || v != `{"verdict":"pass"}` {
		t.Errorf("tag %s read back = %q, %v", key, v, ok)
	}
	rm, _ = reg.GetRegisteredModel(ctx, model)
	if v, _ := rm.Tag("mlreg_history_alias_champion"); v != `[{"v":"2"}]` {
		t.Errorf("history tag = %q", v)
	}
	if err := reg.DeleteModelVersionTag(ctx, model, "2", key); err != nil {
		t.Fatal(err)
	}
	if err := reg.DeleteRegisteredModelTag(ctx, model, reg.TagKey("mlreg.history.alias.champion")); err != nil {
		t.Fatal(err)
	}
	if len(f.VersionTags(model, "2")) != 0 || len(f.ModelTags(model)) != 0 {
		t.Errorf("tags left after delete: %v %v", f.VersionTags(model, "2"), f.ModelTags(model))
	}

	if err := reg.DeleteAlias(ctx, model, "champion"); err != nil {
		t.Fatal(err)
	}
	if _, err := reg.GetModelVersionByAlias(ctx, model, "champion"); err != mlflow.ErrAliasNotFound { //nolint:errorlint // exactly the sentinel, as above
		t.Errorf("deleted alias: err = %v, want exactly mlflow.ErrAliasNotFound", err)
	}

	latest, err := reg.LatestVersion(ctx, model)
	if err != nil {
		t.Fatal(err)
	}
	if latest.Version != "3" {
		t.Errorf("latest = v%s, want v3", latest.Version)
	}
	if v := f.Violations(); len(v) > 0 {
		t.Errorf("requests that broke MLflow's UC proto: %q", v)
	}
}

func metric(ms []mlflow.Metric, key string) float64 {
	for _, m := range ms {
		if m.Key == key {
			return float64(m.Value)
		}
	}
	return -1
}

func TestNotFound(t *testing.T) {
	t.Parallel()
	f := ucfake.New(t, ucfake.Options{})
	f.CreateModelVersion(model, ucfake.Version{})
	reg := newRegistry(t, f)
	ctx := t.Context()
	for name, err := range map[string]error{
		"missing model":   second(reg.GetRegisteredModel(ctx, "main.ml.nope")),
		"missing version": second(reg.GetModelVersion(ctx, model, "9")),
		"alias of a missing model": func() error {
			_, err := reg.GetModelVersionByAlias(ctx, "main.ml.nope", "champion")
			return err
		}(),
		"latest of a missing model": second(reg.LatestVersion(ctx, "main.ml.nope")),
	} {
		if !mlflow.IsNotFound(err) || errors.Is(err, mlflow.ErrAliasNotFound) {
			t.Errorf("%s: err = %v, want one for which mlflow.IsNotFound holds", name, err)
		}
	}
}

func second[T any](_ T, err error) error { return err }

// UC lets only the model's owner or a metastore admin move an alias; the
// error says so, and stays a permission error for the exit status.
func TestAliasPermissionDenied(t *testing.T) {
	t.Parallel()
	f := ucfake.New(t, ucfake.Options{})
	f.CreateModelVersion(model, ucfake.Version{})
	f.Fail("SetRegisteredModelAlias", ucfake.PermissionDenied())
	f.Fail("DeleteRegisteredModelAlias", ucfake.PermissionDenied())
	reg := newRegistry(t, f)
	for op, err := range map[string]error{
		"set":    reg.SetAlias(t.Context(), model, "champion", "1"),
		"delete": reg.DeleteAlias(t.Context(), model, "champion"),
	} {
		var pe *uc.AliasPermissionError
		if !errors.As(err, &pe) || !mlflow.IsPermissionDenied(err) {
			t.Fatalf("%s: err = %v, want an *uc.AliasPermissionError that is a permission error", op, err)
		}
		for _, want := range []string{"only the owner of registered model \"main.ml.fraud\" or a metastore admin", "403 PERMISSION_DENIED"} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("%s: error %q does not say %q", op, err, want)
			}
		}
	}
	if got := f.Aliases(model); len(got) != 0 {
		t.Errorf("aliases = %v, want none", got)
	}
	if n := f.Count("SetRegisteredModelAlias"); n != 1 {
		t.Errorf("set alias sent %d times, want 1 (a refusal is not retried)", n)
	}
}

// Input UC would refuse is reported before anything is sent.
func TestInvalidInputSendsNothing(t *testing.T) {
	t.Parallel()
	f := ucfake.New(t, ucfake.Options{})
	f.CreateModelVersion(model, ucfake.Version{})
	reg := newRegistry(t, f)
	ctx := t.Context()
	cases := []struct {
		name string
		err  error
		want error
		msg  string
	}{
		{"two-level name", second(reg.GetModelVersion(ctx, "ml.fraud", "1")), uc.ErrInvalidName, "catalog.schema.model"},
		{"empty level", reg.SetAlias(ctx, "main..fraud", "champion", "1"), uc.ErrInvalidName, "schema part is empty"},
		{"tag value too long", reg.SetRegisteredModelTag(ctx, model, "mlreg_history_alias_champion", strings.Repeat("x", 1001)), uc.ErrTagLimit, "1001 characters"},
		{"tag key not keyed by the rules", reg.SetModelVersionTag(ctx, model, "1", "mlreg.promotion.alias.champion", "v"), uc.ErrTagLimit, "holds one of"},
		{"too many tags on a lock", second(reg.CreateRegisteredModel(ctx, "main.ml.lock", "", make([]mlflow.Tag, 51))), uc.ErrTagLimit, "51 tags"},
		{"stage read", second(reg.GetLatestVersions(ctx, model, []string{"Production"})), uc.ErrStagesUnsupported, "use an alias"},
		{"stage move", second(reg.TransitionStage(ctx, model, "1", "Production", true)), uc.ErrStagesUnsupported, "target-alias"},
	}
	for _, tc := range cases {
		if !errors.Is(tc.err, tc.want) || !strings.Contains(tc.err.Error(), tc.msg) {
			t.Errorf("%s: err = %v, want %v mentioning %q", tc.name, tc.err, tc.want, tc.msg)
		}
	}
	if calls := f.Calls(); len(calls) != 0 {
		t.Errorf("sent %d requests, want none: %+v", len(calls), calls)
	}
}

// UC refuses a 51st tag on an object; the client passes the refusal on.
func TestTagCountLimitComesFromUC(t *testing.T) {
	t.Parallel()
	f := ucfake.New(t, ucfake.Options{})
	f.CreateModelVersion(model, ucfake.Version{})
	reg := newRegistry(t, f)
	for i := range uc.MaxTagsPerObject {
		if err := reg.SetModelVersionTag(t.Context(), model, "1", "k"+strings.Repeat("x", i), "v"); err != nil {
			t.Fatal(err)
		}
	}
	err := reg.SetModelVersionTag(t.Context(), model, "1", "one_more", "v")
	var e *mlflow.Error
	if !errors.As(err, &e) || e.StatusCode != 400 || !strings.Contains(err.Error(), "at most 50 tags") {
		t.Errorf("51st tag: err = %v, want UC's 400", err)
	}
}

// promote's lock works on UC: the rules name it in the model's schema, and
// a second create is refused while the first exists.
func TestLock(t *testing.T) {
	t.Parallel()
	f := ucfake.New(t, ucfake.Options{})
	f.CreateModelVersion(model, ucfake.Version{})
	reg := newRegistry(t, f)
	ctx := t.Context()
	name := reg.LockName(model)
	tags := []mlflow.Tag{{Key: reg.TagKey(promote.TagLockOwner), Value: "run 1"},
		{Key: reg.TagKey(promote.TagLockExpires), Value: time.Now().Format(time.RFC3339)}}
	if _, err := reg.CreateRegisteredModel(ctx, name, "held", tags); err != nil {
		t.Fatal(err)
	}
	if name != "main.ml.mlreg_lock_fraud" || !f.HasModel(name) {
		t.Fatalf("lock %s not created as main.ml.mlreg_lock_fraud", name)
	}
	if _, err := reg.CreateRegisteredModel(ctx, name, "held", tags); !mlflow.IsAlreadyExists(err) {
		t.Errorf("second create: err = %v, want already exists", err)
	}
	rm, err := reg.GetRegisteredModel(ctx, name)
	if err != nil {
		t.Fatal(err)
	}
	if v, _ := rm.Tag(reg.TagKey(promote.TagLockOwner)); v != "run 1" {
		t.Errorf("lock owner tag = %q (tags %v)", v, rm.Tags)
	}
	if err := reg.DeleteRegisteredModel(ctx, name); err != nil {
		t.Fatal(err)
	}
	if f.HasModel("main.ml.mlreg_lock_fraud") {
		t.Error("lock still exists after delete")
	}
}

// A call that outlives its context stops.
func TestContextCancel(t *testing.T) {
	t.Parallel()
	f := ucfake.New(t, ucfake.Options{})
	reg := newRegistry(t, f)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := reg.GetRegisteredModel(ctx, model); !errors.Is(err, context.Canceled) {
		t.Errorf("err = %v, want context.Canceled", err)
	}
}
