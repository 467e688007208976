package action_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/mlreg/mlreg-action/internal/mlflow"
	"github.com/mlreg/mlreg-action/internal/promote"
	"github.com/mlreg/mlreg-action/internal/testing/faultproxy"
	"github.com/mlreg/mlreg-action/internal/testing/githubfake"
	"github.com/mlreg/mlreg-action/internal/testing/mlflowtest"
)

// The fault matrix: a promotion of v2 over v1 to @champion runs through a
// fault-injecting proxy in front of the real MLflow server (and, for the
// notify phase, in front of the GitHub and Slack fakes). Each cell breaks one
// request of one phase in one way, checks what the user sees (exit status,
// annotation, outputs) and what the registry holds, then reruns the same
// command without faults and checks that the promotion is complete: @champion
// on v2, exactly one history entry for the move, the promotion tag on v2 and
// the replaced mark on v1.

// faultPolicy makes every read of the check phase happen: the candidate's run
// (runs/get), its logged model (logged-models/<id>) and the champion's metric
// history (metrics/get-history, for aggregate: max).
const faultPolicy = `version: 1
rules:
  - name: faults gate
    applies-to: {alias: champion}
    metrics:
      val_auc:
        min: 0.90
        aggregate: max
        vs-champion: {min-improvement: 0.002}
    tags: {dataset_version: present}
    run: {status: FINISHED, max-age: 168h}
`

const (
	// lastingTimeout is the timeout input of the columns whose fault outlasts
	// it. No clock decides when it passes: runPastDeadline ends it once the
	// fault has taken effect (see stepDeadline), so a loaded machine changes
	// how long a cell takes, never its outcome.
	lastingTimeout = 5 * time.Second
	// faultCells is how many cells run at once. Cells mostly wait (backoff,
	// Retry-After, stalls); the bound keeps the one-worker MLflow server from
	// queueing much.
	faultCells = 12
)

// deadlineNamed is what a run that stopped at a lasting fault's deadline
// says about it.
var deadlineNamed = "deadline of " + lastingTimeout.String() + " (input `timeout`)"

// outcome is what the faulty run leaves.
type outcome struct {
	code     int
	holder   string // @champion after the run
	recorded bool   // the history tag names the move to v2
	// eitherRecorded: the history write went out at the same time as the
	// failing request (the replaced mark), so it may or may not have
	// landed; recorded is not checked, the rerun's completion is.
	eitherRecorded bool
	says           []string // in the ::error annotation, when code != 0
	notify         []string // in the notify-errors output
	// lockLeft: the promotion lock (a registered model) outlives the run,
	// which could not reach the server to release it; it expires after its
	// TTL, and the rerun, which comes after that, takes it over.
	lockLeft bool
}

var (
	promoted = outcome{code: 0, holder: "2", recorded: true}
	// nothingChanged: the run stopped before any write.
	nothingChanged = outcome{code: 3, holder: "1", says: []string{"registry error", "nothing was changed"}}
)

// partial: the alias moved, the audit record did not finish.
func partial(recorded bool, step string) outcome {
	return outcome{code: 3, holder: "2", recorded: recorded,
		says: []string{"promotion applied ([@champion: v1 → v2])", step, "rerun the same command to complete the audit record"}}
}

// eitherRecorded marks an outcome whose history write raced the fault.
func eitherRecorded(o outcome) outcome {
	o.eitherRecorded = true
	return o
}

// left marks an outcome whose run could not release the lock.
func left(o outcome) outcome {
	o.lockLeft = true
	return o
}

func notifyFailed(surfaces ...string) outcome {
	o := promoted
	o.notify = surfaces
	return o
}

// faultColumn is one way of breaking a request.
type faultColumn struct {
	name    string
	fault   faultproxy.Fault
	times   int  // consecutive requests hit (the first try and its retries)
	lasting bool // outlasts the run's deadline (timeout: lastingTimeout)
}

var faultColumns = []faultColumn{
	{name: "503 ×3", fault: faultproxy.Status(http.StatusServiceUnavailable), times: 3},
	{name: "429 Retry-After 1", fault: faultproxy.TooManyRequests(1)},
	{name: "reset mid-response", fault: faultproxy.ResetMidResponse()},
	{name: "truncated body", fault: faultproxy.Truncate()},
	{name: "stall 3s", fault: faultproxy.Stall(3 * time.Second)},
	{name: "down 2s", fault: faultproxy.Down(2 * time.Second)},
	// The lasting faults end when the test says: the outage when the run is
	// over, the stall when the client gives up at the deadline.
	{name: "down past the deadline", fault: faultproxy.Down(0), lasting: true},
	{name: "stall past the deadline", fault: faultproxy.Stall(0), lasting: true},
}

