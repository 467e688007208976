package action_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/mlreg/mlreg-action/internal/mlflow"
	"github.com/mlreg/mlreg-action/internal/promote"
	"github.com/mlreg/mlreg-action/internal/testing/faultproxy"
	"github.com/mlreg/mlreg-action/internal/testing/githubfake"
	"github.com/mlreg/mlreg-action/internal/testing/mlflowtest"
)

// fleetPolicy is the policy of the fleet fixture (mlflowtest.FleetPolicy).
const fleetPolicy = mlflowtest.FleetPolicy

const manifestPath = ".github/mlreg-models.yml"

// fleetModels is the registry of a manifest test (mlflowtest.Fleet).
type fleetModels struct {
	*mlflowtest.Fleet
	f      fixtures
	models []string
}

func newFleetModels(t *testing.T, n, stages int) *fleetModels {
	t.Helper()
	f := newFixtures()
	fx := mlflowtest.NewFleetWith(t, f, n, stages)
	return &fleetModels{Fleet: fx, f: f, models: fx.Models}
}

// each runs fn for every model, workers at once, and fails the test on an error.
func (fx *fleetModels) each(t *testing.T, workers int, fn func(ctx context.Context, i int, model string) error) {
	t.Helper()
	if err := fx.Each(t.Context(), workers, fn); err != nil {
		t.Fatal(err)
	}
}

func fleetFiles(manifest string) map[string]string {
	return map[string]string{".github/mlreg-policy.yml": fleetPolicy, manifestPath: manifest}
}

// state is everything the action may change in the registry, per model:
// aliases, each version's stage, model and version tags, and whether a
// promotion lock is left.
func (fx *fleetModels) state(t *testing.T) map[string]string {
	t.Helper()
	out := map[string]string{}
	var mu sync.Mutex
	fx.each(t, 8, func(ctx context.Context, _ int, m string) error {
		var b strings.Builder
		aliases, err := fx.f.Aliases(ctx, m)
		if err != nil {
			return err
		}
		tags, err := fx.f.ModelTags(ctx, m)
		if err != nil {
			return err
		}
		fmt.Fprintf(&b, "aliases %v\nmodel tags %v\n", aliases, tags)
		for _, v := range []string{"1", "2"} {
			mv, err := fx.f.GetVersion(ctx, m, v)
			if err != nil {
				return err
			}
			vt, err := fx.f.VersionTags(ctx, m, v)
			if err != nil {
				return err
			}
			fmt.Fprintf(&b, "v%s %v %v\n", v, mv["current_stage"], vt)
		}
		locked, err := fx.f.HasModel(ctx, mlflow.LockName(m))
		if err != nil {
			return err
		}
		if locked {
			b.WriteString("LOCK LEFT\n")
		}
		mu.Lock()
		out[m] = b.String()
		mu.Unlock()
		return nil
	})
	return out
}

// history is the recorded history of model's target ("alias.champion").
func (fx *fleetModels) history(t *testing.T, model, target string) []promote.Record {
	t.Helper()
	tags, err := fx.f.ModelTags(t.Context(), model)
	if err != nil {
		t.Fatal(err)
	}
	h, err := mlflow.Rules{}.ParseHistory(tags["mlreg.history."+target])
	if err != nil {
		t.Fatal(err)
	}
	return h
}

type changeOut struct {
	Model, Target, To, Verdict, Outcome string
	From                                *string
}

func changesOf(t *testing.T, res result) []changeOut {
	t.Helper()
	var out []changeOut
	if err := json.Unmarshal([]byte(res.outputs["changes"]), &out); err != nil {
		t.Fatalf("changes output %q: %v\n%s", res.outputs["changes"], err, res.stdout)
	}
	return out
}

// outcomes counts the changes by outcome.
func outcomes(cs []changeOut) map[string]int {
	n := map[string]int{}
	for _, c := range cs {
		n[c.Outcome]++
	}
	return n
}

func fleetRun(command string, extra ...string) map[string]string {
	in := map[string]string{"command": command, "manifest": manifestPath}
	for i := 0; i+1 < len(extra); i += 2 {
		in[extra[i]] = extra[i+1]
	}
	return in
}

