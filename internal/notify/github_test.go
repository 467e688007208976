package notify_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/mlreg/mlreg-action/internal/checks"
	"github.com/mlreg/mlreg-action/internal/github"
	"github.com/mlreg/mlreg-action/internal/notify"
	"github.com/mlreg/mlreg-action/internal/outcome"
	"github.com/mlreg/mlreg-action/internal/promote"
	"github.com/mlreg/mlreg-action/internal/testing/githubfake"
)

const (
	headSHA  = "1111111111111111111111111111111111111111"
	mergeSHA = "2222222222222222222222222222222222222222"
)

func newGitHub(t *testing.T, f *githubfake.Server) *github.Client {
	t.Helper()
	gh, err := github.NewClient(github.Options{Token: f.Token(), APIURL: f.URL(), Repository: "acme/models"})
	if err != nil {
		t.Fatal(err)
	}
	return gh
}

func prEvent(number int, fork bool) github.Event {
	head := "acme/models"
	if fork {
		head = "contributor/models"
	}
	payload := fmt.Sprintf(`{"action":"synchronize","number":%d,"pull_request":{"number":%d,"head":{"sha":%q,"repo":{"full_name":%q}},"base":{"repo":{"full_name":"acme/models"}}}}`,
		number, number, headSHA, head)
	return github.Event{Name: "pull_request", Payload: []byte(payload), SHA: mergeSHA}
}

func settings(gh *github.Client, ev github.Event) notify.Settings {
	return notify.Settings{Event: ev, GitHub: gh, Comment: "auto", Deployment: "auto", Secrets: []string{githubfake.DefaultToken}}
}

// at is r about target t.
func at(r *notify.Report, t checks.Target) *notify.Report {
	r.Target = t
	return r
}

func validated() *notify.Report {
	r := report(basePlan(), outcome.WouldChange)
	r.Command, promotion(r).Moves = "validate", false
	return r
}

func TestCommentFirstThenEditedInPlace(t *testing.T) {
	t.Parallel()
	f := githubfake.New(t, githubfake.Options{})
	f.AddComment(7, "reviewer", "looks good")
	gh := newGitHub(t, f)
	ctx := t.Context()
	settings := func(gh *github.Client, ev github.Event) notify.Settings {
		s := settings(gh, ev)
		s.Deployment = "never"
		return s
	}

	res := notify.Send(ctx, validated(), settings(gh, prEvent(7, false)))
	if len(res.Errors) != 0 || res.Comment == nil || res.Comment.Action != "created" {
		t.Fatalf("first run: errors %v, comment %+v", res.Errors, res.Comment)
	}
	if res.PullRequest.Source != "event" {
		t.Errorf("pull request found from the %s, want the event payload", res.PullRequest.Source)
	}
	first := res.Comment.ID

	// The merge run promotes: the same comment says so.
	promoted := report(basePlan(), outcome.Promoted)
	res = notify.Send(ctx, promoted, settings(gh, prEvent(7, false)))
	if len(res.Errors) != 0 || res.Comment == nil || res.Comment.Action != "updated" || res.Comment.ID != first {
		t.Fatalf("rerun: errors %v, comment %+v, want comment %d updated", res.Errors, res.Comment, first)
	}
	// A rerun with the same report sends nothing.
	res = notify.Send(ctx, promoted, settings(gh, prEvent(7, false)))
	if res.Comment == nil || res.Comment.Action != "unchanged" {
		t.Fatalf("identical rerun: comment %+v", res.Comment)
	}

	comments := f.Comments(7)
	if len(comments) != 2 {
		t.Fatalf("%d comments, want the reviewer's and ours", len(comments))
	}
	if !strings.HasPrefix(comments[1].Body, "<!-- mlreg-action model=fraud-model target=@champion -->\n### ✅ fraud-model v15 promoted") {
		t.Errorf("comment body:\n%s", comments[1].Body)
	}
	if got := outputs(res); got["comment-id"] != fmt.Sprint(first) {
		t.Errorf("comment-id = %q, want %d", got["comment-id"], first)
	}
	want := []string{"issues/create-comment=1", "issues/list-comments=3", "issues/update-comment=1"}
	if diff := cmp.Diff(want, f.Summary()); diff != "" {
		t.Errorf("calls (-want +got):\n%s", diff)
	}
}

func outputs(res *notify.Result) map[string]string {
	out := map[string]string{}
	for _, kv := range res.Outputs() {
		out[kv[0]] = kv[1]
	}
	return out
}