// faultRow is one request of one phase.
type faultRow struct {
	phase string
	name  string
	on    string // which server the proxy fronts: mlflow, github or slack
	rule  faultproxy.Rule
	// transient is the outcome of the columns that do not outlast the
	// deadline, by column name; promoted when absent.
	transient map[string]outcome
	// down and stalled are the outcomes of the lasting columns: a request that
	// never reaches the server, and one the server executes but whose answer
	// never comes back.
	down, stalled outcome
}

const (
	onMLflow = "mlflow"
	onGitHub = "github"
	onSlack  = "slack"
)

var faultRows = []faultRow{
	{
		phase: "resolve", name: "GET model-versions/get (candidate)", on: onMLflow,
		rule: faultproxy.Rule{Method: "GET", Path: "/model-versions/get"},
		down: nothingChanged, stalled: nothingChanged,
	},
	{
		phase: "resolve", name: "GET registered-models/alias (holder)", on: onMLflow,
		rule: faultproxy.Rule{Method: "GET", Path: "/registered-models/alias"},
		down: nothingChanged, stalled: nothingChanged,
	},
	{
		phase: "check", name: "GET runs/get", on: onMLflow,
		rule: faultproxy.Rule{Method: "GET", Path: "/runs/get"},
		down: nothingChanged, stalled: nothingChanged,
	},
	{
		phase: "check", name: "GET logged-models/<id>", on: onMLflow,
		rule: faultproxy.Rule{Method: "GET", Path: "/logged-models/*"},
		down: nothingChanged, stalled: nothingChanged,
	},
	{
		phase: "check", name: "GET metrics/get-history", on: onMLflow,
		rule: faultproxy.Rule{Method: "GET", Path: "/metrics/get-history"},
		down: nothingChanged, stalled: nothingChanged,
	},
	{
		phase: "apply", name: "POST registered-models/create (lock)", on: onMLflow,
		rule: faultproxy.Rule{Method: "POST", Path: "/registered-models/create", Contains: "mlreg-lock."},
		down: nothingChanged,
		// The server created the lock; the run never learnt it had it.
		stalled: left(nothingChanged),
	},
	{
		phase: "apply", name: "GET registered-models/alias (CAS re-read)", on: onMLflow,
		rule: faultproxy.Rule{Method: "GET", Path: "/registered-models/alias", Nth: 2},
		down: left(nothingChanged), stalled: nothingChanged,
	},
	{
		phase: "apply", name: "POST model-versions/set-tag (promotion tag)", on: onMLflow,
		rule:    faultproxy.Rule{Method: "POST", Path: "/model-versions/set-tag", Contains: "mlreg.promotion."},
		down:    left(outcome{code: 3, holder: "1", says: []string{"failed to write the promotion tag of @champion", "nothing was moved"}}),
		stalled: outcome{code: 3, holder: "1", says: []string{"failed to write the promotion tag of @champion", "nothing was moved"}},
	},
	{
		phase: "apply", name: "POST registered-models/alias (the move)", on: onMLflow,
		rule: faultproxy.Rule{Method: "POST", Path: "/registered-models/alias"},
		// The client cannot tell these two apart: the request went out and no
		// answer came back. The message says so; the rerun sorts it out.
		down:    left(outcome{code: 3, holder: "1", says: []string{"@champion may or may not have moved to v2", "rerun the same command"}}),
		stalled: outcome{code: 3, holder: "2", says: []string{"@champion may or may not have moved to v2", "rerun the same command"}},
	},
	{
		phase: "record", name: "GET registered-models/get (read-back)", on: onMLflow,
		rule:    faultproxy.Rule{Method: "GET", Path: "/registered-models/get"},
		down:    left(partial(false, "read back the registered model")),
		stalled: partial(false, "read back the registered model"),
	},
	{
		phase: "record", name: "POST registered-models/set-tag (history)", on: onMLflow,
		rule:    faultproxy.Rule{Method: "POST", Path: "/registered-models/set-tag"},
		down:    left(partial(false, "write the audit record of @champion")),
		stalled: partial(true, "write the audit record of @champion"),
	},
	{
		phase: "record", name: "POST model-versions/set-tag (v1 replaced)", on: onMLflow,
		rule: faultproxy.Rule{Method: "POST", Path: "/model-versions/set-tag", Contains: "mlreg.replaced."},
		// The history is written at the same time as the mark: when the
		// server goes down, it may have landed or not.
		down:    left(eitherRecorded(partial(true, "mark v1 as replaced"))),
		stalled: partial(true, "mark v1 as replaced"),
	},
	{
		phase: "record", name: "DELETE registered-models/delete (lock release)", on: onMLflow,
		rule: faultproxy.Rule{Method: "DELETE", Path: "/registered-models/delete"},
		// The promotion is complete; only the lock outlives the run.
		down: left(promoted), stalled: promoted,
	},
	{
		phase: "notify", name: "GET model-versions/get (Slack message key)", on: onMLflow,
		rule: faultproxy.Rule{Method: "GET", Path: "/model-versions/get", Nth: 2},
		// Without the key Slack is posted anyway, but the deadline has passed.
		down: notifyFailed("slack: "), stalled: notifyFailed("slack: "),
	},
	{
		phase: "notify", name: "POST model-versions/set-tag (Slack message key)", on: onMLflow,
		rule: faultproxy.Rule{Method: "POST", Path: "/model-versions/set-tag", Contains: "mlreg.slack."},
		down: notifyFailed("slack: failed to record the Slack message"), stalled: notifyFailed("slack: failed to record the Slack message"),
	},
	{
		phase: "notify", name: "GitHub POST repos/deployments", on: onGitHub,
		rule: faultproxy.Rule{Method: "POST", Path: "/deployments"},
		// go-github retries nothing but rate limits; a deployment is a create.
		transient: map[string]outcome{
			"503 ×3":             notifyFailed("deployment: "),
			"reset mid-response": notifyFailed("deployment: "),
			"truncated body":     notifyFailed("deployment: "),
			"down 2s":            notifyFailed("deployment: "),
		},
		down:    notifyFailed("deployment: "),
		stalled: notifyFailed("deployment: ", "slack: "),
	},
	{
		phase: "notify", name: "Slack chat.postMessage", on: onSlack,
		rule: faultproxy.Rule{Method: "POST", Path: "/chat.postMessage"},
		// slack-go retries 429 only; a post is a create.
		transient: map[string]outcome{
			"503 ×3":             notifyFailed("slack: "),
			"reset mid-response": notifyFailed("slack: "),
			"truncated body":     notifyFailed("slack: "),
			"down 2s":            notifyFailed("slack: "),
		},
		down:    notifyFailed("slack: "),
		stalled: notifyFailed("slack: "),
	},
}

