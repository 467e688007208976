package action_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/mlreg/mlreg-action/internal/testing/mlflowtest"
)

const gatePolicy = `version: 1
rules:
  - name: production gate
    applies-to:
      alias: champion
    metrics:
      val_auc:
        min: 0.90
        vs-champion:
          min-improvement: 0.002
    tags:
      dataset_version: present
    run:
      status: FINISHED
      max-age: 168h
  - name: stage gate
    applies-to:
      stage: production
    metrics:
      val_auc:
        min: 0.90
        vs-champion:
          max-regression: 0.0
`

func policyFiles() map[string]string {
	return map[string]string{".github/mlreg-policy.yml": gatePolicy}
}

func promoteInputs(model string, extra ...string) map[string]string {
	in := map[string]string{"model-name": model, "target-alias": "champion"}
	for i := 0; i+1 < len(extra); i += 2 {
		in[extra[i]] = extra[i+1]
	}
	return in
}

func auc(v float64) versionSpec { return versionSpec{metrics: map[string]float64{"val_auc": v}} }

func TestPromoteFirstDeploy(t *testing.T) {
	t.Parallel()
	model, f := newModel(t, auc(0.92))
	res := runAction(t, promoteInputs(model), policyFiles())
	if res.code != 0 {
		t.Fatalf("exit %d, want 0\nstdout:\n%s", res.code, res.stdout)
	}
	if got := aliasOf(t, f, model, "champion"); got != "1" {
		t.Errorf("@champion = %q, want 1", got)
	}
	want := map[string]string{"verdict": "pass", "model-version": "1", "previous-version": "", "changed": "true",
		"model-uri": "models:/" + model + "/1", "alias-uri": "models:/" + model + "@champion"}
	for k, v := range want {
		if res.outputs[k] != v {
			t.Errorf("output %s = %q, want %q", k, res.outputs[k], v)
		}
	}
	if !strings.Contains(res.summary, "promoted to &#64;champion") || !strings.Contains(res.summary, "first deploy") {
		t.Errorf("summary lacks the verdict or the first-deploy reason:\n%s", res.summary)
	}
}

func TestPromoteBetterChallengerRecordsPrevious(t *testing.T) {
	t.Parallel()
	model, f := newModel(t, auc(0.91), auc(0.95))
	ctx := t.Context()
	if err := f.SetAlias(ctx, model, "champion", "1"); err != nil {
		t.Fatal(err)
	}
	res := runAction(t, promoteInputs(model, "version", "2"), policyFiles())
	if res.code != 0 {
		t.Fatalf("exit %d, want 0\n%s", res.code, res.stdout)
	}
	if got := aliasOf(t, f, model, "champion"); got != "2" {
		t.Fatalf("@champion = %q, want 2", got)
	}
	if res.outputs["previous-version"] != "1" {
		t.Errorf("previous-version = %q, want 1", res.outputs["previous-version"])
	}
	vtags, err := f.VersionTags(ctx, model, "2")
	if err != nil {
		t.Fatal(err)
	}
	var rec map[string]any
	if err := json.Unmarshal([]byte(vtags["mlreg.promotion.alias.champion"]), &rec); err != nil {
		t.Fatalf("promotion tag: %v (%q)", err, vtags["mlreg.promotion.alias.champion"])
	}
	wantRec := map[string]any{
		"version": "2", "previous_version": "1", "action": "promote", "at": "2026-11-25T12:00:00Z", "by": "octocat",
		"run_url": "https://github.com/acme/models/actions/runs/4242", "commit": "0123456789abcdef0123456789abcdef01234567",
		"verdict": "pass", "plan_digest": res.outputs["plan-digest"], "policy_digest": rec["policy_digest"],
	}
	if diff := cmp.Diff(wantRec, rec); diff != "" {
		t.Errorf("promotion tag (-want +got):\n%s", diff)
	}
	if d, _ := rec["policy_digest"].(string); !strings.HasPrefix(d, "sha256:") {
		t.Errorf("policy_digest = %q, want sha256:...", d)
	}
	mtags, err := f.ModelTags(ctx, model)
	if err != nil {
		t.Fatal(err)
	}
	var hist []map[string]any
	if err := json.Unmarshal([]byte(mtags["mlreg.history.alias.champion"]), &hist); err != nil {
		t.Fatalf("history tag: %v", err)
	}
	if len(hist) != 1 || hist[0]["version"] != "2" || hist[0]["previous_version"] != "1" {
		t.Errorf("history = %v, want one entry v2 replacing v1", hist)
	}
	old, err := f.VersionTags(ctx, model, "1")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(old["mlreg.replaced.alias.champion"], `"by_version":"2"`) {
		t.Errorf("previous holder not marked as replaced: %v", old)
	}
}

