package fleet_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/mlreg/mlreg-action/internal/checks"
	"github.com/mlreg/mlreg-action/internal/fleet"
	"github.com/mlreg/mlreg-action/internal/manifest"
	"github.com/mlreg/mlreg-action/internal/mlflow"
	"github.com/mlreg/mlreg-action/internal/outcome"
	"github.com/mlreg/mlreg-action/internal/promote"
)

var fixedNow = time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)

// testPolicy gates @champion on val_auc (floor and vs-champion), lets
// @challenger through on a finished run, and gates stage Production on the floor.
const testPolicy = `version: 1
rules:
  - name: champion gate
    applies-to:
      alias: champion
    metrics:
      val_auc:
        min: 0.85
        vs-champion:
          min-improvement: 0.0
  - name: challenger
    applies-to:
      alias: challenger
    run:
      status: FINISHED
  - name: production
    applies-to:
      stage: Production
    metrics:
      val_auc:
        min: 0.85
  - name: staging
    applies-to:
      stage: Staging
    run:
      status: FINISHED
`

func mustManifest(t *testing.T, src string) *manifest.Manifest {
	t.Helper()
	m, err := manifest.Parse(".github/mlreg-models.yml", []byte(src))
	if err != nil {
		t.Fatalf("manifest: %v", err)
	}
	return m
}

func mustPolicy(t *testing.T, src string) *checks.Policy {
	t.Helper()
	p, err := checks.Parse(".github/mlreg-policy.yml", []byte(src))
	if err != nil {
		t.Fatalf("policy: %v", err)
	}
	return p
}

func service(f *fakeRegistry) *promote.Service {
	return &promote.Service{Reg: f, Lock: f, LockOwner: "test", Now: func() time.Time { return fixedNow }}
}

func opts() fleet.Options {
	return fleet.Options{Parallelism: 4, ArchiveExisting: true, Actor: "octocat", Commit: "abc123",
		RunURL: "https://github.com/o/r/actions/runs/1"}
}

// statuses renders each entry as "model target: status holder→desired verdict".
func statuses(fp *fleet.FleetPlan) []string {
	var out []string
	for _, e := range fp.Entries {
		s := fmt.Sprintf("%s %s: %s %s→%s", e.Model, e.Label(), e.Status, e.Holder, e.Desired)
		if e.Verdict != "" {
			s += " " + e.Verdict
		}
		out = append(out, s)
	}
	return out
}