func TestTwoTargetsKeepTwoComments(t *testing.T) {
	t.Parallel()
	f := githubfake.New(t, githubfake.Options{})
	gh := newGitHub(t, f)
	for range 2 {
		for _, k := range []checks.Target{checks.AliasTarget("champion"), checks.StageTarget("Production")} {
			if res := notify.Send(t.Context(), at(validated(), k), settings(gh, prEvent(7, false))); len(res.Errors) != 0 {
				t.Fatal(res.Errors)
			}
		}
	}
	var markers []string
	for _, c := range f.Comments(7) {
		markers = append(markers, strings.SplitN(c.Body, "\n", 2)[0])
	}
	want := []string{
		"<!-- mlreg-action model=fraud-model target=@champion -->",
		"<!-- mlreg-action model=fraud-model target=stage:Production -->",
	}
	if diff := cmp.Diff(want, markers); diff != "" {
		t.Errorf("comments (-want +got):\n%s", diff)
	}
	if n := f.Count("issues/create-comment"); n != 2 {
		t.Errorf("%d comments created, want 2", n)
	}
}

func TestForkPullRequestIsAWarning(t *testing.T) {
	t.Parallel()
	f := githubfake.New(t, githubfake.Options{ReadOnly: true})
	gh := newGitHub(t, f)
	res := notify.Send(t.Context(), validated(), settings(gh, prEvent(9, true)))
	if len(res.Errors) != 0 {
		t.Errorf("errors = %v, want none: a fork's read-only token is a known limit", res.Errors)
	}
	if len(res.Warnings) != 1 {
		t.Fatalf("warnings = %v, want one", res.Warnings)
	}
	for _, want := range []string{"#9", "403", "fork", "read-only", "workflow_run", "job's summary"} {
		if !strings.Contains(res.Warnings[0], want) {
			t.Errorf("warning lacks %q: %s", want, res.Warnings[0])
		}
	}
	if res.Comment != nil || outputs(res)["comment-id"] != "" {
		t.Errorf("comment = %+v", res.Comment)
	}

	// The same 403 on a pull request from the repository itself is a missing permission.
	res = notify.Send(t.Context(), validated(), settings(gh, prEvent(10, false)))
	if len(res.Errors) != 1 || !strings.Contains(res.Errors[0], "pull-requests: write") || !strings.HasPrefix(res.Errors[0], "pr-comment: ") {
		t.Errorf("errors = %v, want one naming the permission", res.Errors)
	}
}

// The comment goes to the pull request the run belongs to (internal/github
// finds it); without one, pr-comment auto says so in the log and always is
// an error.
func TestCommentOnTheRunsPullRequest(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name    string
		ev      github.Event
		mode    string
		wantPR  int
		wantLog string
		wantErr string
	}{
		{
			name:    "push of a pull request's head",
			ev:      github.Event{Name: "push", SHA: headSHA},
			mode:    "auto",
			wantPR:  4,
			wantLog: "on pull request #4 (found from the commit)",
		},
		{
			name:    "a commit with no pull request",
			ev:      github.Event{Name: "workflow_dispatch", SHA: mergeSHA},
			mode:    "auto",
			wantLog: "pr-comment: no pull request for this run (event workflow_dispatch, commit 222222222222)",
		},
		{
			name:    "a commit with no pull request, pr-comment always",
			ev:      github.Event{Name: "schedule", SHA: mergeSHA},
			mode:    "always",
			wantErr: "pr-comment: pr-comment is always, but no pull request was found for this run (event schedule, commit 222222222222)",
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := githubfake.New(t, githubfake.Options{})
			f.AddPullRequest(githubfake.PullRequest{Number: 4, HeadSHA: headSHA})
			s := settings(newGitHub(t, f), tc.ev)
			s.Comment = tc.mode
			res := notify.Send(t.Context(), validated(), s)
			if got := strings.Join(res.Errors, "\n"); got != tc.wantErr {
				t.Errorf("errors = %q, want %q", got, tc.wantErr)
			}
			got := 0
			if res.Comment != nil {
				got = res.PullRequest.Number
				if len(f.Comments(got)) != 1 {
					t.Errorf("pull request #%d has %d comments", got, len(f.Comments(got)))
				}
			}
			if got != tc.wantPR {
				t.Errorf("commented on #%d, want #%d", got, tc.wantPR)
			}
			if log := strings.Join(res.Lines(true), "\n"); !strings.Contains(log, tc.wantLog) {
				t.Errorf("log %q lacks %q", res.Lines(true), tc.wantLog)
			}
		})
	}
}