// TestManifestValidateCommentsThenPromoteApplies is the flow of a pull
// request over 44 entries at parallelism 8: validate comments the plan on
// the pull request (one comment, edited in place on a rerun), promote
// applies exactly the reviewed plan after the merge (a deployment per
// change, one Slack message), and a rerun changes nothing.
func TestManifestValidateCommentsThenPromoteApplies(t *testing.T) {
	t.Parallel()
	const models, stages = 20, 4
	fx := newFleetModels(t, models, stages)
	files := fleetFiles(fx.Manifest())
	gh := githubfake.New(t, githubfake.Options{})
	headSHA := strings.Repeat("b", 40)
	gh.AddPullRequest(githubfake.PullRequest{Number: 12, State: "open", HeadSHA: headSHA})
	sl := newSlackRecorder(t)
	prEvent := notifyEnv(t, gh, sl, "pull_request", `{"number":12,"pull_request":{"number":12,"head":{"sha":"`+headSHA+`"}}}`)
	before := fx.state(t)

	validate := runAction(t, merge(fleetRun("validate", "parallelism", "8"), prEvent), files)
	if validate.code != 0 {
		t.Fatalf("validate: exit %d\n%s", validate.code, validate.stdout)
	}
	if diff := cmp.Diff(before, fx.state(t)); diff != "" {
		t.Errorf("validate changed the registry (-before +after):\n%s", diff)
	}
	cs := changesOf(t, validate)
	if len(cs) != 24 || outcomes(cs)[`would-change`] != 24 {
		t.Errorf("validate changes = %d %v, want 24 would-change", len(cs), outcomes(cs))
	}
	for _, c := range cs {
		if c.To != "2" || c.From == nil || *c.From != "1" || c.Verdict != "pass" {
			t.Errorf("change %+v, want 1 → 2, pass", c)
		}
	}
	digest := validate.outputs["plan-digest"]
	if validate.outputs["verdict"] != "pass" || validate.outputs["changed"] != "false" || !strings.HasPrefix(digest, "sha256:") {
		t.Errorf("validate outputs = %v", validate.outputs)
	}
	marker := "<!-- mlreg-action manifest=.github/mlreg-models.yml -->"
	comments := gh.Comments(12)
	if len(comments) != 1 || !strings.HasPrefix(comments[0].Body, marker+"\n### ✅ .github/mlreg-models.yml") ||
		!strings.Contains(comments[0].Body, "20 already in place") || !strings.Contains(comments[0].Body, "<details><summary>20 unchanged entries</summary>") {
		t.Fatalf("comments = %+v", comments)
	}
	if !strings.Contains(validate.summary, "24 would promote, 20 already in place") {
		t.Errorf("summary does not count the entries:\n%s", validate.summary)
	}
	// The handover of examples/workflows/registry-as-code.yml reads the digest from the comment.
	if got := reviewedDigest(comments[0].Body); got != digest {
		t.Errorf("the comment hands over %q, want the plan digest %s", got, digest)
	}
	again := runAction(t, merge(fleetRun("validate", "parallelism", "8"), prEvent), files)
	if again.code != 0 || again.outputs["plan-digest"] != digest || again.outputs["comment-id"] != validate.outputs["comment-id"] {
		t.Errorf("second validate: exit %d outputs %v", again.code, again.outputs)
	}
	if n := len(gh.Comments(12)); n != 1 {
		t.Errorf("%d comments after the second validate, want 1 edited in place", n)
	}
	if n := len(gh.Deployments()); n != 0 {
		t.Errorf("validate created %d deployments", n)
	}

	// The merge: promote on the push of the merge commit, with the reviewed digest.
	gh.AddPullRequest(githubfake.PullRequest{Number: 12, State: "closed", Merged: true, HeadSHA: headSHA, MergeCommitSHA: harnessSHA})
	pushEvent := notifyEnv(t, gh, sl, "push", `{"ref":"refs/heads/main","after":"`+harnessSHA+`"}`)
	slackBefore := len(sl.got())
	promoteRes := runAction(t, merge(fleetRun("promote", "parallelism", "8", "expected-plan-digest", digest), pushEvent), files)
	if promoteRes.code != 0 {
		t.Fatalf("promote: exit %d\n%s", promoteRes.code, promoteRes.stdout)
	}
	cs = changesOf(t, promoteRes)
	if len(cs) != 24 || outcomes(cs)["promoted"] != 24 || promoteRes.outputs["changed"] != "true" || promoteRes.outputs["plan-digest"] != digest {
		t.Errorf("promote: changes %v, outputs %v", outcomes(cs), promoteRes.outputs)
	}
	after := fx.state(t)
	for i, m := range fx.models {
		if strings.Contains(after[m], "LOCK LEFT") {
			t.Errorf("%s: a lock is left", m)
		}
		if !strings.Contains(after[m], "aliases map[challenger:2 champion:2]") {
			t.Errorf("%s: %s", m, after[m])
		}
		targets := []string{"alias.champion"}
		if i < stages {
			targets = append(targets, "stage.Production")
			if !strings.Contains(after[m], "v2 Production") {
				t.Errorf("%s: v2 not in Production: %s", m, after[m])
			}
		}
		for _, tg := range targets {
			h := fx.history(t, m, tg)
			if len(h) != 1 || h[0].Version != "2" || h[0].PreviousVersion != "1" || h[0].Manifest != manifestPath ||
				h[0].Commit != harnessSHA || h[0].PlanDigest != digest {
				t.Errorf("%s %s history = %+v, want one record of the manifest promotion", m, tg, h)
			}
		}
	}
	deps := gh.Deployments()
	if len(deps) != 24 {
		t.Errorf("%d deployments, want one per change (24)", len(deps))
	}
	for _, d := range deps {
		if d.State() != "success" || !strings.HasPrefix(d.Environment, fx.models[0][:len(fx.models[0])-2]) {
			t.Errorf("deployment %s: %s", d.Environment, d.State())
		}
	}
	if got := sl.got()[slackBefore:]; len(got) != 1 || !strings.HasPrefix(got[0], "chat.postMessage") {
		t.Errorf("promote's Slack calls = %v, want one message", got)
	}
	if got := reviewedDigest(gh.Comments(12)[0].Body); got != digest {
		t.Errorf("after promote the comment hands over %q, want the reviewed %s", got, digest)
	}
	if comments := gh.Comments(12); len(comments) != 1 || !strings.Contains(comments[0].Body, "24 promoted, 20 already in place") {
		t.Errorf("the merged pull request's comment does not say what the merge did: %+v", comments)
	}

	// A rerun of the merge's workflow: everything is in place, nothing changes.
	rerun := runAction(t, merge(fleetRun("promote", "parallelism", "8", "expected-plan-digest", digest), pushEvent), files)
	if rerun.code != 0 || rerun.outputs["changed"] != "false" || rerun.outputs["changes"] != "[]" {
		t.Errorf("rerun: exit %d outputs %v\n%s", rerun.code, rerun.outputs, rerun.stdout)
	}
	if diff := cmp.Diff(after, fx.state(t)); diff != "" {
		t.Errorf("the rerun changed the registry (-before +after):\n%s", diff)
	}
	if n := len(gh.Deployments()); n != 24 {
		t.Errorf("%d deployments after the rerun, want 24", n)
	}
	if v := gh.Violations(); len(v) > 0 {
		t.Errorf("GitHub API violations: %v", v)
	}
	noSecrets(t, promoteRes, gh.Token(), slackToken)
	for _, r := range []result{validate, promoteRes, rerun} {
		t.Logf("%s", append(lines(r.stdout, "plan of "), lines(r.stdout, "apply of ")...)) // registry requests
	}
	t.Logf("GitHub calls: %v", gh.Summary())
}