func changesJSON(t *testing.T, cs []fleet.Change) string {
	t.Helper()
	b, err := json.Marshal(cs)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// threeModels is churn (@champion held by v2, @challenger unheld), fraud
// (@champion v1, @challenger v2, v1 in Production) and a prompt.
func threeModels() *fakeRegistry {
	f := newFake()
	f.addModel("churn", 2, 0.86, 0.88)
	f.setAlias("churn", "champion", "2")
	f.addModel("fraud", 3, 0.86, 0.90, 0.95)
	f.setAlias("fraud", "champion", "1")
	f.setAlias("fraud", "challenger", "2")
	f.setStage("fraud", "1", mlflow.StageProduction)
	f.addModel("support-prompt", 2)
	f.setModelTag("support-prompt", "mlflow.prompt.is_prompt", "true")
	f.setAlias("support-prompt", "production", "1")
	return f
}

const threeModelsManifest = `version: 1
models:
  churn:
    aliases: {champion: 2, challenger: 1}
  fraud:
    aliases:
      champion: 2
      challenger: 3
    stages:
      production: 1
  support-prompt:
    kind: prompt
    aliases: {production: 1}
`

func TestPlanSortsEntriesAndCountsRequests(t *testing.T) {
	t.Parallel()
	f := threeModels()
	fp, err := fleet.Plan(t.Context(), service(f), mustManifest(t, threeModelsManifest), mustPolicy(t, testPolicy), opts())
	if err != nil {
		t.Fatal(err)
	}
	if err := fp.Err(); err != nil {
		t.Fatalf("Err() = %v", err)
	}
	want := []string{
		"churn @challenger: change →1 pass",
		"churn @champion: unchanged 2→2",
		"fraud @challenger: change 2→3 pass",
		"fraud @champion: change 1→2 pass",
		"fraud stage Production: unchanged 1→1",
		"support-prompt @production: unchanged 1→1",
	}
	if diff := cmp.Diff(want, statuses(fp)); diff != "" {
		t.Errorf("entries (-want +got):\n%s", diff)
	}
	// The model read counts on the model's first entry; an unchanged entry
	// costs it and nothing else. A change is planned as a single promotion:
	// candidate, holder, and their runs.
	var reqs []int
	for _, e := range fp.Entries {
		reqs = append(reqs, e.Requests)
	}
	if diff := cmp.Diff([]int{1 + 3, 0, 1 + 4, 4, 0, 1}, reqs); diff != "" {
		t.Errorf("requests per entry (-want +got):\n%s", diff)
	}
	if fp.Requests != 14 || f.count("") != 14 {
		t.Errorf("requests = %d (registry saw %d), want 14", fp.Requests, f.count(""))
	}
	if got := f.count("GetRegisteredModel"); got != 3 {
		t.Errorf("registered-models/get calls = %d, want one per model (3)", got)
	}
	if len(f.writes()) != 0 {
		t.Errorf("Plan wrote to the registry: %v", f.writes())
	}
	wantChanges := `[{"model":"churn","target":"@challenger","from":null,"to":"1","verdict":"pass","outcome":"would-change"},` +
		`{"model":"fraud","target":"@challenger","from":"2","to":"3","verdict":"pass","outcome":"would-change"},` +
		`{"model":"fraud","target":"@champion","from":"1","to":"2","verdict":"pass","outcome":"would-change"}]`
	if got := changesJSON(t, fp.Changes()); got != wantChanges {
		t.Errorf("Changes() =\n%s\nwant\n%s", got, wantChanges)
	}
	if fp.Verdict() != checks.VerdictPass || fp.ChangeCount() != 3 || fp.Unchanged() != 3 || len(fp.Differences()) != 3 {
		t.Errorf("verdict %s, %d changes, %d unchanged, %d drift; want pass, 3, 3, 3",
			fp.Verdict(), fp.ChangeCount(), fp.Unchanged(), len(fp.Differences()))
	}
	// A change carries the single promotion's plan: the same checks.
	p := fp.Entries[3].Plan
	if p == nil || p.Candidate.Version != "2" || p.Targets[0].Current != "1" || len(p.Checks) != 2 {
		t.Fatalf("fraud @champion plan = %+v", p)
	}
	if c := p.Checks[1]; c.Kind != checks.KindVsChampion || c.Champion != "0.86" || c.Status != checks.StatusPass {
		t.Errorf("vs-champion check = %+v", c)
	}
}

func TestApplyPromotesEveryChangeOnceAndRerunChangesNothing(t *testing.T) {
	t.Parallel()
	f := threeModels()
	svc, m, pol := service(f), mustManifest(t, threeModelsManifest), mustPolicy(t, testPolicy)
	fp, err := fleet.Plan(t.Context(), svc, m, pol, opts())
	if err != nil {
		t.Fatal(err)
	}
	res, err := fleet.Apply(t.Context(), svc, fp, fleet.ApplyOptions{Parallelism: 4, ExpectedDigest: fp.Digest})
	if err != nil {
		t.Fatalf("Apply: %v", err)
	}
	wantChanges := `[{"model":"churn","target":"@challenger","from":null,"to":"1","verdict":"pass","outcome":"promoted"},` +
		`{"model":"fraud","target":"@challenger","from":"2","to":"3","verdict":"pass","outcome":"promoted"},` +
		`{"model":"fraud","target":"@champion","from":"1","to":"2","verdict":"pass","outcome":"promoted"}]`
	if got := changesJSON(t, res.Changes()); got != wantChanges {
		t.Errorf("Changes() =\n%s\nwant\n%s", got, wantChanges)
	}
	if !res.Changed() {
		t.Error("Changed() = false")
	}
	for _, c := range []struct{ model, alias, want string }{
		{"churn", "challenger", "1"}, {"churn", "champion", "2"}, {"fraud", "champion", "2"}, {"fraud", "challenger", "3"},
	} {
		if got := f.alias(c.model, c.alias); got != c.want {
			t.Errorf("%s@%s = v%s, want v%s", c.model, c.alias, got, c.want)
		}
	}
	// One history entry per change, naming the manifest, the commit and the plan.
	for i, c := range []struct{ model, alias, version, prev string }{
		{"churn", "challenger", "1", ""}, {"fraud", "challenger", "3", "2"}, {"fraud", "champion", "2", "1"},
	} {
		h := f.history(c.model, checks.AliasTarget(c.alias))
		if len(h) != 1 {
			t.Fatalf("%s@%s history has %d entries, want 1", c.model, c.alias, len(h))
		}
		r := h[0]
		entry := []int{0, 2, 3}[i]
		if r.Version != c.version || r.PreviousVersion != c.prev || r.Manifest != ".github/mlreg-models.yml" ||
			r.Commit != "abc123" || r.PlanDigest != fp.Digest || r.ManifestEntry != fp.Entries[entry].Digest || r.By != "octocat" {
			t.Errorf("%s@%s record = %+v", c.model, c.alias, r)
		}
	}
	if l := f.locks(); len(l) != 0 {
		t.Errorf("locks left: %v", l)
	}

	// A rerun of the same reviewed plan finds everything in place.
	f.resetCalls()
	fp2, err := fleet.Plan(t.Context(), svc, m, pol, opts())
	if err != nil {
		t.Fatal(err)
	}
	if fp2.ChangeCount() != 0 || fp2.Requests != 3 {
		t.Errorf("rerun plan: %d changes, %d requests; want 0 and 3 (one per model)", fp2.ChangeCount(), fp2.Requests)
	}
	res2, err := fleet.Apply(t.Context(), svc, fp2, fleet.ApplyOptions{ExpectedDigest: fp.Digest})
	if err != nil {
		t.Fatalf("rerun Apply: %v", err)
	}
	if res2.Changed() || !res2.Resumed || len(f.writes()) != 0 {
		t.Errorf("rerun: changed %v, resumed %v, writes %v; want nothing changed, resumed", res2.Changed(), res2.Resumed, f.writes())
	}
	if got := changesJSON(t, res2.Changes()); got != "[]" {
		t.Errorf("rerun Changes() = %s, want []", got)
	}
}

func TestApplyPolicyFailureBlocksEveryChange(t *testing.T) {
	t.Parallel()
	f := newFake()
	f.addModel("a", 2, 0.90, 0.80) // v2 is below the floor
	f.setAlias("a", "champion", "1")
	f.addModel("b", 2, 0.86, 0.90)
	f.setAlias("b", "champion", "1")
	m := mustManifest(t, "version: 1\nmodels:\n  a: {aliases: {champion: 2}}\n  b: {aliases: {champion: 2}}\n")
	svc := service(f)
	fp, err := fleet.Plan(t.Context(), svc, m, mustPolicy(t, testPolicy), opts())
	if err != nil {
		t.Fatal(err)
	}
	if fp.Verdict() != checks.VerdictFail {
		t.Errorf("Verdict() = %s, want fail", fp.Verdict())
	}
	res, err := fleet.Apply(t.Context(), svc, fp, fleet.ApplyOptions{})
	if !errors.Is(err, promote.ErrPolicyFailed) {
		t.Fatalf("Apply error = %v, want ErrPolicyFailed", err)
	}
	if !strings.Contains(err.Error(), "a @champion: v1 → v2 (metric val_auc, vs-champion val_auc)") {
		t.Errorf("error does not name the failing change and checks: %v", err)
	}
	if w := f.writes(); len(w) != 0 || f.count("CreateRegisteredModel") != 0 {
		t.Errorf("a blocked plan wrote: %v", w)
	}
	want := `[{"model":"a","target":"@champion","from":"1","to":"2","verdict":"fail","outcome":"blocked"},` +
		`{"model":"b","target":"@champion","from":"1","to":"2","verdict":"pass","outcome":"would-change"}]`
	if got := changesJSON(t, res.Changes()); got != want {
		t.Errorf("Changes() =\n%s\nwant\n%s", got, want)
	}
}

func TestPlanErrorEntries(t *testing.T) {
	t.Parallel()
	f := newFake()
	f.addModel("a", 2)
	f.setAlias("a", "champion", "1")
	f.setStatus("a", "2", mlflow.StatusPending)
	f.addModel("p", 1)
	f.setModelTag("p", "mlflow.prompt.is_prompt", "TRUE")
	src := `version: 1
models:
  a:
    aliases:
      champion: 9
      challenger: 2
  gone:
    aliases: {champion: 1}
  p:
    aliases: {champion: 1}
`
	svc := service(f)
	fp, err := fleet.Plan(t.Context(), svc, mustManifest(t, src), mustPolicy(t, testPolicy), opts())
	if err != nil {
		t.Fatal(err)
	}
	wantErrs := []string{
		`.github/mlreg-models.yml:6:19: a @challenger (v2): model version not ready: a v2 is PENDING_REGISTRATION`,
		`.github/mlreg-models.yml:5:17: a @champion (v9): failed to get model version "a" v9: GET /api/2.0/mlflow/model-versions/get: 404 RESOURCE_DOES_NOT_EXIST`,
		`.github/mlreg-models.yml:8:25: gone @champion (v1): registered model "gone" does not exist`,
		`.github/mlreg-models.yml:10:25: "p" is a prompt in the registry (tag mlflow.prompt.is_prompt=true): declare it with kind: prompt`,
	}
	for i, e := range fp.Entries {
		if e.Status != fleet.StatusError || e.Err == nil || !strings.Contains(e.Err.Error(), wantErrs[i]) {
			t.Errorf("entry %d: %s %v\nwant error containing %s", i, e.Status, e.Err, wantErrs[i])
		}
	}
	// The kind mismatch is the file's problem (status 2) and is reported first.
	err = fp.Err()
	var perr *checks.Error
	if !errors.As(err, &perr) || perr.Line != 10 {
		t.Errorf("Err() = %v, want the manifest error at line 10", err)
	}
	for _, w := range wantErrs {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("Err() does not list %q:\n%v", w, err)
		}
	}
	// @challenger is held by nobody and @champion by v1: both differ.
	want := `[{"model":"a","target":"@challenger","from":null,"to":"2","verdict":"error","outcome":"failed"},` +
		`{"model":"a","target":"@champion","from":"1","to":"9","verdict":"error","outcome":"failed"}]`
	if got := changesJSON(t, fp.Changes()); got != want {
		t.Errorf("Changes() =\n%s\nwant\n%s", got, want)
	}
	if _, err := fleet.Apply(t.Context(), svc, fp, fleet.ApplyOptions{}); err == nil || len(f.writes()) != 0 {
		t.Errorf("Apply of a plan with error entries: err %v, writes %v; want an error and no write", err, f.writes())
	}
}

