package uc_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"

	"github.com/mlreg/mlreg-action/internal/checks"
	"github.com/mlreg/mlreg-action/internal/mlflow"
	"github.com/mlreg/mlreg-action/internal/promote"
	"github.com/mlreg/mlreg-action/internal/testing/mlflowtest"
	"github.com/mlreg/mlreg-action/internal/testing/ucfake"
	"github.com/mlreg/mlreg-action/internal/uc"
)

// These tests drive promote.Service on Unity Catalog as the command layer
// will: the UC fake as the registry (checked against MLflow's UC protos and
// enforcing UC's tag limits), the harness's real MLflow server behind it for
// runs and metrics.

const gatePolicy = `version: 1
rules:
  - name: production gate
    applies-to: {alias: champion}
    metrics:
      val_auc:
        min: 0.90
        vs-champion: {min-improvement: 0.005}
    run: {status: FINISHED}
    on-first-deploy: pass
`

var champion = checks.AliasTarget("champion")

// ucWorld is one UC fake in front of the real tracking server, with a
// promote.Service on it.
type ucWorld struct {
	f     *ucfake.Server
	reg   *uc.Registry
	svc   *promote.Service
	fx    *mlflowtest.Fixtures
	exp   string
	model string
}

func newWorld(t *testing.T) *ucWorld {
	t.Helper()
	s := mlflowtest.RequireServer(t, srv)
	fx := s.Fixtures()
	exp, err := fx.CreateExperiment(t.Context(), mlflowtest.UniqueName(t, "uc-promote"))
	if err != nil {
		t.Fatal(err)
	}
	f := ucfake.New(t, ucfake.Options{TrackingURL: s.URL})
	reg := newRegistry(t, f)
	w := &ucWorld{f: f, reg: reg, fx: fx, exp: exp, model: "main.ml.fraud"}
	w.svc = &promote.Service{Reg: reg, Lock: reg, Now: steppingClock(),
		LockOwner: "https://github.com/acme/fraud/actions/runs/42"}
	t.Cleanup(func() {
		if v := f.Violations(); len(v) > 0 {
			t.Errorf("requests that broke MLflow's UC proto: %q", v)
		}
	})
	return w
}

// steppingClock starts at a fixed time and moves one second per reading, so
// that every promotion has its own time and the history's order is the
// order of the promotions.
func steppingClock() func() time.Time {
	var mu sync.Mutex
	now := time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
	return func() time.Time {
		mu.Lock()
		defer mu.Unlock()
		now = now.Add(time.Second)
		return now
	}
}

// trained logs a finished run with a real logged model whose eval metric is
// val_auc, and returns both ids.
func (w *ucWorld) trained(t *testing.T, auc float64, runTags map[string]string) (runID, modelID string) {
	t.Helper()
	ctx := t.Context()
	runID, err := w.fx.CreateRun(ctx, w.exp, mlflowtest.RunSpec{Metrics: map[string]float64{"train_auc": auc + 0.01}, Tags: runTags})
	if err != nil {
		t.Fatal(err)
	}
	modelID, err = w.fx.CreateLoggedModel(ctx, w.exp, runID, []mlflowtest.LoggedMetric{{Key: "val_auc", Value: auc, Dataset: "eval"}})
	if err != nil {
		t.Fatal(err)
	}
	return runID, modelID
}

// version registers a UC version of w.model for a trained model.
func (w *ucWorld) version(runID, modelID string) string {
	return w.versionWithTags(runID, modelID, nil)
}

func (w *ucWorld) versionWithTags(runID, modelID string, tags map[string]string) string {
	return w.f.CreateModelVersion(w.model, ucfake.Version{Source: "models:/" + modelID, RunID: runID, ModelID: modelID, Tags: tags})
}