// TestManifestHandMoveBetweenValidateAndPromote: a target moved by hand
// after the review makes the plan differ from the reviewed one: status 4,
// nothing changed.
func TestManifestHandMoveBetweenValidateAndPromote(t *testing.T) {
	t.Parallel()
	fx := newFleetModels(t, 3, 0)
	files := fleetFiles(fx.Manifest())
	validate := runAction(t, fleetRun("validate"), files)
	if validate.code != 0 {
		t.Fatalf("validate: exit %d\n%s", validate.code, validate.stdout)
	}
	if err := fx.f.SetAlias(t.Context(), fx.models[1], "challenger", "1"); err != nil {
		t.Fatal(err)
	}
	before := fx.state(t)
	res := runAction(t, fleetRun("promote", "expected-plan-digest", validate.outputs["plan-digest"]), files)
	if res.code != 4 || res.outputs["changed"] != "false" {
		t.Fatalf("promote: exit %d outputs %v, want 4 and nothing changed\n%s", res.code, res.outputs, res.stdout)
	}
	if !strings.Contains(res.stdout, "not the reviewed "+validate.outputs["plan-digest"]) {
		t.Errorf("the error does not name the reviewed digest:\n%s", res.stdout)
	}
	if diff := cmp.Diff(before, fx.state(t)); diff != "" {
		t.Errorf("promote changed the registry (-before +after):\n%s", diff)
	}
	if o := outcomes(changesOf(t, res)); o["would-change"] != 4 {
		t.Errorf("changes = %v, want 4 would-change (none applied)", o)
	}
}

