package action_test

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/mlreg/mlreg-action/internal/testing/githubfake"
	"github.com/mlreg/mlreg-action/internal/testing/mlflowtest"
)

// newRun creates an experiment and one run, returning the run id.
func newRun(t *testing.T, spec mlflowtest.RunSpec) (string, string, fixtures) {
	t.Helper()
	f := newFixtures()
	exp, err := f.CreateExperiment(t.Context(), mlflowtest.UniqueName(t, "exp"))
	if err != nil {
		t.Fatal(err)
	}
	run, err := f.CreateRun(t.Context(), exp, spec)
	if err != nil {
		t.Fatal(err)
	}
	return exp, run, f
}

func TestRegisterFromRun(t *testing.T) {
	t.Parallel()
	exp, run, f := newRun(t, mlflowtest.RunSpec{
		Metrics:  map[string]float64{"val_auc": 0.9},
		Datasets: []mlflowtest.DatasetSpec{{Name: "fraud-train", Context: "training"}},
	})
	// The run's model, as MLflow 3's log_model(name="model") records it.
	id, err := f.CreateNamedLoggedModel(t.Context(), exp, run, "model")
	if err != nil {
		t.Fatal(err)
	}
	model := mlflowtest.UniqueName(t, "reg")
	res := runAction(t, map[string]string{
		"command": "register", "model-name": model, "run-id": run, "artifact-path": "model",
		"description": "first cut", "tags": "team=risk\n# comment\nowner = ml-platform",
	}, nil)
	if res.code != 0 {
		t.Fatalf("exit %d\n%s", res.code, res.stdout)
	}
	if res.outputs["model-version"] != "1" || res.outputs["model-uri"] != "models:/"+model+"/1" {
		t.Errorf("outputs = %v", res.outputs)
	}
	mv, err := f.GetVersion(t.Context(), model, "1")
	if err != nil {
		t.Fatal(err)
	}
	if mv["source"] != "models:/"+id || mv["run_id"] != run || mv["description"] != "first cut" || mv["status"] != "READY" {
		t.Errorf("version = %v, want source models:/%s", mv, id)
	}
	if !strings.Contains(res.stdout, "source runs:/"+run+"/model: the run's artifacts hold no MLmodel") ||
		!strings.Contains(res.summary, "| Requested | runs:/"+run+"/model: ") {
		t.Errorf("the log and the summary do not say which source was chosen:\n%s\n%s", res.stdout, res.summary)
	}
	if link, _ := mv["run_link"].(string); !strings.Contains(link, "/#/experiments/") || !strings.HasSuffix(link, "/runs/"+run) {
		t.Errorf("run_link = %q", link)
	}
	tags, err := f.VersionTags(t.Context(), model, "1")
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"team": "risk", "owner": "ml-platform",
		"mlreg.lineage.commit":       "0123456789abcdef0123456789abcdef01234567",
		"mlreg.lineage.repository":   "acme/models",
		"mlreg.lineage.workflow_run": "https://github.com/acme/models/actions/runs/4242",
		"mlreg.lineage.actor":        "octocat",
		"mlreg.lineage.run_id":       run,
		"mlreg.lineage.run_link":     mv["run_link"].(string),
	}
	ds := tags["mlreg.lineage.datasets"]
	delete(tags, "mlreg.lineage.datasets")
	if diff := cmp.Diff(want, tags); diff != "" {
		t.Errorf("tags (-want +got):\n%s", diff)
	}
	var datasets []map[string]string
	if err := json.Unmarshal([]byte(ds), &datasets); err != nil || len(datasets) != 1 ||
		datasets[0]["name"] != "fraud-train" || datasets[0]["context"] != "training" || datasets[0]["digest"] == "" {
		t.Errorf("datasets lineage = %q (%v)", ds, err)
	}

	// A rerun of the same workflow run reuses the version instead of registering a duplicate.
	again := runAction(t, map[string]string{"command": "register", "model-name": model, "run-id": run, "artifact-path": "model"}, nil)
	if again.code != 0 || again.outputs["model-version"] != "1" || again.outputs["changed"] != "false" {
		t.Errorf("rerun: exit %d outputs %v\n%s", again.code, again.outputs, again.stdout)
	}
}

