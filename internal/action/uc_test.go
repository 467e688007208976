package action_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/mlreg/mlreg-action/internal/action"
	"github.com/mlreg/mlreg-action/internal/mlflow"
	"github.com/mlreg/mlreg-action/internal/promote"
	"github.com/mlreg/mlreg-action/internal/testing/mlflowtest"
	"github.com/mlreg/mlreg-action/internal/testing/ucfake"
	"github.com/mlreg/mlreg-action/internal/uc"
)

// Unity Catalog scenarios, each through Main as a user runs it: the
// registry is the UC fake (every request checked against MLflow's UC
// protos, UC's tag limits enforced), reached as registry-uri: databricks-uc
// with DATABRICKS_HOST and DATABRICKS_TOKEN; tracking-uri: databricks on the
// same host, whose tracking calls the fake forwards to the harness's real
// MLflow server, so runs and logged-model metrics are real.

const ucModel = "main.ml.fraud"

const ucPolicy = `version: 1
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

func ucPolicyFiles() map[string]string {
	return map[string]string{".github/mlreg-policy.yml": ucPolicy}
}

// ucWorld is one UC fake in front of the real tracking server.
type ucWorld struct {
	f   *ucfake.Server
	fx  *mlflowtest.Fixtures
	exp string
}

func newUCWorld(t *testing.T) *ucWorld {
	t.Helper()
	s := mlflowtest.RequireServer(t, srv)
	fx := s.Fixtures()
	exp, err := fx.CreateExperiment(t.Context(), mlflowtest.UniqueName(t, "uc"))
	if err != nil {
		t.Fatal(err)
	}
	w := &ucWorld{f: newUCFake(t, s.URL), fx: fx, exp: exp}
	return w
}

// newUCFake starts a UC fake that fails the test on any request that breaks
// MLflow's UC proto; tracking is "" for a fake that must see no tracking call.
func newUCFake(t *testing.T, tracking string) *ucfake.Server {
	t.Helper()
	f := ucfake.New(t, ucfake.Options{TrackingURL: tracking})
	t.Cleanup(func() {
		if v := f.Violations(); len(v) > 0 {
			t.Errorf("requests that broke MLflow's UC proto: %q", v)
		}
	})
	return f
}

// trained logs a finished run and its logged model, whose val_auc is auc,
// and registers a UC version of ucModel from it (with version tags).
func (w *ucWorld) trained(t *testing.T, auc float64, runTags, versionTags map[string]string) string {
	t.Helper()
	ctx := t.Context()
	run, err := w.fx.CreateRun(ctx, w.exp, mlflowtest.RunSpec{Metrics: map[string]float64{"train_auc": auc + 0.01},
		Tags: runTags, EndTime: fixedNow.Add(-time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	id, err := w.fx.CreateLoggedModel(ctx, w.exp, run, []mlflowtest.LoggedMetric{{Key: "val_auc", Value: auc, Dataset: "eval"}})
	if err != nil {
		t.Fatal(err)
	}
	return w.f.CreateModelVersion(ucModel, ucfake.Version{Source: "models:/" + id, RunID: run, ModelID: id, Tags: versionTags})
}

// ucInputs are a workflow step's inputs and env for Unity Catalog, plus
// extra input/value pairs.
func ucInputs(f *ucfake.Server, extra ...string) map[string]string {
	in := map[string]string{
		"tracking-uri":        "databricks",
		"DATABRICKS_HOST":     f.URL(),
		"DATABRICKS_TOKEN":    f.Token(),
		"MLFLOW_REGISTRY_URI": "databricks-uc",
		"model-name":          ucModel,
		"target-alias":        "champion",
	}
	for i := 0; i+1 < len(extra); i += 2 {
		in[extra[i]] = extra[i+1]
	}
	return in
}

func (w *ucWorld) run(t *testing.T, extra ...string) result {
	t.Helper()
	return runAction(t, ucInputs(w.f, extra...), ucPolicyFiles())
}

func (w *ucWorld) holder() string { return w.f.Aliases(ucModel)["champion"] }

// writes are the calls since call n that change the model or its versions
// (taking and releasing the promotion lock is not one).
func (w *ucWorld) writes(n int) []string {
	var out []string
	for _, c := range w.f.Calls()[n:] {
		if bytes.Contains(c.Body, []byte(uc.LockName(ucModel))) {
			continue
		}
		if strings.HasPrefix(c.RPC, "Set") || strings.HasPrefix(c.RPC, "Create") || strings.HasPrefix(c.RPC, "Delete") {
			out = append(out, c.RPC)
		}
	}
	return out
}

// record decodes the promotion tag of a version, stored under its UC key.
func (w *ucWorld) record(t *testing.T, version string) promote.Record {
	t.Helper()
	v, ok := w.f.VersionTags(ucModel, version)["mlreg_promotion_alias_champion"]
	if !ok {
		t.Fatalf("v%s has no tag mlreg_promotion_alias_champion: %v", version, w.f.VersionTags(ucModel, version))
	}
	var rec promote.Record
	if err := json.Unmarshal([]byte(v), &rec); err != nil {
		t.Fatalf("v%s promotion tag %q: %v", version, v, err)
	}
	return rec
}

// checkLimits asserts UC's tag limits on the model and its versions, and
// that the promotion lock is gone.
func (w *ucWorld) checkLimits(t *testing.T) {
	t.Helper()
	for _, p := range w.f.LimitProblems(ucModel) {
		t.Error(p)
	}
	if w.f.HasModel(uc.LockName(ucModel)) {
		t.Errorf("the lock %s is left behind", uc.LockName(ucModel))
	}
}

// ucClient is a UC client of the fake, for a move made outside mlreg-action.
func ucClient(t *testing.T, f *ucfake.Server) *uc.Client {
	t.Helper()
	mc, err := mlflow.New(mlflow.Options{TrackingURI: f.URL(), Token: f.Token(), MaxRetries: -1})
	if err != nil {
		t.Fatal(err)
	}
	return uc.New(mc)
}

// runCLI runs the binary from a terminal: a command line and an environment.
func runCLI(t *testing.T, env map[string]string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code = action.Main(t.Context(), action.Env{
		Args: args, Getenv: func(k string) string { return env[k] }, Stdout: &out, Stderr: &errOut,
		HTTPClient: runHTTPClient(), Now: func() time.Time { return fixedNow }, WorkDir: t.TempDir(), Version: "test",
	})
	return code, out.String(), errOut.String()
}

// A model's life on Unity Catalog: first deploy, a better challenger, a
// worse one, a rerun, two rollbacks, history and drift.
func TestUCPromotionLifecycle(t *testing.T) {
	t.Parallel()
	w := newUCWorld(t)
	v1 := w.trained(t, 0.92, nil, nil)
	v2 := w.trained(t, 0.95, nil, nil)
	v3 := w.trained(t, 0.90, nil, nil)
	v4 := w.trained(t, 0.97, nil, nil)

	first := w.run(t, "version", v1)
	if first.code != action.ExitOK {
		t.Fatalf("first deploy: exit %d\n%s", first.code, first.stdout)
	}
	want := map[string]string{"verdict": "pass", "model-version": v1, "previous-version": "", "changed": "true",
		"model-uri": "models:/" + ucModel + "/" + v1, "alias-uri": "models:/" + ucModel + "@champion"}
	for k, v := range want {
		if first.outputs[k] != v {
			t.Errorf("first deploy: output %s = %q, want %q", k, first.outputs[k], v)
		}
	}
	if w.holder() != v1 {
		t.Fatalf("@champion = %q, want v%s", w.holder(), v1)
	}
	rec := w.record(t, v1)
	if rec.Version != v1 || rec.By != "octocat" || rec.Verdict != "pass" || rec.PlanDigest != first.outputs["plan-digest"] ||
		rec.RunURL != "https://github.com/acme/models/actions/runs/4242" {
		t.Errorf("v%s record = %+v", v1, rec)
	}
	if tags := w.f.ModelTags(ucModel); len(tags) != 1 || tags["mlreg_history_alias_champion"] == "" {
		t.Errorf("model tags = %v, want the history under mlreg_history_alias_champion only", tags)
	}
	explorer := w.f.URL() + "/explore/data/models/main/ml/fraud/version/" + v1
	if !strings.Contains(first.summary, explorer) {
		t.Errorf("the job summary does not link the version's Catalog Explorer page %s:\n%s", explorer, first.summary)
	}
	noSecrets(t, first, w.f.Token())

	better := w.run(t, "version", v2)
	if better.code != action.ExitOK || w.holder() != v2 || better.outputs["previous-version"] != v1 {
		t.Fatalf("better challenger: exit %d, @champion v%s, outputs %v\n%s", better.code, w.holder(), better.outputs, better.stdout)
	}
	if !strings.Contains(better.summary, "0.95") || !strings.Contains(better.summary, "0.92") {
		t.Errorf("the summary lacks the logged models' val_auc 0.95 against 0.92:\n%s", better.summary)
	}
	if _, ok := w.f.VersionTags(ucModel, v1)["mlreg_replaced_alias_champion"]; !ok {
		t.Errorf("v%s lacks the replaced mark: %v", v1, w.f.VersionTags(ucModel, v1))
	}

	n := len(w.f.Calls())
	worse := w.run(t, "version", v3)
	if worse.code != action.ExitPolicy || w.holder() != v2 || worse.outputs["verdict"] != "fail" {
		t.Fatalf("worse one: exit %d, @champion v%s, outputs %v", worse.code, w.holder(), worse.outputs)
	}
	if a := errorAnnotation(t, worse.stdout); !strings.Contains(a.msg, "val_auc") {
		t.Errorf("annotation %q does not name val_auc", a.msg)
	}
	if got := w.writes(n); len(got) != 0 || len(w.f.VersionTags(ucModel, v3)) != 0 {
		t.Errorf("a refused candidate wrote %v; v%s tags %v", got, v3, w.f.VersionTags(ucModel, v3))
	}

	history := w.f.ModelTags(ucModel)["mlreg_history_alias_champion"]
	n = len(w.f.Calls())
	rerun := w.run(t, "version", v2)
	if rerun.code != action.ExitOK || rerun.outputs["changed"] != "false" || w.holder() != v2 {
		t.Fatalf("rerun: exit %d, outputs %v", rerun.code, rerun.outputs)
	}
	if got := w.writes(n); len(got) != 0 {
		t.Errorf("the rerun wrote %v", got)
	}
	if w.f.ModelTags(ucModel)["mlreg_history_alias_champion"] != history {
		t.Error("the rerun changed the history")
	}

	n, locks := len(w.f.Calls()), w.f.Count("CreateRegisteredModel")
	validate := w.run(t, "command", "validate", "version", v4)
	if validate.code != action.ExitOK || validate.outputs["verdict"] != "pass" || validate.outputs["changed"] != "false" || w.holder() != v2 {
		t.Fatalf("validate v%s: exit %d, outputs %v, @champion v%s", v4, validate.code, validate.outputs, w.holder())
	}
	if got := w.writes(n); len(got) != 0 || w.f.Count("CreateRegisteredModel") != locks {
		t.Errorf("validate wrote %v, or took the lock", got)
	}

	if res := w.run(t, "version", v4); res.code != action.ExitOK || w.holder() != v4 {
		t.Fatalf("v%s: exit %d, @champion v%s", v4, res.code, w.holder())
	}
	for _, to := range []string{v2, v1} {
		res := w.run(t, "command", "rollback")
		if res.code != action.ExitOK || w.holder() != to || res.outputs["model-version"] != to || res.outputs["changed"] != "true" {
			t.Fatalf("rollback to v%s: exit %d, @champion v%s, outputs %v\n%s", to, res.code, w.holder(), res.outputs, res.stdout)
		}
	}
	if rec := w.record(t, v1); rec.Action != "rollback" || rec.PreviousVersion != v2 {
		t.Errorf("v%s record after the rollback = %+v", v1, rec)
	}

	// history, from a terminal, as JSON.
	cliEnv := map[string]string{"DATABRICKS_HOST": w.f.URL(), "DATABRICKS_TOKEN": w.f.Token()}
	args := []string{"history", "--model-name", ucModel, "--target-alias", "champion", "--tracking-uri", "databricks",
		"--registry-uri", "databricks-uc", "--format", "json"}
	code, stdout, stderr := runCLI(t, cliEnv, args...)
	if code != action.ExitOK {
		t.Fatalf("history: exit %d\n%s%s", code, stdout, stderr)
	}
	var hs []struct {
		Current string           `json:"current"`
		Drift   bool             `json:"drift"`
		Entries []promote.Record `json:"entries"`
	}
	if err := json.Unmarshal([]byte(stdout), &hs); err != nil || len(hs) != 1 {
		t.Fatalf("history JSON: %v\n%s", err, stdout)
	}
	type row struct{ Version, Previous, Action string }
	var got []row
	for _, e := range hs[0].Entries {
		got = append(got, row{e.Version, e.PreviousVersion, e.Action})
	}
	wantRows := []row{{v1, v2, "rollback"}, {v2, v4, "rollback"}, {v4, v2, "promote"}, {v2, v1, "promote"}, {v1, "", "promote"}}
	if diff := cmp.Diff(wantRows, got); diff != "" || hs[0].Current != v1 || hs[0].Drift {
		t.Errorf("history: current v%s, drift %v, entries (-want +got):\n%s", hs[0].Current, hs[0].Drift, diff)
	}
	if strings.Contains(stdout+stderr, w.f.Token()) {
		t.Error("the token was printed")
	}

	// Moved outside mlreg-action: drift, a warning, and status 1 with fail-on-drift.
	if err := ucClient(t, w.f).SetAlias(t.Context(), ucModel, "champion", v3); err != nil {
		t.Fatal(err)
	}
	drift := w.run(t, "command", "history")
	if drift.code != action.ExitOK || drift.outputs["drift"] != "true" || drift.outputs["model-version"] != v3 ||
		!strings.Contains(drift.stdout, "::warning::drift") {
		t.Errorf("history after an outside move: exit %d, outputs %v\n%s", drift.code, drift.outputs, drift.stdout)
	}
	if res := w.run(t, "command", "history", "fail-on-drift", "true"); res.code != action.ExitPolicy {
		t.Errorf("history with fail-on-drift: exit %d, want %d", res.code, action.ExitPolicy)
	}
	w.checkLimits(t)
	rpcs := map[string]int{}
	for _, c := range w.f.Calls() {
		rpcs[c.RPC+" "+c.Method+" "+strings.TrimPrefix(c.Path, "/api/2.0/mlflow")]++
	}
	t.Logf("requests by endpoint: %v", rpcs)
}

// The registry on Unity Catalog, the tracking server elsewhere (an MLflow
// server with its own token): UC is reached with DATABRICKS_HOST and
// DATABRICKS_TOKEN, which is masked like the tracking token.
func TestUCWithAnotherTrackingServer(t *testing.T) {
	t.Parallel()
	w := newUCWorld(t)
	v1 := w.trained(t, 0.92, nil, nil)
	const trackingToken = "mlflow-tracking-token-not-a-real-one"
	res := w.run(t, "tracking-uri", srv.URL, "MLFLOW_TRACKING_TOKEN", trackingToken, "version", v1)
	if res.code != action.ExitOK || w.holder() != v1 {
		t.Fatalf("exit %d, @champion v%s\n%s", res.code, w.holder(), res.stdout)
	}
	if n := w.f.Count("forward"); n != 0 {
		t.Errorf("%d tracking calls reached the workspace, want none (the tracking server is %s)", n, srv.URL)
	}
	for _, secret := range []string{w.f.Token(), trackingToken} {
		if !strings.Contains(res.stdout, "::add-mask::"+secret+"\n") {
			t.Errorf("%.8s… is not masked", secret)
		}
	}
	noSecrets(t, res, w.f.Token(), trackingToken)
	if !strings.Contains(res.summary, srv.URL+"/#/runs/") {
		t.Errorf("the summary does not link the run on the tracking server %s:\n%s", srv.URL, res.summary)
	}
}

// Input Unity Catalog cannot take is invalid input (status 2), named in the
// annotation, before any request.
func TestUCRefusedBeforeAnyRequest(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name  string
		extra []string
		says  []string
	}{
		{"stage", []string{"target-alias", "", "target-stage", "Production"},
			[]string{"input target-stage: Unity Catalog has no model stages", "use target-alias"}},
		{"alias and stage", []string{"target-stage", "staging"}, []string{"input target-stage"}},
		{"history of a stage", []string{"command", "history", "target-alias", "", "target-stage", "Production"}, []string{"input target-stage"}},
		{"two-level name", []string{"model-name", "ml.fraud"}, []string{"input model-name", `"ml.fraud"`, "catalog.schema.model"}},
		{"one-level name", []string{"model-name", "fraud", "command", "rollback"}, []string{"input model-name", "catalog.schema.model"}},
		{"register", []string{"command", "register", "source", "models:/m-0123456789abcdef"},
			[]string{"input command: register is not available with registry-uri: databricks-uc", "mlflow.register_model", "promote it with mlreg-action"}},
		{"unknown registry", []string{"MLFLOW_REGISTRY_URI", "unity-catalog"}, []string{"input registry-uri", "databricks-uc", `"unity-catalog"`}},
		{"profile", []string{"registry-uri", "databricks-uc://prod"}, []string{"input registry-uri", "profile", "DATABRICKS_HOST"}},
		{"tracking profile", []string{"tracking-uri", "databricks://prod"}, []string{"input tracking-uri", "profile", "DATABRICKS_HOST"}},
		{"no token", []string{"DATABRICKS_TOKEN", "", "tracking-uri", "http://127.0.0.1:1"},
			[]string{"input registry-uri: databricks-uc needs", "DATABRICKS_TOKEN"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := newUCFake(t, "")
			res := runAction(t, ucInputs(f, tc.extra...), ucPolicyFiles())
			if res.code != action.ExitInvalid {
				t.Fatalf("exit %d, want %d\n%s", res.code, action.ExitInvalid, res.stdout)
			}
			a := errorAnnotation(t, res.stdout)
			for _, s := range tc.says {
				if !strings.Contains(a.msg, s) {
					t.Errorf("annotation %q does not say %q", a.msg, s)
				}
			}
			if calls := f.Calls(); len(calls) != 0 {
				t.Errorf("sent %d requests, want none: %v", len(calls), calls)
			}
			noSecrets(t, res, f.Token())
		})
	}
}

// UC lets only a model's owner or a metastore admin move its aliases: a
// refusal is status 3, says so in the annotation, and moves nothing.
func TestUCPermissionDeniedOnSetAlias(t *testing.T) {
	t.Parallel()
	w := newUCWorld(t)
	v1 := w.trained(t, 0.92, nil, nil)
	w.f.Fail("SetRegisteredModelAlias", ucfake.PermissionDenied())
	res := w.run(t, "version", v1)
	if res.code != action.ExitRegistry {
		t.Fatalf("exit %d, want %d\n%s", res.code, action.ExitRegistry, res.stdout)
	}
	a := errorAnnotation(t, res.stdout)
	for _, s := range []string{"registry error", `only the owner of registered model "main.ml.fraud" or a metastore admin`,
		"@champion", "PERMISSION_DENIED"} {
		if !strings.Contains(a.msg, s) {
			t.Errorf("annotation %q does not say %q", a.msg, s)
		}
	}
	if strings.Contains(a.msg, "EDIT permission") {
		t.Errorf("annotation %q gives MLflow's permission advice on Unity Catalog", a.msg)
	}
	if w.holder() != "" || w.f.ModelTags(ucModel)["mlreg_history_alias_champion"] != "" || res.outputs["changed"] != "false" {
		t.Errorf("after the refusal: @champion %q, model tags %v, outputs %v", w.holder(), w.f.ModelTags(ucModel), res.outputs)
	}
	if w.f.Count("SetRegisteredModelAlias") != 1 {
		t.Errorf("set alias sent %d times, want once (a refusal is not retried)", w.f.Count("SetRegisteredModelAlias"))
	}
	w.checkLimits(t)
}

// Slack's "same promotion" check reads the promotion record and the message
// key under their UC keys: a rerun edits the message instead of posting again.
// The candidate is the default, latest, which UC finds by searching.
func TestUCSlackMessageEditedOnRerun(t *testing.T) {
	t.Parallel()
	w := newUCWorld(t)
	v1 := w.trained(t, 0.92, nil, nil)
	sl := newSlackRecorder(t)
	slack := []string{action.EnvSlackAPIURL, sl.srv.GetAPIURL(), "slack-token", slackToken, "slack-channel", "#ml"}
	for i := range 2 {
		if res := w.run(t, slack...); res.code != action.ExitOK || res.outputs["notify-errors"] != "" {
			t.Fatalf("run %d: exit %d, notify-errors %q\n%s", i+1, res.code, res.outputs["notify-errors"], res.stdout)
		}
	}
	if w.holder() != v1 || w.f.Count("SearchModelVersions") == 0 {
		t.Errorf("version latest: @champion v%s after %d searches, want v%s found by search", w.holder(), w.f.Count("SearchModelVersions"), v1)
	}
	want := []string{"chat.postMessage ml", "chat.update C0MLREG 1764072000.000001"}
	if diff := cmp.Diff(want, sl.got()); diff != "" {
		t.Errorf("Slack calls (-want +got):\n%s", diff)
	}
	var ref struct {
		TS string `json:"ts"`
	}
	if err := json.Unmarshal([]byte(w.f.VersionTags(ucModel, v1)["mlreg_slack_alias_champion"]), &ref); err != nil || ref.TS == "" {
		t.Errorf("v%s tags %v: no Slack message key under mlreg_slack_alias_champion (%v)", v1, w.f.VersionTags(ucModel, v1), err)
	}
	w.checkLimits(t)
}

// Hostile values from the workflow, the run and the registry stay within
// UC's limits, are escaped in the report, and history and rollback read
// what was stored.
func TestUCHostileValues(t *testing.T) {
	t.Parallel()
	w := newUCWorld(t)
	notes := strings.Repeat("naïve \"quote\"\n<b>@channel</b> 🚀 \u202e ", 60)
	userTag := strings.Repeat("ü\"\n<>", 200) // 1,000 characters, 1,200 bytes
	runTags := map[string]string{"notes": notes}
	v1 := w.trained(t, 0.92, runTags, map[string]string{"note": userTag})
	v2 := w.trained(t, 0.96, runTags, map[string]string{"note": userTag})
	// Someone wrote something that is not a history into the history tag.
	if err := ucClient(t, w.f).SetRegisteredModelTag(t.Context(), ucModel, "mlreg_history_alias_champion", `{"v": "7\"]}`); err != nil {
		t.Fatal(err)
	}
	actor := "o'brien \"root\"\n<script>alert(1)</script> zürich 🚀 \u202eevil " + strings.Repeat("x", 1200)
	hostile := []string{"GITHUB_ACTOR", actor, "GITHUB_SHA", strings.Repeat("deadbeef", 20) + "\n\"<img src=x>",
		"GITHUB_RUN_ID", "42?q=\"'<>" + strings.Repeat("✓&", 300)}
	for _, v := range []string{v1, v2} {
		res := w.run(t, append([]string{"version", v}, hostile...)...)
		if res.code != action.ExitOK {
			t.Fatalf("v%s: exit %d\n%s", v, res.code, res.stdout)
		}
		if strings.Contains(res.summary, "<script>") || strings.Contains(res.summary, "<img") {
			t.Errorf("v%s: the summary holds raw HTML from the workflow:\n%s", v, res.summary)
		}
	}
	if w.holder() != v2 {
		t.Fatalf("@champion = v%s, want v%s", w.holder(), v2)
	}
	w.checkLimits(t)
	raw := w.f.VersionTags(ucModel, v2)["mlreg_promotion_alias_champion"]
	rec := w.record(t, v2)
	t.Logf("the hostile record takes %d bytes", len(raw))
	if !strings.HasPrefix(rec.By, "o'brien \"root\"\n<script>") || !strings.HasSuffix(rec.By, "…") || rec.PreviousVersion != v1 || rec.PlanDigest == "" {
		t.Errorf("record = %+v", rec)
	}
	if got := w.f.VersionTags(ucModel, v2)["note"]; got != userTag {
		t.Error("the user's version tag changed")
	}

	code, stdout, stderr := runCLI(t, map[string]string{"DATABRICKS_HOST": w.f.URL(), "DATABRICKS_TOKEN": w.f.Token(),
		"MLFLOW_TRACKING_URI": "databricks", "MLFLOW_REGISTRY_URI": "databricks-uc"},
		"history", "--model-name", ucModel, "--target-alias", "champion", "--format", "json")
	var hs []struct {
		Entries []promote.Record `json:"entries"`
	}
	if code != action.ExitOK || json.Unmarshal([]byte(stdout), &hs) != nil || len(hs) != 1 || len(hs[0].Entries) != 2 ||
		hs[0].Entries[0].By != rec.By || hs[0].Entries[1].Version != v1 {
		t.Errorf("history: exit %d, %+v\n%s%s", code, hs, stdout, stderr)
	}
	if res := w.run(t, append([]string{"command", "rollback"}, hostile...)...); res.code != action.ExitOK || w.holder() != v1 {
		t.Errorf("rollback: exit %d, @champion v%s\n%s", res.code, w.holder(), res.stdout)
	}
	w.checkLimits(t)
}