func (r faultRow) outcome(c faultColumn) outcome {
	switch {
	case !c.lasting:
		if o, ok := r.transient[c.name]; ok {
			return o
		}
		return promoted
	case c.fault.Kind == faultproxy.KindDown:
		return r.down
	default:
		return r.stalled
	}
}

// faultSem bounds the cells running at once, across the fault tests.
var faultSem = make(chan struct{}, faultCells)

// runCells runs each cell as a subtest, all at once up to faultCells. Cells
// mostly wait (backoff, Retry-After, stalls, deadlines); as t.Parallel
// subtests go test would run only -parallel (GOMAXPROCS, 2 on CI) of them at
// a time. Subtests started from goroutines run at once.
func runCells(t *testing.T, names []string, cell func(t *testing.T, i int)) {
	t.Helper()
	began := time.Now()
	var wg sync.WaitGroup
	for i, name := range names {
		wg.Go(func() {
			faultSem <- struct{}{}
			defer func() { <-faultSem }()
			t.Run(name, func(t *testing.T) { cell(t, i) })
		})
	}
	wg.Wait()
	t.Logf("%d cells in %s", len(names), time.Since(began).Round(time.Second))
}

func TestFaultMatrix(t *testing.T) {
	t.Parallel()
	mlflowtest.RequireServer(t, srv)
	type cell struct {
		r faultRow
		c faultColumn
	}
	var cells []cell
	var names []string
	for _, r := range faultRows {
		for _, c := range faultColumns {
			cells = append(cells, cell{r, c})
			names = append(names, r.phase+"/"+r.name+"/"+c.name)
		}
	}
	runCells(t, names, func(t *testing.T, i int) { runFaultCell(t, srv, cells[i].r, cells[i].c) })
}