func TestRegisterFromLoggedModel(t *testing.T) {
	t.Parallel()
	exp, run, f := newRun(t, mlflowtest.RunSpec{})
	id, err := f.CreateLoggedModel(t.Context(), exp, run, []mlflowtest.LoggedMetric{{Key: "val_auc", Value: 0.96, Dataset: "holdout"}})
	if err != nil {
		t.Fatal(err)
	}
	model := mlflowtest.UniqueName(t, "reg")
	res := runAction(t, map[string]string{"command": "register", "model-name": model, "source": "models:/" + id}, nil)
	if res.code != 0 {
		t.Fatalf("exit %d\n%s", res.code, res.stdout)
	}
	mv, err := f.GetVersion(t.Context(), model, res.outputs["model-version"])
	if err != nil {
		t.Fatal(err)
	}
	if mv["source"] != "models:/"+id || mv["run_id"] != run {
		t.Errorf("version = %v, want source models:/%s and run %s", mv, id, run)
	}
}

func TestRegisterRefusals(t *testing.T) {
	t.Parallel()
	exp, running, f := newRun(t, mlflowtest.RunSpec{Status: "RUNNING"})
	if _, err := f.CreateNamedLoggedModel(t.Context(), exp, running, "model"); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name   string
		inputs map[string]string
		code   int
		want   string
	}{
		{"missing run", map[string]string{"run-id": "0123456789abcdef0123456789abcdef", "artifact-path": "model"}, 3, "RESOURCE_DOES_NOT_EXIST"},
		{"unfinished run", map[string]string{"run-id": running, "artifact-path": "model"}, 2, "allow-unfinished-run"},
		{"no source", map[string]string{}, 2, "run-id"},
		{"model name with slash", map[string]string{"model-name": "a/b", "source": "s3://bucket/m"}, 2, "may not contain"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			in := map[string]string{"command": "register", "model-name": mlflowtest.UniqueName(t, "reg")}
			for k, v := range tc.inputs {
				in[k] = v
			}
			res := runAction(t, in, nil)
			if res.code != tc.code || !strings.Contains(res.stdout, tc.want) {
				t.Errorf("exit %d (want %d), output lacks %q:\n%s", res.code, tc.code, tc.want, res.stdout)
			}
		})
	}
	// An unfinished run is accepted when allowed.
	res := runAction(t, map[string]string{"command": "register", "model-name": mlflowtest.UniqueName(t, "reg"),
		"run-id": running, "artifact-path": "model", "allow-unfinished-run": "true"}, nil)
	if res.code != 0 {
		t.Errorf("allow-unfinished-run: exit %d\n%s", res.code, res.stdout)
	}
}

// promoteSeq promotes each version in turn to @champion, failing the test on any error.
func promoteSeq(t *testing.T, model string, versions ...string) {
	t.Helper()
	for _, v := range versions {
		if res := runAction(t, promoteInputs(model, "version", v, "policy", "none"), nil); res.code != 0 {
			t.Fatalf("promote v%s: exit %d\n%s", v, res.code, res.stdout)
		}
	}
}

func historyJSON(t *testing.T, model string, extra ...string) (result, []map[string]any) {
	t.Helper()
	in := promoteInputs(model, append([]string{"command", "history", "format", "json"}, extra...)...)
	res := runAction(t, in, nil)
	start := strings.Index(res.stdout, "[")
	var hs []map[string]any
	if start < 0 || json.NewDecoder(strings.NewReader(res.stdout[start:])).Decode(&hs) != nil {
		t.Fatalf("history output is not JSON:\n%s", res.stdout)
	}
	return res, hs
}

func TestHistoryAndDrift(t *testing.T) {
	t.Parallel()
	model, f := newModel(t, auc(0.91), auc(0.92), auc(0.93))
	promoteSeq(t, model, "1", "2", "3")
	res, hs := historyJSON(t, model)
	if res.code != 0 || res.outputs["drift"] != "false" || res.outputs["model-version"] != "3" {
		t.Fatalf("exit %d outputs %v", res.code, res.outputs)
	}
	var got [][2]any
	for _, e := range hs[0]["entries"].([]any) {
		m := e.(map[string]any)
		got = append(got, [2]any{m["version"], m["previous_version"]})
	}
	if diff := cmp.Diff([][2]any{{"3", "2"}, {"2", "1"}, {"1", ""}}, got); diff != "" {
		t.Errorf("history newest first (-want +got):\n%s", diff)
	}
	if !strings.Contains(res.summary, "| Version |") {
		t.Errorf("summary has no history table:\n%s", res.summary)
	}

	// Someone moves @champion by hand through the REST API.
	if err := f.SetAlias(t.Context(), model, "champion", "1"); err != nil {
		t.Fatal(err)
	}
	res, _ = historyJSON(t, model)
	if res.code != 0 || res.outputs["drift"] != "true" || !strings.Contains(res.stdout, "::warning::drift") ||
		!strings.Contains(res.stdout, "held by v1") || !strings.Contains(res.stdout, "put v3 there") {
		t.Errorf("drift not flagged: exit %d outputs %v\n%s", res.code, res.outputs, res.stdout)
	}
	res, _ = historyJSON(t, model, "fail-on-drift", "true")
	if res.code != 1 {
		t.Errorf("fail-on-drift: exit %d, want 1", res.code)
	}
}