func TestPlanRegistryErrorIsNotInvalidInput(t *testing.T) {
	t.Parallel()
	f := newFake()
	f.addModel("a", 1)
	f.fail = func(op, model string, _ ...string) error {
		if op == "GetRegisteredModel" {
			return &mlflow.Error{StatusCode: http.StatusForbidden, Code: mlflow.CodePermissionDenied, Message: "denied"}
		}
		return nil
	}
	fp, err := fleet.Plan(t.Context(), service(f), mustManifest(t, "version: 1\nmodels:\n  a: {aliases: {champion: 1}}\n"), nil, opts())
	if err != nil {
		t.Fatal(err)
	}
	err = fp.Err()
	if err == nil || errors.Is(err, promote.ErrInvalid) || !mlflow.IsPermissionDenied(err) {
		t.Errorf("Err() = %v, want the registry's permission error", err)
	}
	if got := changesJSON(t, fp.Changes()); got != "[]" {
		t.Errorf("an unread holder is not drift: Changes() = %s", got)
	}
}

func TestPlanStages(t *testing.T) {
	t.Parallel()
	for _, noLatest := range []bool{false, true} {
		t.Run(fmt.Sprintf("noLatest=%v", noLatest), func(t *testing.T) {
			t.Parallel()
			f := newFake()
			if noLatest {
				f.SetNoLatestVersions()
			}
			f.addModel("m", 4, 0.86, 0.90, 0.90, 0.90)
			f.setStage("m", "1", mlflow.StageProduction)
			f.setStage("m", "3", mlflow.StageStaging)
			f.setStage("m", "4", mlflow.StageStaging) // v3 shares Staging with the higher v4
			src := "version: 1\nmodels:\n  m:\n    stages: {PRODUCTION: 2, staging: 3}\n"
			svc := service(f)
			fp, err := fleet.Plan(t.Context(), svc, mustManifest(t, src), mustPolicy(t, testPolicy), opts())
			if err != nil {
				t.Fatal(err)
			}
			want := []string{"m stage Production: change 1→2 pass", "m stage Staging: unchanged 3→3"}
			if diff := cmp.Diff(want, statuses(fp)); diff != "" {
				t.Errorf("entries (-want +got):\n%s", diff)
			}
			if _, err := fleet.Apply(t.Context(), svc, fp, fleet.ApplyOptions{}); err != nil {
				t.Fatalf("Apply: %v", err)
			}
			if f.stageOf("m", "2") != mlflow.StageProduction || f.stageOf("m", "1") != mlflow.StageArchived {
				t.Errorf("after apply: v2 %s, v1 %s; want Production, Archived", f.stageOf("m", "2"), f.stageOf("m", "1"))
			}
			h := f.history("m", checks.StageTarget("Production"))
			if len(h) != 1 || h[0].Version != "2" || h[0].PreviousVersion != "1" {
				t.Errorf("stage history = %+v", h)
			}
		})
	}
}