// faultModel creates a registered model whose v1 (from a run with a val_auc
// history) holds @champion and whose v2 comes from an MLflow 3 logged model.
func faultModel(t *testing.T, s *mlflowtest.Server) (string, *mlflowtest.Fixtures) {
	t.Helper()
	f := s.Fixtures()
	ctx := t.Context()
	name := mlflowtest.UniqueName(t, "faults")
	exp, err := f.CreateExperiment(ctx, name)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.CreateRegisteredModel(ctx, name); err != nil {
		t.Fatal(err)
	}
	tags := map[string]string{"dataset_version": "2026-11"}
	end := fixedNow.Add(-time.Hour)
	run1, err := f.CreateRun(ctx, exp, mlflowtest.RunSpec{Name: "train-1", History: map[string][]float64{"val_auc": {0.90, 0.91}}, Tags: tags, EndTime: end})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.CreateVersion(ctx, name, "mlflow-artifacts:/"+exp+"/"+run1+"/artifacts/model", run1, nil); err != nil {
		t.Fatal(err)
	}
	run2, err := f.CreateRun(ctx, exp, mlflowtest.RunSpec{Name: "train-2", Tags: tags, EndTime: end})
	if err != nil {
		t.Fatal(err)
	}
	id, err := f.CreateLoggedModel(ctx, exp, run2, []mlflowtest.LoggedMetric{{Key: "val_auc", Value: 0.95}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.CreateVersion(ctx, name, "models:/"+id, run2, nil); err != nil {
		t.Fatal(err)
	}
	if err := f.SetAlias(ctx, name, "champion", "1"); err != nil {
		t.Fatal(err)
	}
	return name, f
}

// faultRun is one promotion through the proxies.
type faultRun struct {
	model string
	f     *mlflowtest.Fixtures
	ml    *faultproxy.Proxy // in front of MLflow
	gh    *githubfake.Server
	sl    *slackRecorder
	in    map[string]string
}

func newFaultRun(t *testing.T, s *mlflowtest.Server, withNotify bool) (*faultRun, *faultproxy.Proxy, *faultproxy.Proxy) {
	t.Helper()
	fr := &faultRun{}
	fr.model, fr.f = faultModel(t, s)
	fr.ml = faultproxy.New(t, s.URL)
	fr.in = promoteInputs(fr.model, "version", "2", "tracking-uri", fr.ml.URL)
	if !withNotify {
		return fr, nil, nil
	}
	fr.gh = githubfake.New(t, githubfake.Options{})
	// The workflow runs on the push of the merge commit of pull request #7.
	fr.gh.AddPullRequest(githubfake.PullRequest{Number: 7, State: "closed", Merged: true, HeadSHA: strings.Repeat("a", 40), MergeCommitSHA: harnessSHA})
	fr.sl = newSlackRecorder(t)
	ghp := faultproxy.New(t, fr.gh.URL())
	slp := faultproxy.New(t, fr.sl.srv.GetAPIURL())
	fr.in = merge(fr.in, notifyEnv(t, fr.gh, fr.sl, "push", `{"ref":"refs/heads/main","after":"`+harnessSHA+`"}`))
	fr.in["GITHUB_API_URL"] = ghp.Rebase(fr.gh.URL())
	fr.in["MLREG_SLACK_API_URL"] = slp.Rebase(fr.sl.srv.GetAPIURL())
	return fr, ghp, slp
}

func runFaultCell(t *testing.T, s *mlflowtest.Server, r faultRow, c faultColumn) {
	fr, ghp, slp := newFaultRun(t, s, r.phase == "notify")
	p := map[string]*faultproxy.Proxy{onMLflow: fr.ml, onGitHub: ghp, onSlack: slp}[r.on]
	rule := r.rule
	rule.Fault, rule.Times = c.fault, max(c.times, 1)
	p.Add(rule)
	files := map[string]string{".github/mlreg-policy.yml": faultPolicy}

	began := time.Now()
	var res result
	if c.lasting {
		res = runPastDeadline(t, p, fr.in, files)
	} else {
		res = runAction(t, fr.in, files)
	}
	took := time.Since(began)
	waitIdle(t, fr.ml, ghp, slp)
	want := r.outcome(c)
	t.Logf("exit %d in %s; annotation %q; notify-errors %q; MLflow requests:\n%s", res.code, took.Round(time.Millisecond),
		strings.Join(lines(res.stdout, "::error"), "\n"), res.outputs["notify-errors"], requestLog(fr.ml))

	if p.Hits() == 0 {
		t.Fatalf("the run never sent %s: the cell tests nothing\n%s", rule, res.stdout)
	}
	checkOutcome(t, fr, res, want)
	if c.lasting && want.code != 0 && r.on == onMLflow {
		// The run stopped at the deadline and says which input set it.
		if a := strings.Join(lines(res.stdout, "::error"), "\n"); !strings.Contains(a, deadlineNamed) {
			t.Errorf("the error does not name the deadline (%q):\n%s", deadlineNamed, a)
		}
	}
	if want.code == 0 {
		// The retried request changed nothing twice: one move, one history entry.
		if n := fr.ml.Count("POST", "/registered-models/alias"); n != 1 && !(r.rule.Path == "/registered-models/alias" && r.rule.Method == "POST") {
			t.Errorf("POST registered-models/alias sent %d times, want once", n)
		}
	}

	lock := mlflow.LockName(fr.model)
	lockTags, err := fr.f.ModelTags(t.Context(), lock)
	switch {
	case mlflowtest.IsErrorCode(err, "RESOURCE_DOES_NOT_EXIST"):
		if want.lockLeft {
			t.Errorf("the lock %s was released, want it left behind", lock)
		}
	case err != nil:
		t.Fatal(err)
	case !want.lockLeft:
		t.Errorf("the run left its lock behind: %v", lockTags)
	default:
		// The rerun comes after the lock's TTL (the harness's clock stands still).
		if err := fr.f.SetModelTag(t.Context(), lock, promote.TagLockExpires, fixedNow.Add(-time.Second).Format(time.RFC3339)); err != nil {
			t.Fatal(err)
		}
	}

	// The rerun, without faults, completes whatever the faulty run left.
	fr.ml.Clear()
	for _, q := range []*faultproxy.Proxy{ghp, slp} {
		if q != nil {
			q.Clear()
		}
	}
	moves := fr.ml.Count("POST", "/registered-models/alias")
	rerun := runAction(t, fr.in, files)
	if rerun.code != 0 {
		t.Fatalf("rerun: exit %d, want 0\n%s", rerun.code, rerun.stdout)
	}
	if want.lockLeft && !strings.Contains(rerun.stdout, "removed the expired lock") {
		t.Errorf("rerun does not say it removed the expired lock:\n%s", rerun.stdout)
	}
	if _, err := fr.f.ModelTags(t.Context(), lock); !mlflowtest.IsErrorCode(err, "RESOURCE_DOES_NOT_EXIST") {
		t.Errorf("after the rerun the lock %s is still there (%v)", lock, err)
	}
	wantChanged := fmt.Sprint(want.holder != "2")
	if rerun.outputs["changed"] != wantChanged {
		t.Errorf("rerun: changed = %q, want %s", rerun.outputs["changed"], wantChanged)
	}
	if n := fr.ml.Count("POST", "/registered-models/alias") - moves; want.holder == "2" && n != 0 {
		t.Errorf("rerun moved @champion again (%d POST registered-models/alias) although v2 held it", n)
	}
	checkComplete(t, fr)
	if r.phase == "notify" {
		if rerun.outputs["notify-errors"] != "" || rerun.outputs["slack-ts"] == "" || rerun.outputs["comment-id"] == "" {
			t.Errorf("rerun notify outputs = %v", rerun.outputs)
		}
		if n := len(fr.gh.Comments(7)); n != 1 {
			t.Errorf("%d comments on the pull request, want 1 (edited in place)", n)
		}
		t.Logf("after the rerun: %d deployment(s), Slack calls %v", len(fr.gh.Deployments()), fr.sl.got())
	}
}

// runPastDeadline runs the action with a lasting fault on p: the run's
// deadline (timeout: lastingTimeout) passes once the fault has taken effect,
// or when the run ends without meeting it (a cell then fails on p.Hits).
func runPastDeadline(t *testing.T, p *faultproxy.Proxy, in, files map[string]string) result {
	t.Helper()
	dl := newStepDeadline(t, lastingTimeout)
	in = merge(in, map[string]string{"timeout": lastingTimeout.String()})
	return runActionWhile(t, dl, in, files, func(done <-chan struct{}) {
		ctx, cancel := context.WithCancel(t.Context())
		defer cancel()
		faulted := make(chan struct{})
		go func() {
			if p.WaitFaulted(ctx, 1) == nil {
				close(faulted)
			}
		}()
		select {
		case <-faulted:
		case <-done:
		}
		dl.expire()
	})
}

// waitIdle waits until the proxies have finished every request, so that what
// the upstream did (a stalled or abandoned request it executed) is final
// before the test reads the registry.
func waitIdle(t *testing.T, ps ...*faultproxy.Proxy) {
	t.Helper()
	for _, p := range ps {
		if p == nil {
			continue
		}
		if err := p.WaitIdle(t.Context()); err != nil {
			t.Fatal(err)
		}
	}
}

// checkOutcome compares what the faulty run left with want.
func checkOutcome(t *testing.T, fr *faultRun, res result, want outcome) {
	t.Helper()
	if res.code != want.code {
		t.Errorf("exit %d, want %d\n%s", res.code, want.code, res.stdout)
	}
	if got := aliasOf(t, fr.f, fr.model, "champion"); got != want.holder {
		t.Errorf("@champion = v%s, want v%s", got, want.holder)
	}
	hist := historyOf(t, fr)
	if got := len(hist) > 0 && hist[0]["version"] == "2"; got != want.recorded && !want.eitherRecorded {
		t.Errorf("history records the move: %v, want %v (history %v)", got, want.recorded, hist)
	}
	if len(hist) > 1 {
		t.Errorf("history has %d entries, want at most 1: %v", len(hist), hist)
	}
	annotations := lines(res.stdout, "::error")
	if want.code == 0 && len(annotations) != 0 {
		t.Errorf("error annotations on a successful run: %v", annotations)
	}
	if want.code != 0 {
		if len(annotations) != 1 {
			t.Errorf("%d error annotations, want 1:\n%s", len(annotations), res.stdout)
		}
		for _, s := range want.says {
			if !strings.Contains(strings.Join(annotations, "\n"), s) {
				t.Errorf("the error does not say %q:\n%s", s, strings.Join(annotations, "\n"))
			}
		}
	}
	errs := res.outputs["notify-errors"]
	for _, s := range want.notify {
		if !strings.Contains(errs, s) {
			t.Errorf("notify-errors lacks %q: %q", s, errs)
		}
	}
	if len(want.notify) == 0 && errs != "" {
		t.Errorf("notify-errors = %q, want none", errs)
	}
}

// checkComplete checks the registry after a successful rerun.
func checkComplete(t *testing.T, fr *faultRun) {
	t.Helper()
	ctx := t.Context()
	if got := aliasOf(t, fr.f, fr.model, "champion"); got != "2" {
		t.Errorf("after the rerun @champion = v%s, want v2", got)
	}
	hist := historyOf(t, fr)
	var got []string
	for _, h := range hist {
		got = append(got, fmt.Sprintf("v%v (was v%v)", h["version"], h["previous_version"]))
	}
	if diff := cmp.Diff([]string{"v2 (was v1)"}, got); diff != "" {
		t.Errorf("after the rerun, history (-want +got):\n%s", diff)
	}
	v2, err := fr.f.VersionTags(ctx, fr.model, "2")
	if err != nil {
		t.Fatal(err)
	}
	var rec map[string]any
	if err := json.Unmarshal([]byte(v2["mlreg.promotion.alias.champion"]), &rec); err != nil || rec["previous_version"] != "1" {
		t.Errorf("after the rerun, promotion tag of v2 = %q (%v)", v2["mlreg.promotion.alias.champion"], err)
	}
	v1, err := fr.f.VersionTags(ctx, fr.model, "1")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(v1["mlreg.replaced.alias.champion"], `"by_version":"2"`) {
		t.Errorf("after the rerun, v1 is not marked as replaced by v2: %v", v1)
	}
}

func historyOf(t *testing.T, fr *faultRun) []map[string]any {
	t.Helper()
	tags, err := fr.f.ModelTags(t.Context(), fr.model)
	if err != nil {
		t.Fatal(err)
	}
	v := tags["mlreg.history.alias.champion"]
	if v == "" {
		return nil
	}
	var h []map[string]any
	if err := json.Unmarshal([]byte(v), &h); err != nil {
		t.Fatalf("history tag %q: %v", v, err)
	}
	return h
}

func lines(s, prefix string) []string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.HasPrefix(l, prefix) {
			out = append(out, l)
		}
	}
	return out
}