func TestRollbackTwiceGoesTwoStepsBack(t *testing.T) {
	t.Parallel()
	model, f := newModel(t, auc(0.91), auc(0.92), auc(0.93))
	promoteSeq(t, model, "1", "2", "3")
	for _, want := range []string{"2", "1"} {
		res := runAction(t, promoteInputs(model, "command", "rollback"), policyFiles())
		if res.code != 0 {
			t.Fatalf("rollback to v%s: exit %d\n%s", want, res.code, res.stdout)
		}
		if got := aliasOf(t, f, model, "champion"); got != want {
			t.Fatalf("@champion = %q after rollback, want %s", got, want)
		}
		if !strings.Contains(res.summary, "rolled back") {
			t.Errorf("summary does not say rolled back:\n%s", res.summary)
		}
	}
	_, hs := historyJSON(t, model)
	newest := hs[0]["entries"].([]any)[0].(map[string]any)
	if newest["action"] != "rollback" || newest["version"] != "1" || newest["previous_version"] != "2" {
		t.Errorf("newest history entry = %v", newest)
	}
	// Nothing is left to roll back to.
	res := runAction(t, promoteInputs(model, "command", "rollback"), policyFiles())
	if res.code != 3 || !strings.Contains(res.stdout, "no earlier version") {
		t.Errorf("third rollback: exit %d\n%s", res.code, res.stdout)
	}
}

func TestRollbackRefusedByPolicy(t *testing.T) {
	t.Parallel()
	// v1 has val_auc below the policy's floor; it got in with policy: none.
	model, f := newModel(t, auc(0.80), auc(0.95))
	promoteSeq(t, model, "1", "2")
	res := runAction(t, promoteInputs(model, "command", "rollback"), policyFiles())
	if res.code != 1 {
		t.Fatalf("exit %d, want 1\n%s", res.code, res.stdout)
	}
	if got := aliasOf(t, f, model, "champion"); got != "2" {
		t.Errorf("@champion = %q, want 2 (rollback refused)", got)
	}
	// force skips the re-check.
	res = runAction(t, promoteInputs(model, "command", "rollback", "force", "true"), policyFiles())
	if res.code != 0 || aliasOf(t, f, model, "champion") != "1" {
		t.Errorf("forced rollback: exit %d, @champion %q\n%s", res.code, aliasOf(t, f, model, "champion"), res.stdout)
	}
}

func TestStageRollback(t *testing.T) {
	t.Parallel()
	model, f := newModel(t, auc(0.91), auc(0.95))
	for _, v := range []string{"1", "2"} {
		res := runAction(t, map[string]string{"model-name": model, "version": v, "target-stage": "Production"}, policyFiles())
		if res.code != 0 {
			t.Fatalf("promote v%s: exit %d\n%s", v, res.code, res.stdout)
		}
	}
	res := runAction(t, map[string]string{"command": "rollback", "model-name": model, "target-stage": "Production"}, policyFiles())
	if res.code != 0 {
		t.Fatalf("rollback: exit %d\n%s", res.code, res.stdout)
	}
	stages := map[string]any{}
	for _, v := range []string{"1", "2"} {
		mv, err := f.GetVersion(t.Context(), model, v)
		if err != nil {
			t.Fatal(err)
		}
		stages[v] = mv["current_stage"]
	}
	if diff := cmp.Diff(map[string]any{"1": "Production", "2": "Archived"}, stages); diff != "" {
		t.Errorf("stages after rollback (-want +got):\n%s", diff)
	}
	_ = time.Second
}