func TestDigestCoversStateNotRun(t *testing.T) {
	t.Parallel()
	f := threeModels()
	m, pol := mustManifest(t, threeModelsManifest), mustPolicy(t, testPolicy)
	plan := func(svc *promote.Service, o fleet.Options, pol *checks.Policy) string {
		t.Helper()
		fp, err := fleet.Plan(t.Context(), svc, m, pol, o)
		if err != nil {
			t.Fatal(err)
		}
		return fp.Digest
	}
	base := plan(service(f), opts(), pol)
	if !strings.HasPrefix(base, "sha256:") || len(base) != len("sha256:")+64 {
		t.Fatalf("digest %q", base)
	}
	// Another actor, commit, run, parallelism and time: the same digest.
	later := service(f)
	later.Now = func() time.Time { return fixedNow.Add(3 * time.Hour) }
	other := fleet.Options{Parallelism: 1, Actor: "someone", Commit: "def456", RunURL: "https://x/2"}
	if got := plan(later, other, pol); got != base {
		t.Errorf("digest changed with the run's details: %s vs %s", got, base)
	}
	// Another policy: another digest.
	if got := plan(service(f), opts(), mustPolicy(t, strings.Replace(testPolicy, "0.85", "0.80", 1))); got == base {
		t.Error("digest did not change with the policy")
	}
	// A move by hand: another digest.
	f.setAlias("fraud", "champion", "3")
	if got := plan(service(f), opts(), pol); got == base {
		t.Error("digest did not change with a holder")
	}
}