// TestManifestPolicyFailureBlocksAll: one change failing the policy blocks
// every change, in validate (status 1) and in promote (status 1, nothing
// applied), and the report names the failing check.
func TestManifestPolicyFailureBlocksAll(t *testing.T) {
	t.Parallel()
	fx := newFleetModels(t, 3, 0)
	// models[0]@champion: 2 → 1 would regress val_auc 0.90 → 0.86.
	manifest := strings.Replace(fx.Manifest(), "champion: 2", "champion: 1", 1)
	ctx := t.Context()
	if err := fx.f.SetAlias(ctx, fx.models[0], "champion", "2"); err != nil {
		t.Fatal(err)
	}
	files := fleetFiles(manifest)
	before := fx.state(t)
	for _, command := range []string{"validate", "promote"} {
		res := runAction(t, fleetRun(command), files)
		if res.code != 1 {
			t.Fatalf("%s: exit %d, want 1\n%s", command, res.code, res.stdout)
		}
		o := outcomes(changesOf(t, res))
		if o["blocked"] != 1 || o["would-change"] != 2 || res.outputs["verdict"] != "fail" {
			t.Errorf("%s: changes %v, outputs %v", command, o, res.outputs)
		}
		if !strings.Contains(res.summary, "| "+mdName(fx.models[0])+" | &#64;champion | `v2 → v1` | ❌ fail | blocked by policy | val\\_auc 0.86 \\(delta &gt;= 0\\) |") {
			t.Errorf("%s: the summary's table does not show the blocked change and its check:\n%s", command, res.summary)
		}
		if diff := cmp.Diff(before, fx.state(t)); diff != "" {
			t.Errorf("%s changed the registry (-before +after):\n%s", command, diff)
		}
	}
}

// mdName is a name as the Markdown report escapes it.
func mdName(s string) string { return strings.ReplaceAll(s, "_", `\_`) }

// TestManifestDrift: a scheduled validate with fail-on-drift fails when the
// registry differs from the file, and passes when it does not.
func TestManifestDrift(t *testing.T) {
	t.Parallel()
	fx := newFleetModels(t, 2, 1)
	files := fleetFiles(fx.Manifest())
	if res := runAction(t, fleetRun("promote"), files); res.code != 0 {
		t.Fatalf("promote: exit %d\n%s", res.code, res.stdout)
	}
	inPlace := runAction(t, fleetRun("validate", "fail-on-drift", "true"), files)
	if inPlace.code != 0 || inPlace.outputs["changes"] != "[]" {
		t.Errorf("no drift: exit %d outputs %v\n%s", inPlace.code, inPlace.outputs, inPlace.stdout)
	}
	// Someone moves @champion back by hand, and v2 out of Production.
	ctx := t.Context()
	if err := fx.f.SetAlias(ctx, fx.models[1], "champion", "1"); err != nil {
		t.Fatal(err)
	}
	if err := fx.f.Transition(ctx, fx.models[0], "2", "Staging"); err != nil {
		t.Fatal(err)
	}
	before := fx.state(t)
	drift := runAction(t, fleetRun("validate", "fail-on-drift", "true"), files)
	if drift.code != 1 || !strings.Contains(drift.stdout, "drift (fail-on-drift): 2 of 5 entries differ from "+manifestPath) {
		t.Errorf("drift: exit %d, want 1\n%s", drift.code, drift.stdout)
	}
	cs := changesOf(t, drift)
	if len(cs) != 2 {
		t.Errorf("changes = %+v, want the two drifted entries", cs)
	}
	// On a terminal: the table of changes as text, the unchanged entries counted.
	term := runAction(t, fleetRun("validate", "GITHUB_ACTIONS", ""), files)
	row := strings.Join(strings.Fields(strings.Join(lines(term.stdout, "  "+fx.models[1]+"  "), "")), " ")
	if term.code != 0 || !strings.Contains(term.stdout, "MODEL") || !strings.Contains(term.stdout, "3 unchanged entries") ||
		row != fx.models[1]+" @champion v1 → v2 pass would promote -" {
		t.Errorf("terminal: exit %d\n%s", term.code, term.stdout)
	}
	quiet := runAction(t, fleetRun("validate"), files)
	if quiet.code != 0 || !strings.Contains(quiet.stdout, "::warning::drift: 2 of 5 entries differ") {
		t.Errorf("drift without fail-on-drift: exit %d, want 0 and a warning\n%s", quiet.code, quiet.stdout)
	}
	if diff := cmp.Diff(before, fx.state(t)); diff != "" {
		t.Errorf("validate changed the registry (-before +after):\n%s", diff)
	}
}

// TestManifestErrorEntryAppliesNothing: a version that does not exist makes
// its entry an error: status 3, and no other entry is applied.
func TestManifestErrorEntryAppliesNothing(t *testing.T) {
	t.Parallel()
	fx := newFleetModels(t, 2, 0)
	manifest := strings.Replace(fx.Manifest(), "challenger: 2", "challenger: 7", 1)
	files := fleetFiles(manifest)
	before := fx.state(t)
	res := runAction(t, fleetRun("promote"), files)
	if res.code != 3 {
		t.Fatalf("promote: exit %d, want 3\n%s", res.code, res.stdout)
	}
	if !strings.Contains(res.stdout, manifestPath+":4:") || !strings.Contains(res.stdout, "nothing is applied") {
		t.Errorf("the error does not name the entry's line:\n%s", res.stdout)
	}
	if o := outcomes(changesOf(t, res)); o["failed"] != 1 {
		t.Errorf("changes = %v, want the failed entry", o)
	}
	if diff := cmp.Diff(before, fx.state(t)); diff != "" {
		t.Errorf("promote changed the registry (-before +after):\n%s", diff)
	}
}