func (w *ucWorld) policy(t *testing.T) *checks.Policy {
	t.Helper()
	p, err := checks.Parse("mlreg-policy.yml", []byte(gatePolicy))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func (w *ucWorld) request(t *testing.T, version string) promote.Request {
	return promote.Request{Model: w.model, Version: promote.Version(version), Target: checks.Target{Alias: "champion"},
		Policy: w.policy(t), Actor: "octocat", RunURL: "https://github.com/acme/fraud/actions/runs/42",
		Commit: "0123456789abcdef0123456789abcdef01234567"}
}

func (w *ucWorld) promote(t *testing.T, req promote.Request) (*promote.Plan, *promote.Outcome, error) {
	t.Helper()
	plan, err := w.svc.Plan(t.Context(), req)
	if err != nil {
		return nil, nil, err
	}
	if plan.Verdict == checks.VerdictFail {
		return plan, nil, nil
	}
	out, err := w.svc.Apply(t.Context(), plan)
	return plan, out, err
}

// rollback does what the rollback command does: read the history, take
// the version its Rollback chooses, and promote it with the current holder
// as the guard.
func (w *ucWorld) rollback(t *testing.T) (string, *promote.Outcome) {
	t.Helper()
	h, err := w.svc.History(t.Context(), w.model, champion)
	if err != nil {
		t.Fatal(err)
	}
	choice, err := h.Rollback(w.model, promote.RerunOf{})
	if err != nil {
		t.Fatal(err)
	}
	req := w.request(t, choice.Version)
	req.Action, req.Expected = promote.ActionRollback, promote.Expect(h.Current)
	plan, out, err := w.promote(t, req)
	if err != nil {
		t.Fatal(err)
	}
	if plan.Verdict != checks.VerdictPass {
		t.Fatalf("rollback to v%s: verdict %s: %+v", choice.Version, plan.Verdict, plan.Checks)
	}
	return choice.Version, out
}

func (w *ucWorld) holder(t *testing.T) string {
	t.Helper()
	return w.f.Aliases(w.model)["champion"]
}

// checkLimits asserts UC's tag limits on the model and every version (every
// key UC-safe, every value at most 1,000 characters, and mlreg's at most
// 1,000 bytes, at most 50 tags per object), and that the lock is gone.
func (w *ucWorld) checkLimits(t *testing.T) {
	t.Helper()
	for _, p := range w.f.LimitProblems(w.model) {
		t.Error(p)
	}
	if w.f.HasModel(uc.LockName(w.model)) {
		t.Errorf("the lock %s is left behind", uc.LockName(w.model))
	}
}

func (w *ucWorld) record(t *testing.T, version string) promote.Record {
	t.Helper()
	v, ok := w.f.VersionTags(w.model, version)["mlreg_promotion_alias_champion"]
	if !ok {
		t.Fatalf("v%s has no tag mlreg_promotion_alias_champion: %v", version, w.f.VersionTags(w.model, version))
	}
	var rec promote.Record
	if err := json.Unmarshal([]byte(v), &rec); err != nil {
		t.Fatalf("v%s promotion tag %q: %v", version, v, err)
	}
	return rec
}

// compactHistory decodes the model's history tag as stored.
func (w *ucWorld) compactHistory(t *testing.T) []map[string]string {
	t.Helper()
	var h []map[string]string
	raw := w.f.ModelTags(w.model)["mlreg_history_alias_champion"]
	if err := json.Unmarshal([]byte(raw), &h); err != nil {
		t.Fatalf("history tag %q: %v", raw, err)
	}
	return h
}

// The scenarios of issue 13, in the order a model's life has them: first
// deploy, a better challenger, a worse one, a rerun, two rollbacks, history.
func TestPromoteOnUnityCatalog(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	v1 := w.version(w.trained(t, 0.92, nil))
	v2 := w.version(w.trained(t, 0.95, nil))
	v3 := w.version(w.trained(t, 0.90, nil))
	v4 := w.version(w.trained(t, 0.97, nil))

	t.Log("first deploy")
	plan, out, err := w.promote(t, w.request(t, v1))
	if err != nil {
		t.Fatal(err)
	}
	if plan.Verdict != checks.VerdictPass || !out.Changed || w.holder(t) != v1 {
		t.Fatalf("first deploy: verdict %s, changed %v, @champion = v%s; want pass, changed, v%s", plan.Verdict, out.Changed, w.holder(t), v1)
	}
	rec := w.record(t, v1)
	t.Logf("the record on v%s takes %d bytes", v1, len(w.f.VersionTags(w.model, v1)["mlreg_promotion_alias_champion"]))
	if rec.Version != v1 || rec.PreviousVersion != "" || rec.Verdict != "pass" || rec.By != "octocat" || rec.PlanDigest != plan.Digest || rec.PolicyDigest == "" {
		t.Errorf("v1 record = %+v", rec)
	}
	if got := w.f.ModelTags(w.model); len(got) != 1 || got["mlreg_history_alias_champion"] == "" {
		t.Errorf("model tags = %v, want only mlreg_history_alias_champion", got)
	}
	locked := false
	for _, c := range w.f.Calls() {
		if c.RPC == "CreateRegisteredModel" {
			var body struct {
				Name string       `json:"name"`
				Tags []mlflow.Tag `json:"tags"`
			}
			locked = json.Unmarshal(c.Body, &body) == nil && body.Name == "main.ml.mlreg_lock_fraud" &&
				len(body.Tags) == 3 && body.Tags[0].Key == "mlreg_lock_owner" && body.Tags[0].Value == w.svc.LockOwner
		}
	}
	if !locked {
		t.Errorf("the promotion did not take the lock main.ml.mlreg_lock_fraud with UC-safe tags: %+v", w.f.Calls())
	}

	t.Log("better challenger")
	plan, out, err = w.promote(t, w.request(t, v2))
	if err != nil {
		t.Fatal(err)
	}
	if plan.Verdict != checks.VerdictPass || w.holder(t) != v2 || out.Previous["@champion"] != v1 {
		t.Fatalf("challenger: verdict %s, @champion v%s, previous %v", plan.Verdict, w.holder(t), out.Previous)
	}
	if c := findCheck(plan.Checks, checks.KindVsChampion); c == nil || c.Value != "0.95" || c.Champion != "0.92" {
		t.Errorf("vs-champion check = %+v, want the real logged-model metrics 0.95 against 0.92", c)
	}

	t.Log("worse one")
	before := len(w.f.Calls())
	plan, _, err = w.promote(t, w.request(t, v3))
	if err != nil {
		t.Fatal(err)
	}
	if plan.Verdict != checks.VerdictFail {
		t.Fatalf("worse candidate: verdict %s, want fail", plan.Verdict)
	}
	if _, err := w.svc.Apply(t.Context(), plan); !errors.Is(err, promote.ErrPolicyFailed) {
		t.Errorf("apply of a failing plan: err = %v, want ErrPolicyFailed", err)
	}
	if w.holder(t) != v2 || len(w.f.VersionTags(w.model, v3)) != 0 {
		t.Errorf("after the refused v3: @champion v%s, v3 tags %v; want v2 and none", w.holder(t), w.f.VersionTags(w.model, v3))
	}
	for _, c := range w.f.Calls()[before:] {
		if strings.Contains(c.RPC, "Set") || strings.Contains(c.RPC, "Create") || strings.Contains(c.RPC, "Delete") {
			t.Errorf("a refused candidate sent %s", c.RPC)
		}
	}

	t.Log("rerun no-op")
	historyBefore := w.f.ModelTags(w.model)["mlreg_history_alias_champion"]
	before = len(w.f.Calls())
	plan, out, err = w.promote(t, w.request(t, v2))
	if err != nil {
		t.Fatal(err)
	}
	if !plan.InPlace() || out.Changed || len(out.Moves) != 0 {
		t.Errorf("rerun: in place %v, changed %v, moves %v; want a no-op", plan.InPlace(), out.Changed, out.Moves)
	}
	for _, c := range w.f.Calls()[before:] {
		if c.RPC == "SetRegisteredModelAlias" || c.RPC == "SetModelVersionTag" || c.RPC == "SetRegisteredModelTag" {
			t.Errorf("the rerun sent %s", c.RPC)
		}
	}
	if got := w.f.ModelTags(w.model)["mlreg_history_alias_champion"]; got != historyBefore {
		t.Errorf("the rerun changed the history:\n%s\nwas\n%s", got, historyBefore)
	}

	if _, _, err := w.promote(t, w.request(t, v4)); err != nil || w.holder(t) != v4 {
		t.Fatalf("v4: @champion v%s, err %v", w.holder(t), err)
	}

	t.Log("rollback twice")
	if to, _ := w.rollback(t); to != v2 || w.holder(t) != v2 {
		t.Fatalf("first rollback went to v%s, @champion v%s; want v%s", to, w.holder(t), v2)
	}
	if to, _ := w.rollback(t); to != v1 || w.holder(t) != v1 {
		t.Fatalf("second rollback went to v%s, @champion v%s; want v%s (two steps back)", to, w.holder(t), v1)
	}

	t.Log("history")
	h, err := w.svc.History(t.Context(), w.model, champion)
	if err != nil {
		t.Fatal(err)
	}
	type row struct{ Version, Previous, Action, By, Verdict, RunURL string }
	var got []row
	for _, e := range h.Entries {
		got = append(got, row{e.Version, e.PreviousVersion, e.Action, e.By, e.Verdict, e.RunURL})
	}
	url := "https://github.com/acme/fraud/actions/runs/42"
	want := []row{
		{v1, v2, "rollback", "octocat", "pass", url},
		{v2, v4, "rollback", "octocat", "pass", url},
		{v4, v2, "promote", "octocat", "pass", url},
		// v2's promotion tag now holds its rollback record: its first
		// promotion stays compact (no verdict, no run URL).
		{v2, v1, "promote", "octocat", "", ""},
		{v1, "", "promote", "octocat", "", ""},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("history (-want +got):\n%s", diff)
	}
	if h.Current != v1 || h.Recorded != v1 || h.Drift {
		t.Errorf("history: current v%s, recorded v%s, drift %v", h.Current, h.Recorded, h.Drift)
	}
	// Moved outside mlreg-action: drift.
	if err := w.reg.SetAlias(t.Context(), w.model, "champion", v3); err != nil {
		t.Fatal(err)
	}
	if h, err = w.svc.History(t.Context(), w.model, champion); err != nil || !h.Drift || h.Current != v3 {
		t.Errorf("after an outside move: %+v, %v; want drift with current v%s", h, err, v3)
	}
	w.checkLimits(t)
}

func findCheck(cs []checks.Check, kind string) *checks.Check {
	for i := range cs {
		if cs[i].Kind == kind {
			return &cs[i]
		}
	}
	return nil
}

// Input UC cannot take is invalid input (status 2) before any request.
func TestPromoteOnUnityCatalogRefusesInputFirst(t *testing.T) {
	t.Parallel()
	f := ucfake.New(t, ucfake.Options{})
	reg := newRegistry(t, f)
	svc := &promote.Service{Reg: reg, Lock: reg}
	cases := []struct {
		name string
		req  promote.Request
		is   []error
		says string
	}{
		{"stage", promote.Request{Model: model, Version: promote.Version("1"), Target: checks.Target{Stage: "Production"}},
			[]error{promote.ErrInvalid}, "input target-stage: Unity Catalog has no model stages"},
		{"alias and stage", promote.Request{Model: model, Version: promote.Version("1"), Target: checks.Target{Alias: "champion", Stage: "Production"}},
			[]error{promote.ErrInvalid}, "use target-alias"},
		{"two-level name", promote.Request{Model: "ml.fraud", Version: promote.Version("1"), Target: checks.Target{Alias: "champion"}},
			[]error{promote.ErrInvalid, uc.ErrInvalidName}, `input model-name: model name "ml.fraud": not a Unity Catalog model name`},
		{"one-level name", promote.Request{Model: "fraud", Version: promote.Version("1"), Target: checks.Target{Alias: "champion"}},
			[]error{promote.ErrInvalid, uc.ErrInvalidName}, "catalog.schema.model"},
	}
	for _, tc := range cases {
		_, err := svc.Plan(t.Context(), tc.req)
		for _, is := range tc.is {
			if !errors.Is(err, is) {
				t.Errorf("%s: err = %v, want %v", tc.name, err, is)
			}
		}
		if err == nil || !strings.Contains(err.Error(), tc.says) {
			t.Errorf("%s: err = %v, want it to say %q", tc.name, err, tc.says)
		}
		// The command layer validates the same request with the rules, before building any client.
		if verr := tc.req.Validate(uc.Rules{}); verr == nil || verr.Error() != err.Error() {
			t.Errorf("%s: Request.Validate = %v, want the error Plan gave", tc.name, verr)
		}
	}
	for _, tgt := range []checks.Target{checks.StageTarget("Production")} {
		if _, err := svc.History(t.Context(), model, tgt); !errors.Is(err, promote.ErrInvalid) || !strings.Contains(err.Error(), "target-stage") {
			t.Errorf("history of %s: err = %v, want invalid target-stage", tgt.Label(), err)
		}
	}
	if _, err := svc.History(t.Context(), "ml.fraud", champion); !errors.Is(err, uc.ErrInvalidName) {
		t.Errorf("history of a two-level name: err = %v", err)
	}
	if calls := f.Calls(); len(calls) != 0 {
		t.Errorf("sent %d requests, want none: %+v", len(calls), calls)
	}
}

// UC lets only the model's owner or a metastore admin move an alias; a
// promotion refused there says so, moves nothing and leaves no history.
func TestPromoteOnUnityCatalogAliasPermissionDenied(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	v1 := w.version(w.trained(t, 0.93, nil))
	w.f.Fail("SetRegisteredModelAlias", ucfake.PermissionDenied())
	_, _, err := w.promote(t, w.request(t, v1))
	var pe *uc.AliasPermissionError
	if !errors.As(err, &pe) || !mlflow.IsPermissionDenied(err) {
		t.Fatalf("err = %v, want an *uc.AliasPermissionError", err)
	}
	for _, want := range []string{`only the owner of registered model "main.ml.fraud" or a metastore admin`, "nothing was moved"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
	if len(w.f.Aliases(w.model)) != 0 || len(w.f.ModelTags(w.model)) != 0 {
		t.Errorf("aliases %v, model tags %v; want none", w.f.Aliases(w.model), w.f.ModelTags(w.model))
	}
	if n := w.f.Count("SetRegisteredModelAlias"); n != 1 {
		t.Errorf("set alias sent %d times, want 1", n)
	}
	w.checkLimits(t)
}

// UC allows 50 tags per object: a promotion that would need a 51st on the
// model (its history) or the candidate (its record) is refused before
// anything moves, and says what to do.
func TestPromoteOnUnityCatalogTagRoom(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	run, lm := w.trained(t, 0.93, nil)
	full := map[string]string{}
	for i := range uc.MaxTagsPerObject {
		full[fmt.Sprintf("team_tag_%02d", i)] = "x"
	}
	crowded := w.versionWithTags(run, lm, full)
	v2 := w.version(run, lm)
	for i := range uc.MaxTagsPerObject - 1 {
		if err := w.reg.SetRegisteredModelTag(t.Context(), w.model, fmt.Sprintf("team_tag_%02d", i), "x"); err != nil {
			t.Fatal(err)
		}
	}
	_, _, err := w.promote(t, w.request(t, crowded))
	if !errors.Is(err, uc.ErrTagLimit) || !strings.Contains(err.Error(), `"main.ml.fraud" v1 has 50 tags and this promotion adds mlreg_promotion_alias_champion`) ||
		!strings.Contains(err.Error(), "nothing was changed") {
		t.Errorf("candidate with 50 tags: err = %v", err)
	}
	if len(w.f.Aliases(w.model)) != 0 || len(w.f.VersionTags(w.model, crowded)) != 50 {
		t.Errorf("after the refusal: aliases %v, %d tags on v1", w.f.Aliases(w.model), len(w.f.VersionTags(w.model, crowded)))
	}
	// 49 tags on the model: the history takes the 50th, and later promotions reuse it.
	if _, _, err := w.promote(t, w.request(t, v2)); err != nil {
		t.Fatal(err)
	}
	if err := w.reg.DeleteModelVersionTag(t.Context(), w.model, crowded, "team_tag_00"); err != nil {
		t.Fatal(err)
	}
	req := w.request(t, crowded)
	req.Action = promote.ActionRollback // the same metrics: a rollback skips the comparison
	if _, _, err := w.promote(t, req); err != nil || w.holder(t) != crowded {
		t.Fatalf("promotion with 50 tags on the model and 49 on the candidate: @champion v%s, %v", w.holder(t), err)
	}
	w.checkLimits(t)
	// A model at 50 tags without the history tag refuses the first promotion to another alias.
	req = w.request(t, v2)
	req.Target = checks.Target{Alias: "challenger"}
	req.Policy = nil
	if _, _, err := w.promote(t, req); !errors.Is(err, uc.ErrTagLimit) || !strings.Contains(err.Error(), `registered model "main.ml.fraud" has 50 tags and this promotion adds mlreg_history_alias_challenger`) {
		t.Errorf("a new target on a model with 50 tags: err = %v", err)
	}
	if _, held := w.f.Aliases(w.model)["challenger"]; held {
		t.Error("@challenger moved")
	}
}

// A run that moved the alias but could not write the history is completed
// by a rerun from the record on the version, under the UC keys.
func TestPromoteOnUnityCatalogRerunCompletesTheRecord(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	v1 := w.version(w.trained(t, 0.92, nil))
	v2 := w.version(w.trained(t, 0.95, nil))
	if _, _, err := w.promote(t, w.request(t, v1)); err != nil {
		t.Fatal(err)
	}
	w.f.Fail("SetRegisteredModelTag", ucfake.Fault{Status: 400, Code: "INVALID_PARAMETER_VALUE", Message: "refused once", Times: 1})
	req := w.request(t, v2)
	req.ArchiveExisting = true
	_, _, err := w.promote(t, req)
	var pe *promote.PartialError
	if !errors.As(err, &pe) || !strings.Contains(err.Error(), `failed to set tag "mlreg_history_alias_champion"`) {
		t.Fatalf("err = %v, want a partial error naming the UC history tag", err)
	}
	if w.holder(t) != v2 || len(w.compactHistory(t)) != 1 {
		t.Fatalf("after the failure: @champion v%s, %d history entries; want v%s and 1", w.holder(t), len(w.compactHistory(t)), v2)
	}
	_, out, err := w.promote(t, req)
	if err != nil {
		t.Fatal(err)
	}
	if out.Changed || len(out.Notes) == 0 || !strings.Contains(strings.Join(out.Notes, "; "), "completed the audit record of @champion") {
		t.Errorf("rerun: changed %v, notes %q; want the record completed", out.Changed, out.Notes)
	}
	h, err := w.svc.History(t.Context(), w.model, champion)
	if err != nil {
		t.Fatal(err)
	}
	if len(h.Entries) != 2 || h.Entries[0].Version != v2 || h.Entries[0].PreviousVersion != v1 || h.Entries[0].Verdict != "pass" || h.Drift {
		t.Errorf("history after the rerun = %+v", h)
	}
	if _, ok := w.f.VersionTags(w.model, v1)["mlreg_replaced_alias_champion"]; !ok {
		t.Errorf("v%s has no replaced mark: %v", v1, w.f.VersionTags(w.model, v1))
	}
	w.checkLimits(t)
}

// approvers approves with n reviewers whose logins are long.
type approvers int

func (n approvers) Approvals(context.Context, checks.ApprovalQuery) (checks.ApprovalResult, error) {
	r := checks.ApprovalResult{Count: int(n), Detail: "environment production"}
	for i := range int(n) {
		r.Approvers = append(r.Approvers, fmt.Sprintf("reviewer-%02d-with-a-long-login", i))
	}
	return r, nil
}

// Values a user controls (actor, run URL, commit, approvers, tags of the run
// and the version, a broken history tag) hold quotes, newlines, markup,
// unicode and more than 1,000 characters: the promotion still works, and
// every tag it writes is valid JSON within UC's limits.
func TestPromoteOnUnityCatalogHostileValues(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	notes := strings.Repeat("naïve \"quote\"\n<b>@channel</b> 🚀 \u202e ", 60) // 1,500+ characters
	runA, modelA := w.trained(t, 0.92, map[string]string{"notes": notes, "validated": "true"})
	runB, modelB := w.trained(t, 0.96, map[string]string{"notes": notes, "validated": "true"})
	userTag := strings.Repeat("ü\"\n<>", 200) // 1,000 characters, 1,200 bytes
	v1 := w.versionWithTags(runA, modelA, map[string]string{"note": userTag})
	v2 := w.versionWithTags(runB, modelB, map[string]string{"note": userTag})
	// A user wrote something that is not a history into the history tag.
	if err := w.reg.SetRegisteredModelTag(t.Context(), w.model, w.reg.TagKey("mlreg.history.alias.champion"), `{"v": "7\"]}`); err != nil {
		t.Fatal(err)
	}

	policy := gatePolicy + `    tags: {notes: present, validated: "true"}
    approval: {environment-reviews: {min: 1}}
`
	pol, err := checks.Parse("mlreg-policy.yml", []byte(policy))
	if err != nil {
		t.Fatal(err)
	}
	actor := "o'brien \"root\"\n<script>alert(1)</script> zürich 🚀 \u202eevil " + strings.Repeat("x", 1200)
	runURL := "https://github.com/acme/fraud/actions/runs/42?q=\"'\n" + strings.Repeat("✓&<>", 400)
	for _, v := range []string{v1, v2} {
		req := promote.Request{Model: w.model, Version: promote.Version(v), Target: checks.Target{Alias: "champion"}, Policy: pol,
			Approvals: approvers(60), Actor: actor, RunURL: runURL, Commit: strings.Repeat("deadbeef", 20) + "\n\"",
			ArchiveExisting: true}
		plan, out, err := w.promote(t, req)
		if err != nil {
			t.Fatalf("v%s: %v", v, err)
		}
		if plan.Verdict != checks.VerdictPass || !out.Changed {
			t.Fatalf("v%s: verdict %s, changed %v: %+v", v, plan.Verdict, out.Changed, plan.Checks)
		}
	}
	if w.holder(t) != v2 {
		t.Fatalf("@champion = v%s, want v%s", w.holder(t), v2)
	}
	w.checkLimits(t)

	rec := w.record(t, v2)
	t.Logf("the hostile record takes %d bytes, %d approvers kept, %d omitted",
		len(w.f.VersionTags(w.model, v2)["mlreg_promotion_alias_champion"]), len(rec.Approvers), rec.ApproversOmitted)
	if !utf8.ValidString(rec.By) || !strings.HasPrefix(rec.By, "o'brien \"root\"\n<script>") || !strings.HasSuffix(rec.By, "…") {
		t.Errorf("by = %q, want the actor's start, cut with …", rec.By)
	}
	if !strings.HasPrefix(rec.RunURL, "https://github.com/acme/fraud/actions/runs/42?q=") || !strings.HasSuffix(rec.RunURL, "…") {
		t.Errorf("run_url = %q", rec.RunURL)
	}
	if len(rec.Approvers) == 0 || rec.ApproversOmitted == 0 || len(rec.Approvers)+rec.ApproversOmitted != 60 ||
		rec.Approvers[0] != "reviewer-00-with-a-long-login" {
		t.Errorf("approvers %v (+%d omitted), want the first of 60 and a count of the rest", rec.Approvers, rec.ApproversOmitted)
	}
	if rec.PlanDigest == "" || rec.Verdict != "pass" || rec.PreviousVersion != v1 {
		t.Errorf("record lost a field it must keep: %+v", rec)
	}
	if got := w.f.VersionTags(w.model, v2)["note"]; got != userTag {
		t.Errorf("the user's tag changed")
	}
	var mark map[string]string
	if err := json.Unmarshal([]byte(w.f.VersionTags(w.model, v1)["mlreg_replaced_alias_champion"]), &mark); err != nil || mark["by_version"] != v2 {
		t.Errorf("replaced mark on v%s = %v, %v", v1, mark, err)
	}

	// The broken history was started again; history and rollback read it.
	h, err := w.svc.History(t.Context(), w.model, champion)
	if err != nil {
		t.Fatal(err)
	}
	if len(h.Entries) != 2 || h.Entries[0].Version != v2 || h.Entries[0].By != rec.By || h.Entries[1].Version != v1 {
		t.Errorf("history = %+v", h.Entries)
	}
	if to, _ := w.rollback(t); to != v1 || w.holder(t) != v1 {
		t.Errorf("rollback went to v%s, @champion v%s", to, w.holder(t))
	}
	w.checkLimits(t)
}

// A hundred promotions keep every object within UC's limits, and history and
// rollback still work on what the history holds.
func TestPromoteOnUnityCatalogHundredPromotions(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	const n = 100
	// Four real trained models; each version is one of them (the policy's
	// floor reads each version's metric from its logged model).
	type trained struct{ run, model string }
	var models []trained
	for _, auc := range []float64{0.91, 0.93, 0.95, 0.97} {
		r, m := w.trained(t, auc, nil)
		models = append(models, trained{r, m})
	}
	floor, err := checks.Parse("mlreg-policy.yml", []byte(`version: 1
rules:
  - name: floor
    applies-to: {alias: champion}
    metrics: {val_auc: {min: 0.90}}
    on-first-deploy: pass
`))
	if err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= n; i++ {
		m := models[i%len(models)]
		v := w.version(m.run, m.model)
		req := w.request(t, v)
		req.Policy, req.ArchiveExisting = floor, true
		req.Actor = fmt.Sprintf("release-bot-%03d", i)
		plan, out, err := w.promote(t, req)
		if err != nil {
			t.Fatalf("promotion %d: %v", i, err)
		}
		if plan.Verdict != checks.VerdictPass || !out.Changed {
			t.Fatalf("promotion %d: verdict %s, changed %v", i, plan.Verdict, out.Changed)
		}
	}
	if w.holder(t) != strconv.Itoa(n) {
		t.Fatalf("@champion = v%s, want v%d", w.holder(t), n)
	}
	w.checkLimits(t)

	stored := w.compactHistory(t)
	raw := w.f.ModelTags(w.model)["mlreg_history_alias_champion"]
	t.Logf("after %d promotions the history tag holds %d entries in %d bytes, starting %.80s", n, len(stored), len(raw), raw)
	if len(stored) < 10 {
		t.Errorf("the history tag holds %d entries, want at least 10", len(stored))
	}
	h, err := w.svc.History(t.Context(), w.model, champion)
	if err != nil {
		t.Fatal(err)
	}
	for i, e := range h.Entries {
		wantV, wantP := strconv.Itoa(n-i), strconv.Itoa(n-i-1)
		if e.Version != wantV || e.PreviousVersion != wantP || e.By != fmt.Sprintf("release-bot-%03d", n-i) ||
			e.Verdict != "pass" || e.PlanDigest == "" {
			t.Errorf("entry %d = %+v, want v%s from v%s with its full record", i, e, wantV, wantP)
		}
	}
	if h.Drift || h.Current != strconv.Itoa(n) {
		t.Errorf("current v%s, drift %v", h.Current, h.Drift)
	}
	for step, want := range []string{strconv.Itoa(n - 1), strconv.Itoa(n - 2)} {
		if to, _ := w.rollback(t); to != want || w.holder(t) != want {
			t.Fatalf("rollback %d went to v%s, @champion v%s; want v%s", step+1, to, w.holder(t), want)
		}
	}
	w.checkLimits(t)
}

// The lock of a run that died is taken over on UC as on OSS: under a
// takeover claim in the model's schema (main.ml.mlreg_takeover_<id>, with
// UC-safe tags), deleted with the expired lock once the lock is removed.
func TestPromoteOnUnityCatalogTakesOverADeadLock(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	v1 := w.version(w.trained(t, 0.95, nil))
	dead := []mlflow.Tag{{Key: w.reg.TagKey(promote.TagLockOwner), Value: "dead-run"},
		{Key: w.reg.TagKey(promote.TagLockExpires), Value: "2026-03-01T08:59:00Z"},
		{Key: w.reg.TagKey(promote.TagLockToken), Value: "0123456789abcdef"}}
	if _, err := w.reg.CreateRegisteredModel(t.Context(), uc.LockName(w.model), "", dead); err != nil {
		t.Fatal(err)
	}
	_, out, err := w.promote(t, w.request(t, v1))
	if err != nil {
		t.Fatal(err)
	}
	if w.holder(t) != v1 || !slices.Contains(out.Notes, "removed the expired lock of dead-run (expired 2026-03-01T08:59:00Z)") {
		t.Errorf("@champion v%s, notes %q; want v%s and the dead run's lock removed", w.holder(t), out.Notes, v1)
	}
	var claims []string
	for _, c := range w.f.Calls() {
		var body struct {
			Name string       `json:"name"`
			Tags []mlflow.Tag `json:"tags"`
		}
		if c.RPC == "CreateRegisteredModel" && json.Unmarshal(c.Body, &body) == nil && strings.HasPrefix(body.Name, "main.ml."+uc.TakeoverPrefix) {
			claims = append(claims, body.Name)
			if len(body.Tags) != 3 || body.Tags[2].Key != "mlreg_lock_token" {
				t.Errorf("claim %s created with tags %v, want UC-safe owner, expiry and token", body.Name, body.Tags)
			}
		}
	}
	if len(claims) != 1 {
		t.Fatalf("claims created: %v, want one in main.ml", claims)
	}
	if w.f.HasModel(claims[0]) {
		t.Errorf("the claim %s is left behind", claims[0])
	}
	w.checkLimits(t)
}