// fakeApprovals answers every query with n approvals and counts the calls.
type fakeApprovals struct {
	n     int
	calls atomic.Int64
}

func (a *fakeApprovals) Approvals(context.Context, checks.ApprovalQuery) (checks.ApprovalResult, error) {
	a.calls.Add(1)
	res := checks.ApprovalResult{Count: a.n}
	for i := range a.n {
		res.Approvers = append(res.Approvers, fmt.Sprintf("reviewer%d", i))
	}
	return res, nil
}

func TestDigestLeavesOutRunAgeAndApprovals(t *testing.T) {
	t.Parallel()
	const pol = `version: 1
rules:
  - name: gate
    applies-to: {alias: champion}
    run: {max-age: 168h}
    approval:
      pull-request-reviews: {min: 1}
`
	f := newFake()
	for i := range 5 {
		name := fmt.Sprintf("m%d", i)
		f.addModel(name, 2)
		f.setAlias(name, "champion", "1")
	}
	f.updateRuns(func(r *mlflow.Run) { r.Info.EndTime = fixedNow.Add(-time.Hour).UnixMilli() })
	m := mustManifest(t, "version: 1\nmodels:\n  m0: {aliases: {champion: 2}}\n  m1: {aliases: {champion: 2}}\n"+
		"  m2: {aliases: {champion: 2}}\n  m3: {aliases: {champion: 2}}\n  m4: {aliases: {champion: 2}}\n")
	// validate on the pull request: no review yet, the run ended an hour ago.
	unreviewed := &fakeApprovals{n: 0}
	o := opts()
	o.Approvals = unreviewed
	fp1, err := fleet.Plan(t.Context(), service(f), m, mustPolicy(t, pol), o)
	if err != nil {
		t.Fatal(err)
	}
	if fp1.Verdict() != checks.VerdictFail {
		t.Errorf("unreviewed verdict = %s, want fail", fp1.Verdict())
	}
	if n := unreviewed.calls.Load(); n != 1 {
		t.Errorf("GitHub asked %d times for 5 entries, want once", n)
	}
	// promote after the merge: reviewed, two hours later.
	svc := service(f)
	svc.Now = func() time.Time { return fixedNow.Add(2 * time.Hour) }
	o.Approvals = &fakeApprovals{n: 1}
	fp2, err := fleet.Plan(t.Context(), svc, m, mustPolicy(t, pol), o)
	if err != nil {
		t.Fatal(err)
	}
	if fp2.Verdict() != checks.VerdictPass {
		t.Errorf("reviewed verdict = %s, want pass", fp2.Verdict())
	}
	if fp1.Digest != fp2.Digest {
		t.Errorf("digests differ: %s (validate) vs %s (promote)", fp1.Digest, fp2.Digest)
	}
	res, err := fleet.Apply(t.Context(), svc, fp2, fleet.ApplyOptions{ExpectedDigest: fp1.Digest})
	if err != nil {
		t.Fatalf("Apply: %v", err)
	}
	h := f.history("m0", checks.AliasTarget("champion"))
	if len(h) != 1 || len(h[0].Approvers) != 1 || !res.Changed() {
		t.Errorf("history %+v: want one record with the approver", h)
	}
}