func TestDeploymentLifecycle(t *testing.T) {
	t.Parallel()
	f := githubfake.New(t, githubfake.Options{})
	// The previous holder's deployment, as an earlier run left it.
	prevID := f.AddDeployment(githubfake.Deployment{
		Ref: headSHA, SHA: headSHA, Task: "deploy", Environment: "fraud-model@champion", ProductionEnvironment: true,
		Payload:  map[string]any{"tool": "mlreg-action", "model": "fraud-model", "version": "12"},
		Statuses: []githubfake.DeploymentStatus{{State: "in_progress"}, {State: "success"}},
	})
	gh := newGitHub(t, f)
	ev := github.Event{Name: "push", SHA: mergeSHA}
	promoted := report(basePlan(), outcome.Promoted)
	promotion(promoted).Applied = &promote.Outcome{Changed: true, Previous: map[string]string{"@champion": "12"}}
	res := notify.Send(t.Context(), promoted, settings(gh, ev))
	if len(res.Errors) != 0 || res.Deployment == nil {
		t.Fatalf("errors %v, deployment %+v", res.Errors, res.Deployment)
	}
	ds := f.Deployments()
	d := ds[len(ds)-1]
	if d.ID != res.Deployment.ID || outputs(res)["deployment-id"] != fmt.Sprint(d.ID) {
		t.Errorf("deployment-id %q, created %d", outputs(res)["deployment-id"], d.ID)
	}
	var payload map[string]any
	b, _ := json.Marshal(d.Payload)
	_ = json.Unmarshal(b, &payload)
	wantPayload := map[string]any{
		"tool": "mlreg-action", "model": "fraud-model", "version": "15", "previous_version": "12", "target": "@champion",
		"outcome": "promoted", "plan_digest": digest, "model_version_url": "https://mlflow.example.com/#/models/fraud-model/versions/15",
	}
	if diff := cmp.Diff(wantPayload, payload); diff != "" {
		t.Errorf("payload (-want +got):\n%s", diff)
	}
	f0, t0 := false, true
	wantDep := githubfake.Deployment{
		ID: d.ID, Ref: mergeSHA, SHA: mergeSHA, Task: "deploy", Environment: "fraud-model@champion",
		Description: "Promoting fraud-model v15 to @champion", Payload: d.Payload, ProductionEnvironment: true,
		RequiredContexts: []string{}, AutoMerge: &f0,
		Statuses: []githubfake.DeploymentStatus{
			{ID: d.Statuses[0].ID, State: "in_progress", Description: "Promoting fraud-model v15 to @champion", LogURL: runURL,
				EnvironmentURL: "https://mlflow.example.com/#/models/fraud-model/versions/15", Environment: "fraud-model@champion"},
			{ID: d.Statuses[1].ID, State: "success", Description: "fraud-model v15 promoted to @champion (was v12): 7/7 checks passed", LogURL: runURL,
				EnvironmentURL: "https://mlflow.example.com/#/models/fraud-model/versions/15", Environment: "fraud-model@champion", AutoInactive: &t0},
		},
	}
	if diff := cmp.Diff(wantDep, d); diff != "" {
		t.Errorf("deployment (-want +got):\n%s", diff)
	}
	if st := ds[0]; st.ID != prevID || st.State() != "inactive" {
		t.Errorf("previous holder's deployment is %s, want inactive", st.State())
	}
	if st := ds[0].Statuses[len(ds[0].Statuses)-1]; st.Description != "Replaced: fraud-model v15 promoted to @champion (was v12): 7/7 checks passed" {
		t.Errorf("previous holder's inactive status says %q", st.Description)
	}

	// A no-op rerun (a new process, so a new client) creates no second deployment.
	inPlace := report(basePlan(), outcome.InPlace)
	res = notify.Send(t.Context(), inPlace, settings(newGitHub(t, f), ev))
	if res.Deployment != nil || len(res.Errors) != 0 || len(f.Deployments()) != 2 {
		t.Errorf("rerun: deployment %+v errors %v, %d deployments", res.Deployment, res.Errors, len(f.Deployments()))
	}
	want := []string{"repos/create-deployment-status=3", "repos/create-deployment=1", "repos/list-deployments=1",
		"repos/list-pull-requests-associated-with-commit=2"}
	if diff := cmp.Diff(want, f.Summary()); diff != "" {
		t.Errorf("calls (-want +got):\n%s", diff)
	}
}

