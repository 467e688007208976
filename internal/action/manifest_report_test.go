package action_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/mlreg/mlreg-action/internal/mlflow"
	"github.com/mlreg/mlreg-action/internal/notify"
)

// reportJSON is the JSON report a run wrote (reportFile), decoded.
func reportJSON(t *testing.T, res result) map[string]any {
	t.Helper()
	var rep map[string]any
	if err := json.Unmarshal([]byte(reportFile(t, res)), &rep); err != nil {
		t.Fatal(err)
	}
	return rep
}

// reportEntries are the entries of a manifest's JSON report, by model and target.
func reportEntries(t *testing.T, rep map[string]any) map[string]map[string]any {
	t.Helper()
	m, _ := rep["manifest"].(map[string]any)
	list, _ := m["entries"].([]any)
	out := map[string]map[string]any{}
	for _, e := range list {
		em, _ := e.(map[string]any)
		out[fmt.Sprintf("%v %v", em["model"], em["target"])] = em
	}
	return out
}

// plainPolicy moves @champion and @challenger without comparing with the
// holder, so that a change back to an earlier version passes.
const plainPolicy = `version: 1
rules:
  - name: champion gate
    applies-to: {alias: champion}
    metrics:
      val_auc: {min: 0.85}
  - name: challenger
    applies-to: {alias: challenger}
    run: {status: FINISHED}
`

// TestManifestReportEntries: each entry of a manifest's JSON report carries
// the URIs that load its version and alias and its MLflow links, and the
// report has no top-level model or target (the entries have them).
func TestManifestReportEntries(t *testing.T) {
	t.Parallel()
	fx := newFleetModels(t, 2, 0)
	files := map[string]string{".github/mlreg-policy.yml": plainPolicy, manifestPath: fx.Manifest()}
	res := runAction(t, fleetRun("validate"), files)
	if res.code != 0 {
		t.Fatalf("validate: exit %d\n%s", res.code, res.stdout)
	}
	rep := reportJSON(t, res)
	for _, k := range []string{"model", "target"} {
		if v, ok := rep[k]; ok {
			t.Errorf("the manifest's report has a top-level %s (%q)", k, v)
		}
	}
	entries := reportEntries(t, rep)
	if len(entries) != 4 {
		t.Fatalf("%d entries, want 4: %v", len(entries), entries)
	}
	for _, m := range fx.models {
		for _, alias := range []string{"champion", "challenger"} {
			e := entries[m+" @"+alias]
			links, _ := e["links"].(map[string]any)
			got := map[string]any{"model_uri": e["model_uri"], "alias_uri": e["alias_uri"], "version": links["version"]}
			want := map[string]any{
				"model_uri": "models:/" + m + "/2",
				"alias_uri": "models:/" + m + "@" + alias,
				"version":   mlflow.Rules{UI: trackingURI()}.VersionURL(m, "2", false),
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("%s @%s (-want +got):\n%s", m, alias, diff)
			}
		}
		// A change links its candidate's run too.
		links, _ := entries[m+" @champion"]["links"].(map[string]any)
		if run, _ := links["run"].(string); !strings.HasPrefix(run, trackingURI()+"/#/runs/") {
			t.Errorf("%s @champion: run link %q", m, run)
		}
	}
}