func TestPromoteWorseChallengerExits1(t *testing.T) {
	t.Parallel()
	model, f := newModel(t, auc(0.93), auc(0.931))
	if err := f.SetAlias(t.Context(), model, "champion", "1"); err != nil {
		t.Fatal(err)
	}
	res := runAction(t, promoteInputs(model), policyFiles())
	if res.code != 1 {
		t.Fatalf("exit %d, want 1\n%s", res.code, res.stdout)
	}
	if got := aliasOf(t, f, model, "champion"); got != "1" {
		t.Errorf("@champion moved to %q on a failing verdict", got)
	}
	if res.outputs["verdict"] != "fail" || res.outputs["changed"] != "false" {
		t.Errorf("outputs = %v", res.outputs)
	}
	if !strings.Contains(res.stdout, "::error") || !strings.Contains(res.stdout, "val_auc") {
		t.Errorf("no error annotation naming the metric:\n%s", res.stdout)
	}
	if n := strings.Count(res.stdout, "::error"); n != 1 {
		t.Errorf("%d error annotations, want 1", n)
	}
}

func TestDryRunChangesNothing(t *testing.T) {
	t.Parallel()
	model, f := newModel(t, auc(0.91), auc(0.95))
	ctx := t.Context()
	if err := f.SetAlias(ctx, model, "champion", "1"); err != nil {
		t.Fatal(err)
	}
	for _, in := range []map[string]string{
		promoteInputs(model, "dry-run", "true"),
		promoteInputs(model, "command", "validate"),
	} {
		res := runAction(t, in, policyFiles())
		if res.code != 0 || res.outputs["verdict"] != "pass" || res.outputs["changed"] != "false" {
			t.Fatalf("exit %d outputs %v\n%s", res.code, res.outputs, res.stdout)
		}
	}
	if got := aliasOf(t, f, model, "champion"); got != "1" {
		t.Errorf("@champion = %q after dry run, want 1", got)
	}
	tags, err := f.ModelTags(ctx, model)
	if err != nil {
		t.Fatal(err)
	}
	vtags, err := f.VersionTags(ctx, model, "2")
	if err != nil {
		t.Fatal(err)
	}
	if len(tags)+len(vtags) != 0 {
		t.Errorf("dry run wrote tags: model %v, version %v", tags, vtags)
	}
}

func TestRerunIsNoOp(t *testing.T) {
	t.Parallel()
	model, f := newModel(t, auc(0.91), auc(0.95))
	if err := f.SetAlias(t.Context(), model, "champion", "1"); err != nil {
		t.Fatal(err)
	}
	first := runAction(t, promoteInputs(model), policyFiles())
	if first.code != 0 || first.outputs["changed"] != "true" {
		t.Fatalf("first run: exit %d outputs %v", first.code, first.outputs)
	}
	before, err := f.ModelTags(t.Context(), model)
	if err != nil {
		t.Fatal(err)
	}
	second := runAction(t, promoteInputs(model), policyFiles())
	if second.code != 0 || second.outputs["changed"] != "false" {
		t.Fatalf("rerun: exit %d outputs %v\n%s", second.code, second.outputs, second.stdout)
	}
	if !strings.Contains(second.summary, "already in place") {
		t.Errorf("rerun summary does not say already in place:\n%s", second.summary)
	}
	after, err := f.ModelTags(t.Context(), model)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(before, after); diff != "" {
		t.Errorf("rerun changed the audit history (-before +after):\n%s", diff)
	}
}

func TestCompareAndSetConflictExits4(t *testing.T) {
	t.Parallel()
	model, f := newModel(t, auc(0.91), auc(0.92), auc(0.95))
	if err := f.SetAlias(t.Context(), model, "champion", "2"); err != nil {
		t.Fatal(err)
	}
	// The plan was made (e.g. on the pull request) when v1 held @champion.
	res := runAction(t, promoteInputs(model, "version", "3", "expected-current-version", "1"), policyFiles())
	if res.code != 4 {
		t.Fatalf("exit %d, want 4\n%s", res.code, res.stdout)
	}
	if got := aliasOf(t, f, model, "champion"); got != "2" {
		t.Errorf("@champion = %q, want it left at 2", got)
	}
	if !strings.Contains(res.stdout, "held by v2") || !strings.Contains(res.stdout, "expected v1") {
		t.Errorf("conflict message does not name both versions:\n%s", res.stdout)
	}
}

func TestStageTransitionArchivesPrevious(t *testing.T) {
	t.Parallel()
	model, f := newModel(t, auc(0.91), auc(0.95))
	ctx := t.Context()
	if err := f.Transition(ctx, model, "1", "Production"); err != nil {
		t.Fatal(err)
	}
	res := runAction(t, map[string]string{"model-name": model, "version": "2", "target-stage": "production"}, policyFiles())
	if res.code != 0 {
		t.Fatalf("exit %d\n%s", res.code, res.stdout)
	}
	stages := map[string]string{}
	for _, v := range []string{"1", "2"} {
		mv, err := f.GetVersion(ctx, model, v)
		if err != nil {
			t.Fatal(err)
		}
		stages[v], _ = mv["current_stage"].(string)
	}
	if diff := cmp.Diff(map[string]string{"1": "Archived", "2": "Production"}, stages); diff != "" {
		t.Errorf("stages (-want +got):\n%s", diff)
	}
	tags, err := f.ModelTags(ctx, model)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(tags["mlreg.history.stage.Production"], `"previous_version":"1"`) {
		t.Errorf("stage history = %q", tags["mlreg.history.stage.Production"])
	}
}