// TestRegisterReportsAndNotifies: register ends as every command does: a
// JSON report file, the job summary, a comment on the pull request and a
// Slack message, both edited in place when a rerun reuses the version, and
// no deployment.
func TestRegisterReportsAndNotifies(t *testing.T) {
	t.Parallel()
	exp, run, f := newRun(t, mlflowtest.RunSpec{})
	id, err := f.CreateLoggedModel(t.Context(), exp, run, nil)
	if err != nil {
		t.Fatal(err)
	}
	model := mlflowtest.UniqueName(t, "reg")
	gh := githubfake.New(t, githubfake.Options{})
	sl := newSlackRecorder(t)
	payload := `{"number":7,"pull_request":{"number":7,"head":{"repo":{"full_name":"acme/models"}},"base":{"repo":{"full_name":"acme/models"}}}}`
	in := merge(map[string]string{"command": "register", "model-name": model, "source": "models:/" + id},
		notifyEnv(t, gh, sl, "pull_request", payload))

	first := runAction(t, in, nil)
	if first.code != 0 || first.outputs["model-version"] != "1" || first.outputs["changed"] != "true" {
		t.Fatalf("exit %d outputs %v\n%s", first.code, first.outputs, first.stdout)
	}
	headline := "📦 " + strings.ReplaceAll(model, "_", `\_`) + " v1 registered from run " + run
	if !strings.Contains(first.summary, "### "+headline) {
		t.Errorf("summary does not say %q:\n%s", headline, first.summary)
	}
	var rep struct {
		Command    string `json:"command"`
		Outcome    string `json:"outcome"`
		Registered struct {
			Version, Source, RunID string
		} `json:"registered"`
	}
	if err := json.Unmarshal([]byte(readFile(t, filepath.Join(first.dir, first.outputs["report-path"]))), &rep); err != nil ||
		rep.Command != "register" || rep.Outcome != "registered" || rep.Registered.Version != "1" || rep.Registered.Source != "models:/"+id {
		t.Errorf("report file %q: %+v (%v)", first.outputs["report-path"], rep, err)
	}
	if first.outputs["comment-id"] == "" || first.outputs["slack-ts"] == "" || first.outputs["deployment-id"] != "" || first.outputs["notify-errors"] != "" {
		t.Errorf("notify outputs = %v", first.outputs)
	}

	second := runAction(t, in, nil)
	if second.code != 0 || second.outputs["model-version"] != "1" || second.outputs["changed"] != "false" {
		t.Fatalf("rerun: exit %d outputs %v\n%s", second.code, second.outputs, second.stdout)
	}
	comments := gh.Comments(7)
	if len(comments) != 1 || !strings.HasPrefix(comments[0].Body, "<!-- mlreg-action model="+model+" command=register -->\n") ||
		!strings.Contains(comments[0].Body, "already registered") || fmt.Sprint(comments[0].ID) != second.outputs["comment-id"] {
		t.Errorf("comments = %+v", comments)
	}
	wantSlack := []string{"chat.postMessage ml-releases", "chat.update C0MLREG " + first.outputs["slack-ts"]}
	if diff := cmp.Diff(wantSlack, sl.got()); diff != "" {
		t.Errorf("slack calls (-want +got):\n%s", diff)
	}
	if n := len(gh.Deployments()); n != 0 {
		t.Errorf("%d deployments for a registration, want none", n)
	}
	noSecrets(t, first, gh.Token(), slackToken)
}

// TestHistoryReportAndTerminal: history writes its report file, and on a
// terminal prints the history as text on stdout, the log on stderr.
func TestHistoryReportAndTerminal(t *testing.T) {
	t.Parallel()
	model, _ := newModel(t, auc(0.91), auc(0.92))
	promoteSeq(t, model, "1", "2")
	res := runAction(t, promoteInputs(model, "command", "history"), nil)
	if res.code != 0 || res.outputs["report-path"] == "" {
		t.Fatalf("exit %d outputs %v\n%s", res.code, res.outputs, res.stdout)
	}
	var rep struct {
		Outcome string           `json:"outcome"`
		Target  string           `json:"target"`
		History []map[string]any `json:"history"`
	}
	if err := json.Unmarshal([]byte(readFile(t, filepath.Join(res.dir, res.outputs["report-path"]))), &rep); err != nil ||
		rep.Outcome != "recorded" || rep.Target != "@champion" || len(rep.History) != 1 {
		t.Errorf("report file: %+v (%v)", rep, err)
	}
	cli := runAction(t, promoteInputs(model, "command", "history", "GITHUB_ACTIONS", ""), nil)
	if cli.code != 0 || !strings.HasPrefix(cli.stdout, "@champion of "+model+": held by v2\n") || strings.Contains(cli.stdout, "==>") ||
		!strings.Contains(cli.stderr, "==> resolve") {
		t.Errorf("terminal: exit %d\nstdout:\n%s\nstderr:\n%s", cli.code, cli.stdout, cli.stderr)
	}
}