func TestApplyExpectedDigestMismatchChangesNothing(t *testing.T) {
	t.Parallel()
	f := threeModels()
	svc, m, pol := service(f), mustManifest(t, threeModelsManifest), mustPolicy(t, testPolicy)
	reviewed, err := fleet.Plan(t.Context(), svc, m, pol, opts())
	if err != nil {
		t.Fatal(err)
	}
	f.setAlias("fraud", "challenger", "1") // a move by hand after the review
	fp, err := fleet.Plan(t.Context(), svc, m, pol, opts())
	if err != nil {
		t.Fatal(err)
	}
	f.resetCalls()
	_, err = fleet.Apply(t.Context(), svc, fp, fleet.ApplyOptions{ExpectedDigest: reviewed.Digest})
	if !errors.Is(err, promote.ErrConflict) || !strings.Contains(err.Error(), reviewed.Digest) {
		t.Fatalf("Apply error = %v, want a conflict naming the reviewed digest", err)
	}
	if w := f.writes(); len(w) != 0 || f.count("CreateRegisteredModel") != 0 {
		t.Errorf("a plan that differs from the reviewed one wrote: %v", w)
	}
}

// failOnce makes the first call op on model fail with err.
func failOnce(op, model string, err error) func(string, string, ...string) error {
	var done atomic.Bool
	return func(o, m string, _ ...string) error {
		if o == op && m == model && done.CompareAndSwap(false, true) {
			return err
		}
		return nil
	}
}

var errDenied = &mlflow.Error{StatusCode: http.StatusForbidden, Code: mlflow.CodePermissionDenied, Message: "denied"}

func manyModels(n int) (*fakeRegistry, string) {
	f := newFake()
	var b strings.Builder
	b.WriteString("version: 1\nmodels:\n")
	for i := range n {
		name := fmt.Sprintf("m%02d", i)
		f.addModel(name, 2, 0.86, 0.90)
		f.setAlias(name, "champion", "1")
		fmt.Fprintf(&b, "  %s: {aliases: {champion: 2}}\n", name)
	}
	return f, b.String()
}

func TestApplyRerunCompletesAPartialApply(t *testing.T) {
	t.Parallel()
	f, src := manyModels(6)
	svc, m, pol := service(f), mustManifest(t, src), mustPolicy(t, testPolicy)
	reviewed, err := fleet.Plan(t.Context(), svc, m, pol, opts())
	if err != nil {
		t.Fatal(err)
	}
	f.fail = failOnce("SetAlias", "m03", errDenied)
	res, err := fleet.Apply(t.Context(), svc, reviewed, fleet.ApplyOptions{ExpectedDigest: reviewed.Digest})
	if err == nil || errors.Is(err, promote.ErrConflict) || !mlflow.IsPermissionDenied(err) {
		t.Fatalf("Apply error = %v, want the registry error", err)
	}
	if !strings.Contains(err.Error(), ".github/mlreg-models.yml:6:29: m03 @champion (v2)") {
		t.Errorf("error does not name the entry: %v", err)
	}
	var outcomes []string
	for _, er := range res.Entries {
		outcomes = append(outcomes, string(er.Outcome))
	}
	want := []string{"promoted", "promoted", "promoted", "failed", "promoted", "promoted"}
	if diff := cmp.Diff(want, outcomes); diff != "" {
		t.Errorf("outcomes (-want +got):\n%s", diff)
	}
	if f.alias("m03", "champion") != "1" || len(f.locks()) != 0 {
		t.Errorf("m03@champion = v%s, locks %v; want v1 and no lock", f.alias("m03", "champion"), f.locks())
	}

	// The rerun with the reviewed digest: the plan differs only by the
	// entries done, which their records vouch for.
	fp, err := fleet.Plan(t.Context(), svc, m, pol, opts())
	if err != nil {
		t.Fatal(err)
	}
	if fp.Digest == reviewed.Digest || fp.ChangeCount() != 1 {
		t.Fatalf("rerun plan: %d changes, digest same as reviewed: %v", fp.ChangeCount(), fp.Digest == reviewed.Digest)
	}
	f.resetCalls()
	res, err = fleet.Apply(t.Context(), svc, fp, fleet.ApplyOptions{ExpectedDigest: reviewed.Digest})
	if err != nil {
		t.Fatalf("rerun Apply: %v", err)
	}
	if !res.Resumed || f.alias("m03", "champion") != "2" {
		t.Errorf("rerun: resumed %v, m03@champion v%s", res.Resumed, f.alias("m03", "champion"))
	}
	for _, w := range f.writes() {
		if !strings.Contains(w, "m03") {
			t.Errorf("the rerun wrote to a model already done: %s", w)
		}
	}
	for i := range 6 {
		name := fmt.Sprintf("m%02d", i)
		h := f.history(name, checks.AliasTarget("champion"))
		if len(h) != 1 || h[0].PlanDigest != reviewed.Digest {
			t.Errorf("%s history = %+v, want one record of the reviewed plan", name, h)
		}
	}
}