// A hundred promotions through Main keep every object within UC's limits,
// and history and rollback still work on what the history holds.
func TestUCHundredPromotions(t *testing.T) {
	t.Parallel()
	w := newUCWorld(t)
	const n = 100
	type trained struct{ run, id string }
	var models []trained
	for _, auc := range []float64{0.91, 0.93, 0.95, 0.97} {
		run, err := w.fx.CreateRun(t.Context(), w.exp, mlflowtest.RunSpec{EndTime: fixedNow.Add(-time.Hour)})
		if err != nil {
			t.Fatal(err)
		}
		id, err := w.fx.CreateLoggedModel(t.Context(), w.exp, run, []mlflowtest.LoggedMetric{{Key: "val_auc", Value: auc}})
		if err != nil {
			t.Fatal(err)
		}
		models = append(models, trained{run, id})
	}
	files := map[string]string{".github/mlreg-policy.yml": `version: 1
rules:
  - name: floor
    applies-to: {alias: champion}
    metrics: {val_auc: {min: 0.90}}
    on-first-deploy: pass
`}
	start := time.Now()
	for i := 1; i <= n; i++ {
		m := models[i%len(models)]
		v := w.f.CreateModelVersion(ucModel, ucfake.Version{Source: "models:/" + m.id, RunID: m.run, ModelID: m.id})
		res := runAction(t, ucInputs(w.f, "version", v, "GITHUB_ACTOR", fmt.Sprintf("release-bot-%03d", i)), files)
		if res.code != action.ExitOK || res.outputs["changed"] != "true" {
			t.Fatalf("promotion %d: exit %d, outputs %v\n%s", i, res.code, res.outputs, res.stdout)
		}
	}
	t.Logf("%d promotions through Main took %s", n, time.Since(start).Round(time.Millisecond))
	if w.holder() != strconv.Itoa(n) {
		t.Fatalf("@champion = v%s, want v%d", w.holder(), n)
	}
	w.checkLimits(t)
	raw := w.f.ModelTags(ucModel)["mlreg_history_alias_champion"]
	var stored []map[string]any
	if err := json.Unmarshal([]byte(raw), &stored); err != nil || len(stored) < 10 {
		t.Errorf("history tag (%d bytes) holds %d entries (%v), want at least 10", len(raw), len(stored), err)
	}
	t.Logf("after %d promotions the history tag holds %d entries in %d bytes", n, len(stored), len(raw))

	res := runAction(t, ucInputs(w.f, "command", "history", "format", "json"), map[string]string{})
	if res.code != action.ExitOK || res.outputs["model-version"] != strconv.Itoa(n) || res.outputs["drift"] != "false" ||
		res.outputs["previous-version"] != strconv.Itoa(n-1) {
		t.Errorf("history: exit %d, outputs %v", res.code, res.outputs)
	}
	report := readFile(t, filepath.Join(res.dir, res.outputs["report-path"]))
	for i := range len(stored) {
		if v := strconv.Itoa(n - i); !strings.Contains(report, `"version": "`+v+`"`) {
			t.Errorf("the history report lacks v%s", v)
		}
	}
	for _, want := range []string{strconv.Itoa(n - 1), strconv.Itoa(n - 2)} {
		if res := runAction(t, ucInputs(w.f, "command", "rollback"), files); res.code != action.ExitOK || w.holder() != want {
			t.Fatalf("rollback: exit %d, @champion v%s, want v%s\n%s", res.code, w.holder(), want, res.stdout)
		}
	}
	w.checkLimits(t)
}