func TestAliasAndStageInOneStep(t *testing.T) {
	t.Parallel()
	model, f := newModel(t, auc(0.91), auc(0.95))
	ctx := t.Context()
	if err := f.SetAlias(ctx, model, "champion", "1"); err != nil {
		t.Fatal(err)
	}
	if err := f.Transition(ctx, model, "1", "Production"); err != nil {
		t.Fatal(err)
	}
	res := runAction(t, map[string]string{"model-name": model, "target-alias": "champion", "target-stage": "Production"}, policyFiles())
	if res.code != 0 {
		t.Fatalf("exit %d\n%s", res.code, res.stdout)
	}
	mv, err := f.GetVersion(ctx, model, "2")
	if err != nil {
		t.Fatal(err)
	}
	if got := aliasOf(t, f, model, "champion"); got != "2" || mv["current_stage"] != "Production" {
		t.Errorf("@champion = %q, v2 stage = %v; want 2 and Production", got, mv["current_stage"])
	}
	tags, err := f.ModelTags(ctx, model)
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"mlreg.history.alias.champion", "mlreg.history.stage.Production"} {
		if tags[k] == "" {
			t.Errorf("missing history tag %s", k)
		}
	}
}

func TestMissingModelOrVersionExits3(t *testing.T) {
	t.Parallel()
	model, _ := newModel(t, auc(0.95))
	cases := []struct {
		name, model, version, want string
	}{
		{"missing model", mlflowtest.UniqueName(t, "nope"), "1", "RESOURCE_DOES_NOT_EXIST"},
		{"missing version", model, "7", "RESOURCE_DOES_NOT_EXIST"},
		{"unset alias", model, "@challenger", "challenger"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			res := runAction(t, promoteInputs(tc.model, "version", tc.version), policyFiles())
			if res.code != 3 {
				t.Fatalf("exit %d, want 3\n%s", res.code, res.stdout)
			}
			if !strings.Contains(res.stdout, tc.want) {
				t.Errorf("error does not mention %q:\n%s", tc.want, res.stdout)
			}
		})
	}
}

func TestLoggedModelMetrics(t *testing.T) {
	t.Parallel()
	// The run says 0.5, the logged model (evaluated on holdout) says 0.97: the logged model wins.
	model, f := newModel(t,
		versionSpec{metrics: map[string]float64{"val_auc": 0.5}, logged: []mlflowtest.LoggedMetric{
			{Key: "val_auc", Value: 0.97, Dataset: "holdout"}, {Key: "val_auc", Value: 0.2, Dataset: "train"},
		}},
	)
	policy := `version: 1
rules:
  - name: holdout gate
    applies-to: {alias: champion}
    metrics:
      val_auc: {min: 0.95, dataset: holdout}
`
	res := runAction(t, promoteInputs(model), map[string]string{".github/mlreg-policy.yml": policy})
	if res.code != 0 {
		t.Fatalf("exit %d\n%s", res.code, res.stdout)
	}
	if got := aliasOf(t, f, model, "champion"); got != "1" {
		t.Errorf("@champion = %q, want 1", got)
	}
	if !strings.Contains(res.summary, "0.97") {
		t.Errorf("summary does not show the logged-model value 0.97:\n%s", res.summary)
	}
}

func TestMetricAggregateOverHistory(t *testing.T) {
	t.Parallel()
	// The latest latency is fine (30) but the worst of the history (55) is over the bound.
	model, f := newModel(t, versionSpec{history: map[string][]float64{"latency_p95_ms": {41, 55, 30}}})
	policy := `version: 1
rules:
  - name: latency
    applies-to: {alias: champion}
    metrics:
      latency_p95_ms: {max: 40, aggregate: max}
`
	res := runAction(t, promoteInputs(model), map[string]string{".github/mlreg-policy.yml": policy})
	if res.code != 1 {
		t.Fatalf("exit %d, want 1\n%s", res.code, res.stdout)
	}
	if !strings.Contains(res.summary, "55") {
		t.Errorf("summary does not show the aggregated 55:\n%s", res.summary)
	}
	if got := aliasOf(t, f, model, "champion"); got != "" {
		t.Errorf("@champion = %q, want unset", got)
	}
	policy = strings.Replace(policy, "aggregate: max", "aggregate: last", 1)
	res = runAction(t, promoteInputs(model), map[string]string{".github/mlreg-policy.yml": policy})
	if res.code != 0 {
		t.Fatalf("aggregate last: exit %d, want 0\n%s", res.code, res.stdout)
	}
}
