package notify_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/mlreg/mlreg-action/internal/checks"
	"github.com/mlreg/mlreg-action/internal/mlflow"
	"github.com/mlreg/mlreg-action/internal/notify"
	"github.com/mlreg/mlreg-action/internal/outcome"
	"github.com/mlreg/mlreg-action/internal/promote"
	"github.com/mlreg/mlreg-action/internal/testing/githubfake"
)

// The reports of register and history: rendered by the same Report as a
// promotion's, and, for register, delivered to the pull request and Slack.

const regRun = "a1b2c3d4e5f60718293a4b5c6d7e8f90"

func registered(reused bool) *notify.Report {
	r := &notify.Report{
		Command: "register", Outcome: outcome.Registered, Model: "fraud-model", TrackingURI: tracking,
		Body: &notify.Register{Registered: &notify.Registration{Version: "16", Source: "models:/m-0123456789abcdef", RunID: regRun,
			Status: "READY", Reused: reused}},
		Links: notify.Links{
			Version: mlflow.Rules{UI: tracking}.VersionURL("fraud-model", "16", false), Run: notify.RunURL(tracking, regRun), WorkflowRun: runURL,
		},
	}
	if reused {
		r.Outcome = outcome.Reused
	}
	return r
}

func history(drift bool) *notify.Report {
	entries := []promote.Record{
		{Version: "3", PreviousVersion: "2", Action: "promote", At: "2026-11-25T12:00:00Z", By: "octocat", RunURL: runURL},
		{Version: "2", PreviousVersion: "", Action: "promote", At: "2026-11-24T12:00:00Z", By: "octocat"},
	}
	alias := &promote.TargetHistory{Target: checks.AliasTarget("champion"), Current: "3", Entries: entries, Recorded: "3"}
	if drift {
		alias.Current, alias.Drift = "1", true
	}
	stage := &promote.TargetHistory{Target: checks.StageTarget("Production"), Entries: []promote.Record{}}
	r := &notify.Report{Command: "history", Model: "fraud-model", Target: checks.Target{Alias: "champion", Stage: "Production"},
		Body: &notify.History{Targets: []*promote.TargetHistory{alias, stage}}, Outcome: outcome.Recorded, Links: notify.Links{WorkflowRun: runURL}}
	if drift {
		r.Outcome = outcome.Drift
	}
	return r
}

func TestRegisterAndHistoryGolden(t *testing.T) {
	t.Parallel()
	reg := registered(false)
	golden(t, "register.md", reg.CommentBody())
	golden(t, "register.txt", reg.Text())
	golden(t, "register.slack.json", slackJSON(t, reg.SlackText(), reg.SlackBlocks()))
	reused := registered(true)
	if got, want := reused.Headline(), "📦 fraud-model v16 already registered from run "+regRun+" by this workflow run"; got != want {
		t.Errorf("reused headline = %q, want %q", got, want)
	}
	h := history(true)
	golden(t, "history-drift.md", h.Markdown())
	golden(t, "history-drift.txt", h.Text())
	for _, r := range []*notify.Report{reg, reused, h, history(false)} {
		checkMarkdownSafe(t, r.CommentBody())
		checkSlackSafe(t, r.SlackText(), r.SlackBlocks())
	}
}

// failed is the report of a register or history run that failed before it
// had a version or a history to show.
func failed(cmd string) *notify.Report {
	body := map[string]notify.Body{"register": &notify.Register{}, "history": &notify.History{}}[cmd]
	return &notify.Report{Command: cmd, Outcome: outcome.Failed, Model: "fraud-model", Error: "403 PERMISSION_DENIED", Body: body}
}

// A failed register or history reports its error the way a promotion does.
func TestRegisterAndHistoryErrors(t *testing.T) {
	t.Parallel()
	for _, cmd := range []string{"register", "history"} {
		r := failed(cmd)
		for _, got := range []string{r.Markdown(), r.Text()} {
			if !strings.Contains(got, "fraud-model: "+cmd+" failed") || !strings.Contains(got, "403 PERMISSION\\_DENIED") && !strings.Contains(got, "403 PERMISSION_DENIED") {
				t.Errorf("%s error report:\n%s", cmd, got)
			}
		}
	}
}