// A registry-uri that names the tracking server itself (as MLflow's client
// allows) keeps MLflow's registry: nothing changes for such a workflow.
func TestRegistryURIOfTheTrackingServer(t *testing.T) {
	t.Parallel()
	model, f := newModel(t, auc(0.92))
	for _, uri := range []string{trackingURI() + "/", ""} {
		res := runAction(t, promoteInputs(model, "MLFLOW_REGISTRY_URI", uri), policyFiles())
		if res.code != action.ExitOK || aliasOf(t, f, model, "champion") != "1" {
			t.Fatalf("registry-uri %q: exit %d\n%s", uri, res.code, res.stdout)
		}
	}
}

// A desired-state file on Unity Catalog: validate plans it, promote applies
// the reviewed plan (audit records under UC's keys, naming the file), a
// rerun changes nothing, a worse version declared blocks the file, and
// entries UC cannot hold are refused at their line before any request.
func TestUCDesiredState(t *testing.T) {
	t.Parallel()
	w := newUCWorld(t)
	v1 := w.trained(t, 0.92, nil, nil)
	v2 := w.trained(t, 0.95, nil, nil)
	v3 := w.trained(t, 0.80, nil, nil)
	const path = ".github/mlreg-models.yml"
	policy := ucPolicy + `  - name: challenger
    applies-to: {alias: challenger}
    run: {status: FINISHED}
`
	files := func(manifest string) map[string]string {
		return map[string]string{".github/mlreg-policy.yml": policy, path: manifest}
	}
	desired := func(champion, challenger string) string {
		return fmt.Sprintf("version: 1\nmodels:\n  %s:\n    aliases:\n      champion: %s\n      challenger: %s\n", ucModel, champion, challenger)
	}
	run := func(command, manifest string, extra ...string) result {
		t.Helper()
		in := ucInputs(w.f, append([]string{"command", command, "manifest", path}, extra...)...)
		delete(in, "model-name")
		delete(in, "target-alias")
		return runAction(t, in, files(manifest))
	}

	n := len(w.f.Calls())
	plan := run("validate", desired(v2, v1))
	if plan.code != action.ExitOK || plan.outputs["plan-digest"] == "" {
		t.Fatalf("validate: exit %d, outputs %v\n%s", plan.code, plan.outputs, plan.stdout)
	}
	var changes []struct{ Model, Target, To, Verdict, Outcome string }
	if err := json.Unmarshal([]byte(plan.outputs["changes"]), &changes); err != nil || len(changes) != 2 {
		t.Fatalf("validate: changes %q (%v), want two entries", plan.outputs["changes"], err)
	}
	for _, c := range changes {
		if c.Model != ucModel || c.Outcome != "would-change" || c.Verdict != "pass" {
			t.Errorf("validate: change %+v, want %s would-change pass", c, ucModel)
		}
	}
	if got := w.writes(n); len(got) != 0 {
		t.Errorf("validate wrote %v", got)
	}

	applied := run("promote", desired(v2, v1), "expected-plan-digest", plan.outputs["plan-digest"])
	if applied.code != action.ExitOK || applied.outputs["changed"] != "true" {
		t.Fatalf("promote: exit %d, outputs %v\n%s", applied.code, applied.outputs, applied.stdout)
	}
	if got := w.f.Aliases(ucModel); got["champion"] != v2 || got["challenger"] != v1 {
		t.Fatalf("aliases %v, want champion v%s and challenger v%s", got, v2, v1)
	}
	if rec := w.record(t, v2); rec.Manifest != path || rec.PlanDigest != plan.outputs["plan-digest"] || rec.Version != v2 {
		t.Errorf("v%s record %+v, want manifest %s and the reviewed digest", v2, rec, path)
	}
	if _, ok := w.f.VersionTags(ucModel, v1)["mlreg_promotion_alias_challenger"]; !ok {
		t.Errorf("v%s lacks mlreg_promotion_alias_challenger: %v", v1, w.f.VersionTags(ucModel, v1))
	}
	w.checkLimits(t)

	n = len(w.f.Calls())
	again := run("promote", desired(v2, v1))
	if again.code != action.ExitOK || again.outputs["changed"] != "false" || again.outputs["changes"] != "[]" {
		t.Errorf("rerun: exit %d, outputs %v", again.code, again.outputs)
	}
	if got := w.writes(n); len(got) != 0 {
		t.Errorf("rerun wrote %v", got)
	}

	n = len(w.f.Calls())
	worse := run("promote", desired(v3, v1))
	if worse.code != action.ExitPolicy || w.holder() != v2 {
		t.Errorf("worse champion declared: exit %d, @champion v%s, want 1 and v%s\n%s", worse.code, w.holder(), v2, worse.stdout)
	}
	if got := w.writes(n); len(got) != 0 {
		t.Errorf("a blocked file wrote %v", got)
	}

	n = len(w.f.Calls())
	bad := "version: 1\nmodels:\n  ml.fraud:\n    aliases:\n      champion: 1\n  " + ucModel + ":\n    stages:\n      Production: 2\n"
	refused := run("validate", bad)
	if refused.code != action.ExitInvalid {
		t.Fatalf("two-level name and a stage: exit %d, want 2\n%s", refused.code, refused.stdout)
	}
	a := errorAnnotation(t, refused.stdout)
	for _, s := range []string{path + ":5:", `"ml.fraud"`, path + ":8:", "no model stages"} {
		if !strings.Contains(a.msg, s) {
			t.Errorf("annotation %q does not say %q", a.msg, s)
		}
	}
	if calls := w.f.Calls()[n:]; len(calls) != 0 {
		t.Errorf("sent %d requests for a file UC cannot hold: %v", len(calls), calls)
	}
}