// TestManifestRerunCompletesAPartialApply: one entry's move is refused (403)
// and another's history write fails; the run exits 3 with the others
// applied, and a rerun with the reviewed digest completes both.
func TestManifestRerunCompletesAPartialApply(t *testing.T) {
	t.Parallel()
	mlflowtest.RequireServer(t, srv) // a fault proxy in front of the real server
	fx := newFleetModels(t, 5, 0)
	files := fleetFiles(fx.Manifest())
	validate := runAction(t, fleetRun("validate"), files)
	digest := validate.outputs["plan-digest"]
	proxy := faultproxy.New(t, srv.URL)
	proxy.Add(
		faultproxy.Rule{Method: http.MethodPost, Path: "/registered-models/alias", Contains: `"` + fx.models[1] + `"`,
			Fault: faultproxy.Status(http.StatusForbidden)},
		faultproxy.Rule{Method: http.MethodPost, Path: "/registered-models/set-tag", Contains: `"` + fx.models[3] + `"`,
			Fault: faultproxy.Status(http.StatusForbidden)},
	)
	in := fleetRun("promote", "expected-plan-digest", digest, "tracking-uri", proxy.URL,
		"MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
	first := runAction(t, in, files)
	if first.code != 3 {
		t.Fatalf("first promote: exit %d, want 3\n%s", first.code, first.stdout)
	}
	o := outcomes(changesOf(t, first))
	if o["failed"] != 2 || o["promoted"] != 3 || first.outputs["changed"] != "true" {
		t.Errorf("first promote: changes %v, outputs %v", o, first.outputs)
	}
	if !strings.Contains(first.stdout, "a rerun completes what is left") {
		t.Errorf("the error does not say a rerun completes:\n%s", first.stdout)
	}
	proxy.Clear()
	second := runAction(t, in, files)
	if second.code != 0 {
		t.Fatalf("rerun: exit %d\n%s", second.code, second.stdout)
	}
	for _, m := range fx.models {
		if v := aliasOf(t, fx.f, m, "champion"); v != "2" {
			t.Errorf("%s@champion = v%s, want v2", m, v)
		}
		if h := fx.history(t, m, "alias.champion"); len(h) != 1 || h[0].PlanDigest != digest {
			t.Errorf("%s history = %+v, want exactly one record of the reviewed plan", m, h)
		}
	}
	third := runAction(t, in, files)
	if third.code != 0 || third.outputs["changed"] != "false" {
		t.Errorf("third run: exit %d outputs %v", third.code, third.outputs)
	}
}

// TestManifestRerunCompletesARecordOfTheSameSecond: an apply moves
// @challenger in the same second as the promotion its history ends with
// (fixedNow: every run here is in one second), and its history write fails
// (exit 3). The rerun finds the target in place and completes the record,
// by promote's rule of an unfinished record (a record as new as the
// history's newest, moving the target from the version that entry put
// there, is unfinished), as history and rollback read it.
func TestManifestRerunCompletesARecordOfTheSameSecond(t *testing.T) {
	t.Parallel()
	mlflowtest.RequireServer(t, srv) // a fault proxy in front of the real server
	fx := newFleetModels(t, 1, 0)
	m := fx.models[0]
	files := func(v string) map[string]string {
		return fleetFiles(fmt.Sprintf("version: 1\nmodels:\n  %s:\n    aliases: {challenger: %s}\n", m, v))
	}
	if res := runAction(t, fleetRun("promote"), files("1")); res.code != 0 {
		t.Fatalf("promote of challenger: 1: exit %d\n%s", res.code, res.stdout)
	}
	proxy := faultproxy.New(t, srv.URL)
	proxy.Add(faultproxy.Rule{Method: http.MethodPost, Path: "/registered-models/set-tag", Contains: `"mlreg.history.alias.challenger"`,
		Fault: faultproxy.Status(http.StatusForbidden)})
	in := fleetRun("promote", "tracking-uri", proxy.URL, "MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
	if res := runAction(t, in, files("2")); res.code != 3 || aliasOf(t, fx.f, m, "challenger") != "2" {
		t.Fatalf("promote of challenger: 2 with the history write refused: exit %d, @challenger v%s; want 3, moved\n%s",
			res.code, aliasOf(t, fx.f, m, "challenger"), res.stdout)
	}
	if h := fx.history(t, m, "alias.challenger"); len(h) != 1 || h[0].Version != "1" {
		t.Fatalf("history after the refused write = %+v, want the record of v1 alone", h)
	}
	proxy.Clear()
	rerun := runAction(t, in, files("2"))
	if rerun.code != 0 {
		t.Fatalf("rerun: exit %d\n%s", rerun.code, rerun.stdout)
	}
	h := fx.history(t, m, "alias.challenger")
	if len(h) != 2 || h[0].Version != "2" || h[0].PreviousVersion != "1" || h[0].At != h[1].At {
		t.Errorf("history after the rerun = %+v, want v2 (from v1) on top of v1, in the same second", h)
	}
	hist := runAction(t, map[string]string{"command": "history", "model-name": m, "target-alias": "challenger"}, nil)
	if hist.code != 0 || strings.Contains(hist.stdout, "did not write") || strings.Contains(hist.stdout, "drift") {
		t.Errorf("history after the rerun: exit %d, still an unfinished record or drift:\n%s", hist.code, hist.stdout)
	}
}

// TestManifestInputsConflict: the inputs of a single promotion next to
// manifest are refused by name (status 2), before anything is read.
func TestManifestInputsConflict(t *testing.T) {
	t.Parallel()
	cases := []struct {
		inputs map[string]string
		want   string
	}{
		{fleetRun("promote", "model-name", "fraud"), "input model-name: not used with manifest"},
		{fleetRun("promote", "target-alias", "champion"), "input target-alias: not used with manifest"},
		{fleetRun("history"), "input manifest: only validate and promote read a manifest"},
		{fleetRun("validate", "expected-plan-digest", "sha256:"+strings.Repeat("0", 64)), "input expected-plan-digest: only with promote"},
		{fleetRun("promote", "expected-plan-digest", "abc"), "input expected-plan-digest: want sha256:<64 hex digits>"},
		{fleetRun("promote", "parallelism", "0"), "input parallelism: want a whole number from 1 to 64"},
		{map[string]string{"model-name": "m", "target-alias": "champion", "expected-plan-digest": "sha256:" + strings.Repeat("0", 64)},
			"input expected-plan-digest: only with manifest"},
	}
	for _, tc := range cases {
		res := runAction(t, tc.inputs, nil)
		if res.code != 2 || !strings.Contains(res.stdout, tc.want) {
			t.Errorf("%v: exit %d, want 2 and %q\n%s", tc.inputs, res.code, tc.want, res.stdout)
		}
	}
}

// TestManifestPrompts applies a manifest that moves a prompt of MLflow 3's
// Prompt Registry (kind: prompt) and a model at once; the prompt loads back
// by its alias with MLflow's own API.
func TestManifestPrompts(t *testing.T) {
	t.Parallel()
	s := mlflowtest.RequireServer(t, srv)
	prompt := mlflowtest.UniqueName(t, "support")
	mlflowtest.RunPython(t.Context(), t, fmt.Sprintf(registerPromptScript, prompt), "MLFLOW_TRACKING_URI="+s.URL)
	fx := newFleetModels(t, 1, 0)
	policy := promptPolicy + `  - name: models
    applies-to: {alias: champion}
    metrics: {val_auc: {min: 0.85}}
  - name: challenger
    applies-to: {alias: challenger}
    run: {status: FINISHED}
`
	manifest := fmt.Sprintf("version: 1\nmodels:\n  %s:\n    kind: prompt\n    aliases: {production: 3}\n  %s:\n    aliases: {champion: 2}\n", prompt, fx.models[0])
	files := map[string]string{".github/mlreg-policy.yml": policy, manifestPath: manifest}
	res := runAction(t, fleetRun("promote"), files)
	if res.code != 0 {
		t.Fatalf("promote: exit %d\n%s", res.code, res.stdout)
	}
	if o := outcomes(changesOf(t, res)); o["promoted"] != 2 {
		t.Errorf("changes = %v, want 2 promoted", o)
	}
	if !strings.Contains(res.summary, "prompt "+mdName(prompt)) {
		t.Errorf("the summary does not say prompt:\n%s", res.summary)
	}
	// The report file's entries: each with the URIs that load it and its MLflow page.
	entries := reportEntries(t, reportJSON(t, res))
	for key, want := range map[string][3]string{
		prompt + " @production":     {"prompts:/" + prompt + "/3", "prompts:/" + prompt + "@production", mlflow.Rules{UI: s.URL}.VersionURL(prompt, "3", true)},
		fx.models[0] + " @champion": {"models:/" + fx.models[0] + "/2", "models:/" + fx.models[0] + "@champion", mlflow.Rules{UI: s.URL}.VersionURL(fx.models[0], "2", false)},
	} {
		e := entries[key]
		links, _ := e["links"].(map[string]any)
		if got := [3]string{fmt.Sprint(e["model_uri"]), fmt.Sprint(e["alias_uri"]), fmt.Sprint(links["version"])}; got != want {
			t.Errorf("%s: model_uri, alias_uri, links.version = %q, want %q", key, got, want)
		}
	}
	out := mlflowtest.RunPython(t.Context(), t, fmt.Sprintf(loadPromptScript, "prompts:/"+prompt+"@production"), "MLFLOW_TRACKING_URI="+s.URL)
	var got map[string]string
	if err := json.Unmarshal([]byte(lastLine(out)), &got); err != nil || got["version"] != "3" {
		t.Errorf("prompts:/%s@production loaded %v (%v), want v3", prompt, got, err)
	}
	// v2 is not reviewed: moving the prompt to it is blocked, and so is the model's entry.
	blocked := strings.Replace(manifest, "production: 3", "production: 2", 1)
	blocked = strings.Replace(blocked, "champion: 2", "champion: 1", 1)
	files[manifestPath] = blocked
	if res := runAction(t, fleetRun("promote"), files); res.code != 1 {
		t.Errorf("blocked prompt: exit %d, want 1\n%s", res.code, res.stdout)
	}
	if v := aliasOf(t, fx.f, fx.models[0], "champion"); v != "2" {
		t.Errorf("the model moved to v%s although the prompt's change failed", v)
	}
}

// TestManifestCorpus applies a manifest over fixtures made with MLflow's
// high-level Python API (log_model, a PythonModel, a prompt registered with
// register_prompt): after promote, each alias loads back with MLflow's own
// API as the version the file names; then a second manifest moves them
// again, and the rerun changes nothing.
func TestManifestCorpus(t *testing.T) {
	t.Parallel()
	c := pyCorpus(t)
	alias := uniqueAlias(t, "serving")
	policy := strings.ReplaceAll(`version: 1
rules:
  - name: sklearn
    applies-to: {alias: ALIAS, models: ["`+c.Sklearn.Name+`"]}
    metrics:
      val_accuracy: {min: 0.5}
    tags: {dataset_version: present}
  - name: pyfunc
    applies-to: {alias: ALIAS, models: ["`+c.PyFunc.Name+`"]}
    metrics:
      val_f1: {min: 0.5}
  - name: prompts
    applies-to: {alias: ALIAS, kind: prompt}
    tags: {reviewed: "true"}
`, "ALIAS", alias)
	file := func(sk, pf, pr int) map[string]string {
		m := fmt.Sprintf("version: 1\nmodels:\n  %s:\n    aliases: {%s: %d}\n  %s:\n    aliases: {%s: %d}\n  %s:\n    kind: prompt\n    aliases: {%s: %d}\n",
			c.Sklearn.Name, alias, sk, c.PyFunc.Name, alias, pf, c.Prompt.Name, alias, pr)
		return map[string]string{".github/mlreg-policy.yml": policy, manifestPath: m}
	}
	check := func(t *testing.T, sk, pf, pr int) {
		t.Helper()
		assertServes(t, c, c.Sklearn, alias, c.Sklearn.V(t, sk))
		assertServes(t, c, c.PyFunc, alias, c.PyFunc.V(t, pf))
		r := c.RenderPrompt(t.Context(), t, "prompts:/"+c.Prompt.Name+"@"+alias)
		if r.Version != fmt.Sprint(pr) {
			t.Errorf("prompts:/%s@%s loaded v%s, want v%d", c.Prompt.Name, alias, r.Version, pr)
		}
	}
	for _, step := range [][3]int{{3, 2, 3}, {2, 3, 1}} {
		files := file(step[0], step[1], step[2])
		validate := runAction(t, fleetRun("validate"), files)
		if validate.code != 0 || len(changesOf(t, validate)) != 3 {
			t.Fatalf("validate %v: exit %d changes %s\n%s", step, validate.code, validate.outputs["changes"], validate.stdout)
		}
		res := runAction(t, fleetRun("promote", "expected-plan-digest", validate.outputs["plan-digest"]), files)
		if res.code != 0 || outcomes(changesOf(t, res))["promoted"] != 3 {
			t.Fatalf("promote %v: exit %d changes %s\n%s", step, res.code, res.outputs["changes"], res.stdout)
		}
		check(t, step[0], step[1], step[2])
		if rerun := runAction(t, fleetRun("promote"), files); rerun.code != 0 || rerun.outputs["changed"] != "false" {
			t.Errorf("rerun %v: exit %d outputs %v", step, rerun.code, rerun.outputs)
		}
	}
	// v4 of the prompt is not reviewed: the whole file is blocked.
	if res := runAction(t, fleetRun("promote"), file(3, 3, 4)); res.code != 1 {
		t.Errorf("unreviewed prompt: exit %d, want 1\n%s", res.code, res.stdout)
	}
	check(t, 2, 3, 1)
}

// TestManifestRetriesWhileParallel: 503s while eight entries are planned
// and applied at once are retried, each retry logs one whole line, and the
// run completes as if nothing had happened.
func TestManifestRetriesWhileParallel(t *testing.T) {
	t.Parallel()
	mlflowtest.RequireServer(t, srv) // a fault proxy in front of the real server
	fx := newFleetModels(t, 6, 0)
	proxy := faultproxy.New(t, srv.URL)
	proxy.Add(
		faultproxy.Rule{Method: http.MethodGet, Path: "/registered-models/get", Times: 6, Fault: faultproxy.Status(http.StatusServiceUnavailable)},
		faultproxy.Rule{Method: http.MethodPost, Path: "/registered-models/alias", Nth: 2, Times: 2, Fault: faultproxy.Status(http.StatusServiceUnavailable)},
	)
	res := runAction(t, fleetRun("promote", "parallelism", "8", "tracking-uri", proxy.URL,
		"MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR", "1", "MLFLOW_HTTP_REQUEST_BACKOFF_JITTER", "0"), fleetFiles(fx.Manifest()))
	if res.code != 0 {
		t.Fatalf("exit %d\n%s", res.code, res.stdout)
	}
	if o := outcomes(changesOf(t, res)); o["promoted"] != 6 {
		t.Errorf("changes = %v, want 6 promoted", o)
	}
	retries := 0
	for _, l := range strings.Split(res.stdout, "\n") {
		if n := strings.Count(l, "retry: "); n > 1 || (n == 1 && !strings.HasPrefix(l, "retry: ")) {
			t.Errorf("a retry line is mixed with another: %q", l)
		}
		if strings.HasPrefix(l, "retry: ") {
			retries++
		}
	}
	if retries != 8 {
		t.Errorf("%d retry lines, want 8 (6 reads, 2 moves)\n%s", retries, res.stdout)
	}
	for _, m := range fx.models {
		if h := fx.history(t, m, "alias.champion"); len(h) != 1 {
			t.Errorf("%s: %d history records, want 1", m, len(h))
		}
	}
}

// TestManifestConflictDoesNotStopTheOthers: a target moved by hand while the
// run applies (after its plan, before its compare-and-set) is a conflict for
// that entry only: the others are promoted, the status is 4, and a rerun
// completes the file.
func TestManifestConflictDoesNotStopTheOthers(t *testing.T) {
	t.Parallel()
	mlflowtest.RequireServer(t, srv) // a fault proxy in front of the real server
	fx := newFleetModels(t, 4, 0)
	files := fleetFiles(fx.Manifest())
	moved := fx.models[1]
	proxy := faultproxy.New(t, srv.URL)
	proxy.Add(faultproxy.Rule{Method: http.MethodPost, Path: "/registered-models/create", Contains: `"` + mlflow.LockName(moved) + `"`,
		Fault: faultproxy.Call(func() {
			// Someone removes @champion by hand just as the run takes the lock.
			if err := fx.f.DeleteAlias(context.Background(), moved, "champion"); err != nil {
				t.Error(err)
			}
		})})
	res := runAction(t, fleetRun("promote", "tracking-uri", proxy.URL), files)
	if res.code != 4 {
		t.Fatalf("exit %d, want 4\n%s", res.code, res.stdout)
	}
	for _, c := range changesOf(t, res) {
		want := "promoted"
		if c.Model == moved && c.Target == "@champion" {
			want = "conflict"
		}
		if c.Outcome != want {
			t.Errorf("%s %s: %s, want %s", c.Model, c.Target, c.Outcome, want)
		}
	}
	if v := aliasOf(t, fx.f, moved, "champion"); v != "" {
		t.Errorf("%s@champion = v%s: the conflicting entry was applied", moved, v)
	}
	if st := fx.state(t); strings.Contains(fmt.Sprint(st), "LOCK LEFT") {
		t.Errorf("a lock is left: %v", st)
	}
	rerun := runAction(t, fleetRun("promote"), files)
	if rerun.code != 0 || outcomes(changesOf(t, rerun))["promoted"] != 1 {
		t.Errorf("rerun: exit %d changes %s\n%s", rerun.code, rerun.outputs["changes"], rerun.stdout)
	}
}

// reviewedDigest reads a manifest comment as the handover step of
// examples/workflows/registry-as-code.yml does: the "Reviewed plan" row,
// else the "Plan digest" row.
func reviewedDigest(body string) string {
	for _, label := range []string{"Reviewed plan", "Plan digest"} {
		if m := regexp.MustCompile("(?m)^\\| " + label + " \\| `(sha256:[0-9a-f]{64})`").FindStringSubmatch(body); m != nil {
			return m[1]
		}
	}
	return ""
}