// Registry text in a registration or a history cannot break the layout,
// ping anyone or inject links.
func TestRegisterAndHistoryHostile(t *testing.T) {
	t.Parallel()
	reg := registered(false)
	reg.Model = "fraud" + hostile
	reg.Body.(*notify.Register).Registered.Source = hostile
	reg.Body.(*notify.Register).Registered.Status = hostile
	h := history(true)
	h.Model = "fraud" + hostile
	first := h.Body.(*notify.History).Targets[0]
	first.Entries[0].By = hostile
	first.Entries[0].Action = hostile
	first.Entries[0].RunURL = "https://evil.example/x) [click](https://evil.example"
	for _, r := range []*notify.Report{reg, h} {
		checkMarkdownSafe(t, r.CommentBody())
		checkSlackSafe(t, r.SlackText(), r.SlackBlocks())
		if txt := r.Text(); strings.ContainsAny(txt, "\x1b\u202E\r") {
			t.Errorf("%s text holds control characters:\n%q", r.Command, txt)
		}
	}
}

// The report file of each command holds what it did.
func TestReportJSON(t *testing.T) {
	t.Parallel()
	var got struct {
		Target     string                  `json:"target"`
		Registered *notify.Registration    `json:"registered"`
		History    []promote.TargetHistory `json:"history"`
	}
	b, err := json.Marshal(registered(true))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &got); err != nil || got.Target != "" || got.Registered == nil || !got.Registered.Reused || got.Registered.Version != "16" {
		t.Errorf("register report = %s (%v)", b, err)
	}
	b, err = json.Marshal(history(true))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &got); err != nil || got.Target != "@champion + stage Production" || len(got.History) != 2 ||
		!got.History[0].Drift || got.History[1].Target != checks.StageTarget("Production") {
		t.Errorf("history report = %s (%v)", b, err)
	}
}

// A registration reports to the pull request (a comment of its own) and to
// Slack; a rerun that reuses the version edits both, and no deployment is
// ever created for it. History reports nowhere.
func TestSendRegister(t *testing.T) {
	t.Parallel()
	f := githubfake.New(t, githubfake.Options{})
	srv := newSlackServer(t)
	store := &memStore{}
	s := settings(newGitHub(t, f), prEvent(7, false))
	s.Slack, s.Store = srv.client(t), store

	res := notify.Send(t.Context(), registered(false), s)
	if len(res.Errors) != 0 || res.Comment == nil || res.Comment.Action != "created" || res.SlackAction != notify.SlackPosted || res.Deployment != nil {
		t.Fatalf("first: errors %v comment %+v slack %q deployment %+v", res.Errors, res.Comment, res.SlackAction, res.Deployment)
	}
	res = notify.Send(t.Context(), registered(true), s)
	if len(res.Errors) != 0 || res.Comment == nil || res.Comment.Action != "updated" || res.SlackAction != notify.SlackUpdated {
		t.Fatalf("rerun: errors %v comment %+v slack %q", res.Errors, res.Comment, res.SlackAction)
	}
	comments := f.Comments(7)
	if len(comments) != 1 || !strings.HasPrefix(comments[0].Body, "<!-- mlreg-action model=fraud-model command=register -->\n### 📦 fraud-model v16 already registered") {
		t.Errorf("comments: %+v", comments)
	}
	var methods []string
	for _, c := range srv.calls() {
		methods = append(methods, c.Method)
	}
	if diff := cmp.Diff([]string{"chat.postMessage", "chat.update"}, methods); diff != "" {
		t.Errorf("Slack calls (-want +got):\n%s", diff)
	}
	var ref notify.SlackRef
	store.mu.Lock()
	key := store.tags["fraud-model/16/"+notify.SlackRegisterTag]
	store.mu.Unlock()
	if err := json.Unmarshal([]byte(key), &ref); err != nil || ref.TS == "" {
		t.Errorf("the message key on v16 = %q (%v)", key, err)
	}
	if n := len(f.Deployments()); n != 0 {
		t.Errorf("%d deployments for a registration", n)
	}

	before := len(srv.calls())
	res = notify.Send(t.Context(), history(true), s)
	if len(res.Errors) != 0 || res.Comment != nil || res.Slack != nil || len(srv.calls()) != before || len(f.Comments(7)) != 1 {
		t.Errorf("history notified: %+v", res)
	}
}