// TestManifestProposedChangesArePlans: a pull request that changes the
// file plans changes, in a single promotion's words ("would promote"), and
// is not drift; a target that mlreg-action promoted and someone moved by
// hand is drift, a warning and an entry marked so; a scheduled check
// (fail-on-drift) says which is which. On a terminal each change is shown
// with its checks.
func TestManifestProposedChangesArePlans(t *testing.T) {
	t.Parallel()
	fx := newFleetModels(t, 2, 0)
	files := map[string]string{".github/mlreg-policy.yml": plainPolicy, manifestPath: fx.Manifest()}
	if res := runAction(t, fleetRun("promote"), files); res.code != 0 {
		t.Fatalf("promote: exit %d\n%s", res.code, res.stdout)
	}
	// The pull request: the first model's @champion back to v1.
	proposal := strings.Replace(fx.Manifest(), "champion: 2", "champion: 1", 1)
	files[manifestPath] = proposal
	res := runAction(t, fleetRun("validate"), files)
	if res.code != 0 {
		t.Fatalf("validate: exit %d\n%s", res.code, res.stdout)
	}
	for what, text := range map[string]string{"step log": res.stdout, "job summary": res.summary} {
		if strings.Contains(strings.ToLower(text), "drift") {
			t.Errorf("the %s calls the proposed change drift:\n%s", what, text)
		}
	}
	if !strings.Contains(res.summary, "1 would promote, 3 already in place") || !strings.Contains(res.summary, "| would promote |") {
		t.Errorf("the summary does not say the change would promote:\n%s", res.summary)
	}
	if e := reportEntries(t, reportJSON(t, res))[fx.models[0]+" @champion"]; e["outcome"] != "would-change" || e["drift"] != nil {
		t.Errorf("the proposed change's entry: %v", e)
	}

	// On a terminal: the change, then its checks.
	term := runAction(t, fleetRun("validate", "GITHUB_ACTIONS", ""), files)
	wantChecks := "  " + fx.models[0] + " @champion: v2 → v1, pass (champion gate)\n" +
		"    RESULT  CHECK             VALUE  BOUND    CHAMPION  DELTA  REASON\n" +
		"    pass    val_auc (metric)  0.86   >= 0.85  -         -\n"
	if !strings.Contains(term.stdout, wantChecks) {
		t.Errorf("the terminal report does not show the change's checks:\n%s\nwant:\n%s", term.stdout, wantChecks)
	}

	// Someone moves the second model's @champion, which mlreg-action
	// promoted, back by hand: that is drift.
	if err := fx.f.SetAlias(t.Context(), fx.models[1], "champion", "1"); err != nil {
		t.Fatal(err)
	}
	res = runAction(t, fleetRun("validate"), files)
	want := "::warning::drift: 1 of 4 entries differ from " + manifestPath + ", moved outside mlreg-action: " + fx.models[1] +
		" @champion is v1, but the last recorded promotion put v2 there (" + manifestPath + " says v2)"
	if res.code != 0 || !strings.Contains(res.stdout, want) {
		t.Errorf("exit %d, want 0 and the warning %q:\n%s", res.code, want, res.stdout)
	}
	entries := reportEntries(t, reportJSON(t, res))
	if entries[fx.models[1]+" @champion"]["drift"] != true || entries[fx.models[0]+" @champion"]["drift"] != nil {
		t.Errorf("drift in the report: %v / %v", entries[fx.models[1]+" @champion"], entries[fx.models[0]+" @champion"])
	}
	// The scheduled check reads the file as the registry's state.
	check := runAction(t, fleetRun("validate", "fail-on-drift", "true"), files)
	msg := errorAnnotation(t, check.stdout).msg
	for _, want := range []string{
		"drift (fail-on-drift): 2 of 4 entries differ from " + manifestPath,
		fx.models[0] + " @champion is v2, " + manifestPath + " says v1 (not applied yet)",
		fx.models[1] + " @champion is v1, " + manifestPath + " says v2 (moved outside mlreg-action)",
	} {
		if check.code != 1 || !strings.Contains(msg, want) {
			t.Errorf("fail-on-drift: exit %d, want 1 and %q:\n%s", check.code, want, msg)
		}
	}
}

// TestManifestSlackRerunEditsInPlace: the Slack message of a manifest's
// apply is edited on a rerun (chat.update of the same message) rather than
// posted again, as a single promotion's is; another apply of the file gets
// a message of its own.
func TestManifestSlackRerunEditsInPlace(t *testing.T) {
	t.Parallel()
	fx := newFleetModels(t, 2, 0)
	sl := newSlackRecorder(t)
	slack := map[string]string{"MLREG_SLACK_API_URL": sl.srv.GetAPIURL(), "slack-token": slackToken, "slack-channel": "#ml-releases"}
	files := map[string]string{".github/mlreg-policy.yml": plainPolicy, manifestPath: fx.Manifest()}

	first := runAction(t, merge(fleetRun("promote"), slack), files)
	if first.code != 0 || first.outputs["changed"] != "true" {
		t.Fatalf("promote: exit %d outputs %v\n%s", first.code, first.outputs, first.stdout)
	}
	ts := first.outputs["slack-ts"]
	if got := sl.got(); len(got) != 1 || got[0] != "chat.postMessage ml-releases" || ts == "" {
		t.Fatalf("promote's Slack calls = %q, slack-ts %q; want one post", got, ts)
	}
	tag := notify.SlackManifestTag(manifestPath)
	tags, err := fx.f.VersionTags(t.Context(), fx.models[0], "2")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(tags[tag], `"ts":"`+ts+`"`) {
		t.Errorf("the message's key %s on %s v2 = %q, want its ts %s", tag, fx.models[0], tags[tag], ts)
	}

	rerun := runAction(t, merge(fleetRun("promote"), slack), files)
	if rerun.code != 0 || rerun.outputs["changed"] != "false" {
		t.Fatalf("rerun: exit %d outputs %v\n%s", rerun.code, rerun.outputs, rerun.stdout)
	}
	if got := sl.got()[1:]; len(got) != 1 || got[0] != "chat.update C0MLREG "+ts || rerun.outputs["slack-ts"] != ts {
		t.Errorf("the rerun's Slack calls = %q, slack-ts %q; want chat.update of %s", got, rerun.outputs["slack-ts"], ts)
	}

	// Another apply: the file moves a @challenger back to v1.
	files[manifestPath] = strings.Replace(fx.Manifest(), "challenger: 2", "challenger: 1", 1)
	next := runAction(t, merge(fleetRun("promote"), slack), files)
	if next.code != 0 || next.outputs["changed"] != "true" {
		t.Fatalf("next apply: exit %d outputs %v\n%s", next.code, next.outputs, next.stdout)
	}
	if got := sl.got()[2:]; len(got) != 1 || got[0] != "chat.postMessage ml-releases" || next.outputs["slack-ts"] == ts {
		t.Errorf("another apply's Slack calls = %q, slack-ts %q; want a new message", got, next.outputs["slack-ts"])
	}
}