func TestApplyRerunCompletesAnUnfinishedRecord(t *testing.T) {
	t.Parallel()
	f, src := manyModels(3)
	svc, m, pol := service(f), mustManifest(t, src), mustPolicy(t, testPolicy)
	reviewed, err := fleet.Plan(t.Context(), svc, m, pol, opts())
	if err != nil {
		t.Fatal(err)
	}
	// m01's alias moves, then its history write fails.
	f.fail = failOnce("SetRegisteredModelTag", "m01", errDenied)
	res, err := fleet.Apply(t.Context(), svc, reviewed, fleet.ApplyOptions{ExpectedDigest: reviewed.Digest})
	var partial *promote.PartialError
	if !errors.As(err, &partial) || res.Entries[1].Outcome != outcome.Failed {
		t.Fatalf("Apply error = %v (outcome %s), want a partial apply of m01", err, res.Entries[1].Outcome)
	}
	target := checks.AliasTarget("champion")
	if f.alias("m01", "champion") != "2" || len(f.history("m01", target)) != 0 {
		t.Fatalf("m01: alias v%s, %d history entries; want moved and unrecorded", f.alias("m01", "champion"), len(f.history("m01", target)))
	}

	fp, err := fleet.Plan(t.Context(), svc, m, pol, opts())
	if err != nil {
		t.Fatal(err)
	}
	if fp.ChangeCount() != 0 {
		t.Fatalf("rerun plan has %d changes, want 0", fp.ChangeCount())
	}
	res, err = fleet.Apply(t.Context(), svc, fp, fleet.ApplyOptions{ExpectedDigest: reviewed.Digest})
	if err != nil {
		t.Fatalf("rerun Apply: %v", err)
	}
	if !res.Resumed || res.Entries[1].Outcome != outcome.InPlace || len(res.Entries[1].Notes) == 0 {
		t.Errorf("rerun: resumed %v, m01 %+v; want the record completed", res.Resumed, res.Entries[1])
	}
	h := f.history("m01", target)
	if len(h) != 1 || h[0].PlanDigest != reviewed.Digest || h[0].Version != "2" || h[0].PreviousVersion != "1" {
		t.Errorf("m01 history = %+v, want the record of the reviewed plan", h)
	}
	for _, name := range []string{"m00", "m02"} {
		if n := len(f.history(name, target)); n != 1 {
			t.Errorf("%s has %d history entries, want 1", name, n)
		}
	}

	// A target moved by hand to its desired version has no record of ours
	// to complete: one read of the version, no write.
	f.addModel("hand", 2)
	f.setAlias("hand", "champion", "2")
	fp, err = fleet.Plan(t.Context(), svc, mustManifest(t, "version: 1\nmodels:\n  hand: {aliases: {champion: 2}}\n"), pol, opts())
	if err != nil {
		t.Fatal(err)
	}
	f.resetCalls()
	if _, err := fleet.Apply(t.Context(), svc, fp, fleet.ApplyOptions{}); err != nil {
		t.Fatal(err)
	}
	if f.count("") != 1 || f.count("GetModelVersion") != 1 {
		t.Errorf("apply of a target moved by hand made %d calls, want one version read", f.count(""))
	}
}