func requestLog(p *faultproxy.Proxy) string {
	var b strings.Builder
	for _, r := range p.Requests() {
		fmt.Fprintf(&b, "  %s\n", r)
	}
	return b.String()
}

// TestFaultRegisterCreate breaks the one request a client must not repeat
// blindly: POST model-versions/create registers one more version each time
// the server executes it. The client repeats it only after answers that show
// the server did not act (429, 503 with Retry-After, a failed dial); after any
// other failure the run stops, says the version may exist, and a rerun of the
// same workflow run finds it by its lineage tags instead of registering a
// duplicate.
func TestFaultRegisterCreate(t *testing.T) {
	t.Parallel()
	mlflowtest.RequireServer(t, srv)
	mayExist := []string{"the server may have registered the version all the same", "a rerun of this workflow run finds it"}
	cases := []struct {
		name     string
		fault    faultproxy.Fault
		lasting  bool
		code     int
		creates  int // POST model-versions/create sent by the faulty run
		versions int // versions after the faulty run
		says     []string
	}{
		{name: "503", fault: faultproxy.Status(http.StatusServiceUnavailable), code: 3, creates: 1, versions: 0, says: mayExist},
		{name: "503 Retry-After 1", fault: faultproxy.StatusRetryAfter(http.StatusServiceUnavailable, 1), code: 0, creates: 2, versions: 1},
		{name: "429 Retry-After 1", fault: faultproxy.TooManyRequests(1), code: 0, creates: 2, versions: 1},
		{name: "reset mid-response", fault: faultproxy.ResetMidResponse(), code: 3, creates: 1, versions: 1, says: mayExist},
		{name: "truncated body", fault: faultproxy.Truncate(), code: 3, creates: 1, versions: 1, says: mayExist},
		{name: "down past the deadline", fault: faultproxy.Down(0), lasting: true, code: 3, creates: 1, versions: 0, says: mayExist},
		{name: "stall past the deadline", fault: faultproxy.Stall(0), lasting: true, code: 3, creates: 1, versions: 1, says: mayExist},
	}
	var names []string
	for _, tc := range cases {
		names = append(names, tc.name)
	}
	runCells(t, names, func(t *testing.T, i int) {
		tc := cases[i]
		exp, run, f := newRun(t, mlflowtest.RunSpec{Metrics: map[string]float64{"val_auc": 0.9}})
		if _, err := f.CreateNamedLoggedModel(t.Context(), exp, run, "model"); err != nil {
			t.Fatal(err)
		}
		model := mlflowtest.UniqueName(t, "reg")
		mlflowtest.RequireServer(t, srv) // a fault proxy in front of the real server
		p := faultproxy.New(t, srv.URL)
		p.Add(faultproxy.Rule{Method: "POST", Path: "/model-versions/create", Fault: tc.fault})
		in := map[string]string{"command": "register", "model-name": model, "run-id": run, "artifact-path": "model", "tracking-uri": p.URL}

		began := time.Now()
		var res result
		if tc.lasting {
			res = runPastDeadline(t, p, in, nil)
		} else {
			res = runAction(t, in, nil)
		}
		waitIdle(t, p)
		annotation := strings.Join(lines(res.stdout, "::error"), "\n")
		t.Logf("exit %d in %s; annotation %q", res.code, time.Since(began).Round(time.Millisecond), annotation)
		if res.code != tc.code {
			t.Errorf("exit %d, want %d\n%s", res.code, tc.code, res.stdout)
		}
		if n := p.Count("POST", "/model-versions/create"); n != tc.creates {
			t.Errorf("POST model-versions/create sent %d times, want %d", n, tc.creates)
		}
		for _, s := range tc.says {
			if !strings.Contains(annotation, s) {
				t.Errorf("the error does not say %q: %s", s, annotation)
			}
		}
		if n := countVersions(t, f, model); n != tc.versions {
			t.Errorf("%d versions after the faulty run, want %d", n, tc.versions)
		}

		p.Clear()
		rerun := runAction(t, in, nil)
		if rerun.code != 0 || rerun.outputs["model-version"] != "1" {
			t.Fatalf("rerun: exit %d, outputs %v\n%s", rerun.code, rerun.outputs, rerun.stdout)
		}
		if wantReused := tc.versions == 1; (rerun.outputs["changed"] == "false") != wantReused {
			t.Errorf("rerun: changed = %s, want %v", rerun.outputs["changed"], !wantReused)
		}
		if n := countVersions(t, f, model); n != 1 {
			t.Errorf("%d versions after the rerun, want exactly 1", n)
		}
	})
}