func TestDeploymentStates(t *testing.T) {
	t.Parallel()
	blocked := report(basePlan(), outcome.Blocked)
	conflict := report(basePlan(), outcome.Conflict)
	failed := report(basePlan(), outcome.Failed)
	failed.Error = "failed to set alias: 503"
	dry := report(basePlan(), outcome.WouldChange)
	dry.DryRun = true
	rolled := report(basePlan(), outcome.RolledBack)
	rolled.Command = "rollback"
	noPlan := report(nil, outcome.Failed)
	staging, champion := checks.StageTarget("Staging"), checks.AliasTarget("champion")
	cases := []struct {
		name string
		rep  *notify.Report
		key  checks.Target
		env  string
		want []string // environment, production, final state; nil = no deployment
	}{
		{"blocked by policy", blocked, champion, "", []string{"fraud-model@champion", "true", "failure"}},
		{"conflict", conflict, champion, "", []string{"fraud-model@champion", "true", "error"}},
		{"registry error", failed, champion, "", []string{"fraud-model@champion", "true", "error"}},
		{"rollback", rolled, champion, "", []string{"fraud-model@champion", "true", "success"}},
		{"stage Staging is not production", report(basePlan(), outcome.Promoted), staging, "", []string{"fraud-model/Staging", "false", "success"}},
		{"deployment-environment", report(basePlan(), outcome.Promoted), staging, "ml-staging", []string{"ml-staging", "false", "success"}},
		{"an environment named production", report(basePlan(), outcome.Promoted), checks.AliasTarget("canary"), "production", []string{"production", "true", "success"}},
		{"an alias that is not production", report(basePlan(), outcome.Promoted), checks.AliasTarget("canary"), "", []string{"fraud-model@canary", "false", "success"}},
		{"dry run", dry, champion, "", nil},
		{"validate", validated(), champion, "", nil},
		{"nothing resolved", noPlan, champion, "", nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := githubfake.New(t, githubfake.Options{})
			s := settings(newGitHub(t, f), github.Event{Name: "push", SHA: mergeSHA})
			s.Environment = tc.env
			s.Comment = "never"
			res := notify.Send(t.Context(), at(tc.rep, tc.key), s)
			if len(res.Errors) != 0 {
				t.Fatal(res.Errors)
			}
			var got []string
			if ds := f.Deployments(); len(ds) == 1 {
				d := ds[0]
				got = []string{d.Environment, fmt.Sprint(d.ProductionEnvironment), d.State()}
				if len(d.Statuses) != 2 || d.Statuses[0].State != "in_progress" {
					t.Errorf("statuses %+v, want in_progress then the final state", d.Statuses)
				}
				if len([]rune(d.Statuses[1].Description)) > 140 {
					t.Errorf("description too long: %q", d.Statuses[1].Description)
				}
			} else if len(ds) > 1 {
				t.Fatalf("%d deployments", len(ds))
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("deployment (-want +got):\n%s", diff)
			}
		})
	}
}

func TestMissingDeploymentPermission(t *testing.T) {
	t.Parallel()
	f := githubfake.New(t, githubfake.Options{})
	f.Fail("repos/create-deployment", githubfake.NotAccessible("https://docs.github.com/rest/deployments/deployments#create-a-deployment"))
	s := settings(newGitHub(t, f), github.Event{Name: "push", SHA: mergeSHA})
	s.Comment = "never"
	res := notify.Send(t.Context(), report(basePlan(), outcome.Promoted), s)
	want := []string{"deployment: failed to create a deployment to fraud-model@champion: 403 Resource not accessible by integration; grant the job `permissions: deployments: write`, or set deployment: never"}
	if diff := cmp.Diff(want, res.Errors); diff != "" {
		t.Errorf("errors (-want +got):\n%s", diff)
	}
}

func TestNoTokenNoGitHub(t *testing.T) {
	t.Parallel()
	s := notify.Settings{Event: prEvent(7, false), Comment: "auto", Deployment: "auto"}
	res := notify.Send(t.Context(), report(basePlan(), outcome.Promoted), s)
	if len(res.Errors) != 0 {
		t.Errorf("errors = %v", res.Errors)
	}
	s.Comment = "always"
	res = notify.Send(t.Context(), report(basePlan(), outcome.Promoted), s)
	if len(res.Errors) != 1 || !strings.Contains(res.Errors[0], "no github-token") {
		t.Errorf("errors = %v", res.Errors)
	}
}