func TestApplyConflictsAndRegistryErrorsAreIndependent(t *testing.T) {
	t.Parallel()
	for _, withRegistryError := range []bool{true, false} {
		t.Run(fmt.Sprintf("registryError=%v", withRegistryError), func(t *testing.T) {
			t.Parallel()
			f, src := manyModels(4)
			svc, m := service(f), mustManifest(t, src)
			fp, err := fleet.Plan(t.Context(), svc, m, mustPolicy(t, testPolicy), opts())
			if err != nil {
				t.Fatal(err)
			}
			// m01 is moved by hand right after its lock is taken.
			var once sync.Once
			f.hook = func(op, model string, _ ...string) {
				if op == "CreateRegisteredModel" && model == mlflow.LockName("m01") {
					once.Do(func() {
						f.PutVersion("m01", mlflow.ModelVersion{Version: "3", Status: mlflow.StatusReady})
						f.setAlias("m01", "champion", "3")
					})
				}
			}
			if withRegistryError {
				f.fail = failOnce("SetAlias", "m02", errDenied)
			}
			res, err := fleet.Apply(t.Context(), svc, fp, fleet.ApplyOptions{Parallelism: 2})
			var outcomes []string
			for _, er := range res.Entries {
				outcomes = append(outcomes, string(er.Outcome))
			}
			want := []string{"promoted", "conflict", "promoted", "promoted"}
			if withRegistryError {
				want[2] = "failed"
			}
			if diff := cmp.Diff(want, outcomes); diff != "" {
				t.Errorf("outcomes (-want +got):\n%s", diff)
			}
			if errors.Is(err, promote.ErrConflict) == withRegistryError {
				t.Errorf("Apply error = %v; a registry error must win over a conflict", err)
			}
			if !strings.Contains(err.Error(), "@champion of \"m01\" is held by v3, the plan expected v1") {
				t.Errorf("error does not explain the conflict: %v", err)
			}
			if f.alias("m01", "champion") != "3" || len(f.locks()) != 0 {
				t.Errorf("m01@champion = v%s (want v3, untouched), locks %v", f.alias("m01", "champion"), f.locks())
			}
		})
	}
}

func TestPlanIsDeterministicAcrossParallelism(t *testing.T) {
	t.Parallel()
	f, src := manyModels(30)
	m, pol := mustManifest(t, src), mustPolicy(t, testPolicy)
	var got [][]string
	var digests []string
	for _, par := range []int{1, 8, 64} {
		o := opts()
		o.Parallelism = par
		fp, err := fleet.Plan(t.Context(), service(f), m, pol, o)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, statuses(fp))
		digests = append(digests, fp.Digest)
	}
	for i := 1; i < len(got); i++ {
		if diff := cmp.Diff(got[0], got[i]); diff != "" || digests[i] != digests[0] {
			t.Errorf("parallelism changed the plan (-1 +n):\n%s", diff)
		}
	}
}

func TestParallelismBounds(t *testing.T) {
	t.Parallel()
	f, src := manyModels(1)
	for _, n := range []int{-1, 65} {
		o := opts()
		o.Parallelism = n
		if _, err := fleet.Plan(t.Context(), service(f), mustManifest(t, src), nil, o); !errors.Is(err, promote.ErrInvalid) ||
			!strings.Contains(err.Error(), "parallelism") {
			t.Errorf("parallelism %d: error %v, want invalid input naming parallelism", n, err)
		}
	}
}

// gateRegistry lets registered-model reads through in waves of exactly n at
// once: reads made one after the other stall (and fail after a long wait),
// and more than n at once are counted as a breach.
type gateRegistry struct {
	*fakeRegistry
	n, total int

	mu       sync.Mutex
	inflight int
	seen     int
	breach   int
	wave     chan struct{}
}

func (g *gateRegistry) GetRegisteredModel(ctx context.Context, name string) (*mlflow.RegisteredModel, error) {
	g.mu.Lock()
	g.inflight++
	g.seen++
	if g.inflight > g.n {
		g.breach++
	}
	wave := g.wave
	if g.inflight == g.n || g.seen == g.total {
		close(wave)
		g.wave = make(chan struct{})
	}
	g.mu.Unlock()
	select {
	case <-wave:
	case <-time.After(30 * time.Second):
		return nil, errors.New("waited 30s for concurrent reads")
	}
	defer func() { g.mu.Lock(); g.inflight--; g.mu.Unlock() }()
	return g.fakeRegistry.GetRegisteredModel(ctx, name)
}

func TestPlanReadsParallelismModelsAtOnce(t *testing.T) {
	t.Parallel()
	f := newFake()
	var b strings.Builder
	b.WriteString("version: 1\nmodels:\n")
	for i := range 6 {
		name := fmt.Sprintf("m%d", i)
		f.addModel(name, 1)
		f.setAlias(name, "champion", "1")
		fmt.Fprintf(&b, "  %s: {aliases: {champion: 1}}\n", name)
	}
	g := &gateRegistry{fakeRegistry: f, n: 2, total: 6, wave: make(chan struct{})}
	svc := &promote.Service{Reg: g}
	o := opts()
	o.Parallelism = 2
	fp, err := fleet.Plan(t.Context(), svc, mustManifest(t, b.String()), nil, o)
	if err != nil {
		t.Fatal(err)
	}
	if err := fp.Err(); err != nil {
		t.Fatalf("reads did not go two at once: %v", err)
	}
	if g.breach != 0 {
		t.Errorf("%d reads went beyond parallelism 2", g.breach)
	}
}