// countVersions counts the versions of model, numbered from 1 without gaps.
func countVersions(t *testing.T, f fixtures, model string) int {
	t.Helper()
	n := 0
	for {
		if _, err := f.GetVersion(t.Context(), model, fmt.Sprint(n+1)); err != nil {
			return n
		}
		n++
	}
}

// TestFaultServerDiesAndComesBack kills a real MLflow server (SIGKILL, as an
// OOM kill or a crashed pod) in the middle of a promotion and starts it again
// on the same port with the same SQLite store. It has a server of its own:
// the package's server serves every other test meanwhile.
//
// How long the restart takes (a few seconds, more on a loaded machine) does
// not decide what the run meets: the proxy in front of the server holds the
// client's requests, or refuses them, until the test has seen the server
// back, and the deadline of the second case passes when the test says.
func TestFaultServerDiesAndComesBack(t *testing.T) {
	t.Parallel()
	mlflowtest.RequireServer(t, srv)
	ctx, cancel := context.WithTimeout(t.Context(), mlflowtest.StartLimit)
	s, err := mlflowtest.Start(ctx, mlflowtest.Options{})
	cancel()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Stop() })
	var restarts sync.WaitGroup
	t.Cleanup(restarts.Wait) // runs before Stop
	restarted := make(chan error, 1)
	// die kills the server and brings it back in the background, as a
	// supervisor would. The request that triggered it meets a dead server;
	// then outage(p) says what the requests after it meet until the test
	// ends it: held (a server that is starting) or refused (one that is down).
	die := func(outage func()) faultproxy.Fault {
		return faultproxy.Call(func() {
			if err := s.Kill(); err != nil {
				t.Error(err)
			}
			outage()
			restarts.Go(func() {
				ctx, cancel := context.WithTimeout(context.WithoutCancel(t.Context()), mlflowtest.StartLimit)
				defer cancel()
				restarted <- s.Restart(ctx)
			})
		})
	}
	waitRestarted := func(t *testing.T) {
		t.Helper()
		if err := <-restarted; err != nil {
			t.Fatal(err)
		}
		t.Logf("the server was back after %s", s.StartupTime.Round(100*time.Millisecond))
	}

	t.Run("dies at the move, back within the timeout", func(t *testing.T) {
		fr, _, _ := newFaultRun(t, s, false)
		fr.ml.Add(faultproxy.Rule{Method: "POST", Path: "/registered-models/alias", Fault: die(fr.ml.Hold)})
		began := time.Now()
		var restartErr error
		// The held retry waits as long as the restart takes: neither the
		// step's deadline nor the attempt's timeout may end it first.
		in := merge(fr.in, map[string]string{"timeout": mlflowtest.StartLimit.String(),
			"MLFLOW_HTTP_REQUEST_TIMEOUT": fmt.Sprint(int(mlflowtest.StartLimit.Seconds()))})
		res := runActionWhile(t, t.Context(), in, map[string]string{".github/mlreg-policy.yml": faultPolicy}, func(done <-chan struct{}) {
			// The retry of the move waits in the proxy until the server is back.
			select {
			case restartErr = <-restarted:
				fr.ml.Release()
			case <-done:
			}
		})
		t.Logf("exit %d in %s; MLflow requests:\n%s", res.code, time.Since(began).Round(time.Millisecond), requestLog(fr.ml))
		if fr.ml.Hits() == 0 {
			t.Fatalf("the run never reached the move:\n%s", res.stdout)
		}
		if restartErr != nil {
			t.Fatal(restartErr)
		}
		t.Logf("the server was back after %s", s.StartupTime.Round(100*time.Millisecond))
		waitIdle(t, fr.ml)
		checkOutcome(t, fr, res, promoted)
		if n := fr.ml.Count("POST", "/registered-models/alias"); n < 2 {
			t.Errorf("POST registered-models/alias sent %d times; the first went to a dead server and must be retried", n)
		}
		if !strings.Contains(res.stdout, "retry: POST /api/2.0/mlflow/registered-models/alias: ") {
			t.Errorf("the log does not show the retry of the move:\n%s", res.stdout)
		}
		checkComplete(t, fr)
	})

	t.Run("dies in record, back after the deadline", func(t *testing.T) {
		fr, _, _ := newFaultRun(t, s, false)
		fr.ml.Add(faultproxy.Rule{Method: "POST", Path: "/registered-models/set-tag", Fault: die(fr.ml.Down)})
		began := time.Now()
		res := runPastDeadline(t, fr.ml, fr.in, map[string]string{".github/mlreg-policy.yml": faultPolicy})
		t.Logf("exit %d in %s; annotation %q", res.code, time.Since(began).Round(time.Millisecond), strings.Join(lines(res.stdout, "::error"), "\n"))
		if fr.ml.Hits() == 0 {
			t.Fatalf("the run never reached the history write:\n%s", res.stdout)
		}
		// Only now, the run over, may the server be reached again.
		waitRestarted(t)
		fr.ml.Up()
		checkOutcome(t, fr, res, partial(false, "write the audit record of @champion"))
		if a := strings.Join(lines(res.stdout, "::error"), "\n"); !strings.Contains(a, deadlineNamed) {
			t.Errorf("the error does not name the deadline (%q):\n%s", deadlineNamed, a)
		}
		// The dead server could not take the lock back; the rerun comes after its TTL.
		if err := fr.f.SetModelTag(t.Context(), mlflow.LockName(fr.model), promote.TagLockExpires, fixedNow.Add(-time.Second).Format(time.RFC3339)); err != nil {
			t.Fatal(err)
		}
		fr.ml.Clear()
		rerun := runAction(t, fr.in, map[string]string{".github/mlreg-policy.yml": faultPolicy})
		if rerun.code != 0 || rerun.outputs["changed"] != "false" {
			t.Fatalf("rerun: exit %d, outputs %v\n%s", rerun.code, rerun.outputs, rerun.stdout)
		}
		checkComplete(t, fr)
	})
}
