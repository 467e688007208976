package action_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/slack-go/slack/slacktest"

	"github.com/mlreg/mlreg-action/internal/testing/githubfake"
)

const (
	harnessSHA = "0123456789abcdef0123456789abcdef01234567" // GITHUB_SHA in runAction
	slackToken = "xoxb-1234-5678-notarealtoken"
)

// slackRecorder serves chat.postMessage and chat.update and records them.
type slackRecorder struct {
	srv   *slacktest.Server
	mu    sync.Mutex
	calls []string // "method channel ts"
	fail  string   // error every call answers, when set
}

func newSlackRecorder(t *testing.T) *slackRecorder {
	t.Helper()
	s := &slackRecorder{}
	h := func(method string) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			_ = r.ParseForm()
			s.mu.Lock()
			s.calls = append(s.calls, strings.TrimSpace(method+" "+r.Form.Get("channel")+" "+r.Form.Get("ts")))
			n, fail := len(s.calls), s.fail
			s.mu.Unlock()
			if r.Form.Get("token") != slackToken && r.Header.Get("Authorization") != "Bearer "+slackToken {
				fmt.Fprint(w, `{"ok":false,"error":"invalid_auth"}`)
				return
			}
			if fail != "" {
				fmt.Fprintf(w, `{"ok":false,"error":%q}`, fail)
				return
			}
			ts := r.Form.Get("ts")
			if ts == "" {
				ts = fmt.Sprintf("1764072000.%06d", n)
			}
			fmt.Fprintf(w, `{"ok":true,"channel":"C0MLREG","ts":%q}`, ts)
		}
	}
	s.srv = slacktest.NewTestServer(func(c slacktest.Customize) {
		c.Handle("/chat.postMessage", h("chat.postMessage"))
		c.Handle("/chat.update", h("chat.update"))
	})
	s.srv.Start()
	t.Cleanup(s.srv.Stop)
	return s
}

func (s *slackRecorder) got() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.calls...)
}

// notifyEnv points the action at the fakes: GitHub's API, Slack's API, an
// event payload, and the tokens as inputs.
func notifyEnv(t *testing.T, gh *githubfake.Server, sl *slackRecorder, event, payload string) map[string]string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "event.json")
	if err := os.WriteFile(p, []byte(payload), 0o644); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{
		"GITHUB_API_URL":    gh.URL(),
		"GITHUB_EVENT_NAME": event,
		"GITHUB_EVENT_PATH": p,
		"github-token":      gh.Token(),
	}
	if sl != nil {
		env["MLREG_SLACK_API_URL"] = sl.srv.GetAPIURL()
		env["slack-token"] = slackToken
		env["slack-channel"] = "#ml-releases"
	}
	return env
}

func merge(maps ...map[string]string) map[string]string {
	out := map[string]string{}
	for _, m := range maps {
		for k, v := range m {
			out[k] = v
		}
	}
	return out
}

// noSecrets checks that a token appears nowhere but in its ::add-mask:: line.
func noSecrets(t *testing.T, res result, secrets ...string) {
	t.Helper()
	for _, s := range secrets {
		for _, line := range strings.Split(res.stdout+res.stderr, "\n") {
			if strings.Contains(line, s) && line != "::add-mask::"+s {
				t.Errorf("secret printed: %q", line)
			}
		}
		for name, v := range res.outputs {
			if strings.Contains(v, s) {
				t.Errorf("secret in output %s", name)
			}
		}
		if strings.Contains(res.summary, s) {
			t.Error("secret in the job summary")
		}
	}
}

// One promotion and its rerun, against the real MLflow server and the GitHub
// and Slack fakes: every side effect, and the API calls of each surface.
func TestNotifyPromoteAndRerun(t *testing.T) {
	t.Parallel()
	model, f := newModel(t, auc(0.91), auc(0.95))
	if err := f.SetAlias(t.Context(), model, "champion", "1"); err != nil {
		t.Fatal(err)
	}
	gh := githubfake.New(t, githubfake.Options{})
	// The workflow runs on the push of the merge commit of pull request #7.
	gh.AddPullRequest(githubfake.PullRequest{Number: 7, State: "closed", Merged: true, HeadSHA: strings.Repeat("a", 40), MergeCommitSHA: harnessSHA})
	sl := newSlackRecorder(t)
	in := merge(promoteInputs(model), notifyEnv(t, gh, sl, "push", `{"ref":"refs/heads/main","after":"`+harnessSHA+`"}`))

	first := runAction(t, in, policyFiles())
	if first.code != 0 {
		t.Fatalf("exit %d\n%s", first.code, first.stdout)
	}
	firstGH, firstSlack := gh.Summary(), sl.got()
	if first.outputs["notify-errors"] != "" || first.outputs["comment-id"] == "" || first.outputs["deployment-id"] == "" || first.outputs["slack-ts"] == "" {
		t.Errorf("outputs = %v", first.outputs)
	}
	comments := gh.Comments(7)
	if len(comments) != 1 || !strings.HasPrefix(comments[0].Body, "<!-- mlreg-action model="+model+" target=@champion -->\n### ✅ "+strings.ReplaceAll(model, "_", `\_`)+" v2 promoted") {
		t.Fatalf("comments = %+v", comments)
	}
	if fmt.Sprint(comments[0].ID) != first.outputs["comment-id"] {
		t.Errorf("comment-id %s, comment %d", first.outputs["comment-id"], comments[0].ID)
	}
	deps := gh.Deployments()
	if len(deps) != 1 {
		t.Fatalf("%d deployments", len(deps))
	}
	d := deps[0]
	var states []string
	for _, s := range d.Statuses {
		states = append(states, s.State)
	}
	wantEnvURL := trackingURI() + "/#/models/" + model + "/versions/2"
	if d.Ref != harnessSHA || d.Environment != model+"@champion" || !d.ProductionEnvironment || fmt.Sprint(d.ID) != first.outputs["deployment-id"] ||
		!cmp.Equal(states, []string{"in_progress", "success"}) || d.Statuses[1].EnvironmentURL != wantEnvURL ||
		d.Statuses[1].LogURL != "https://github.com/acme/models/actions/runs/4242" {
		t.Errorf("deployment = %+v", d)
	}
	if p, _ := json.Marshal(d.Payload); !strings.Contains(string(p), `"previous_version":"1"`) || !strings.Contains(string(p), `"version":"2"`) {
		t.Errorf("payload = %s", p)
	}
	vtags, err := f.VersionTags(t.Context(), model, "2")
	if err != nil {
		t.Fatal(err)
	}
	var key map[string]string
	if err := json.Unmarshal([]byte(vtags["mlreg.slack.alias.champion"]), &key); err != nil {
		t.Fatalf("slack message key: %v (%q)", err, vtags["mlreg.slack.alias.champion"])
	}
	if key["ts"] != first.outputs["slack-ts"] || key["channel"] != "C0MLREG" || key["plan_digest"] != first.outputs["plan-digest"] {
		t.Errorf("slack message key = %v, outputs %v", key, first.outputs)
	}

	second := runAction(t, in, policyFiles())
	if second.code != 0 || second.outputs["changed"] != "false" {
		t.Fatalf("rerun: exit %d outputs %v\n%s", second.code, second.outputs, second.stdout)
	}
	if second.outputs["notify-errors"] != "" || second.outputs["comment-id"] != first.outputs["comment-id"] ||
		second.outputs["deployment-id"] != "" || second.outputs["slack-ts"] != first.outputs["slack-ts"] {
		t.Errorf("rerun outputs = %v", second.outputs)
	}
	if comments := gh.Comments(7); len(comments) != 1 || !strings.Contains(comments[0].Body, "already in place") {
		t.Errorf("rerun comments = %+v", comments)
	}
	if n := len(gh.Deployments()); n != 1 {
		t.Errorf("%d deployments after the rerun, want 1", n)
	}
	wantSlack := []string{"chat.postMessage ml-releases", "chat.update C0MLREG " + first.outputs["slack-ts"]}
	if diff := cmp.Diff(wantSlack, sl.got()); diff != "" {
		t.Errorf("slack calls (-want +got):\n%s", diff)
	}
	wantGH := []string{
		"issues/create-comment=1", "issues/list-comments=2", "issues/update-comment=1",
		"repos/create-deployment-status=2", "repos/create-deployment=1", "repos/list-deployments=1",
		"repos/list-pull-requests-associated-with-commit=2",
	}
	if diff := cmp.Diff(wantGH, gh.Summary()); diff != "" {
		t.Errorf("GitHub calls (-want +got):\n%s", diff)
	}
	noSecrets(t, first, gh.Token(), slackToken)
	noSecrets(t, second, gh.Token(), slackToken)
	t.Logf("first run: GitHub %v; Slack %v", firstGH, firstSlack)
	t.Logf("after the rerun: GitHub %v; Slack %v", gh.Summary(), sl.got())
	t.Logf("PR comment after the rerun:\n%s", gh.Comments(7)[0].Body)
}

func TestNotifyFailureNeverBlocksThePromotion(t *testing.T) {
	t.Parallel()
	for _, failStep := range []bool{false, true} {
		t.Run(fmt.Sprint("fail-on-notify-error=", failStep), func(t *testing.T) {
			t.Parallel()
			model, f := newModel(t, auc(0.95))
			gh := githubfake.New(t, githubfake.Options{})
			gh.Fail("repos/create-deployment", githubfake.NotAccessible("https://docs.github.com/rest/deployments/deployments#create-a-deployment"))
			sl := newSlackRecorder(t)
			sl.fail = "channel_not_found"
			in := merge(promoteInputs(model, "fail-on-notify-error", fmt.Sprint(failStep)), notifyEnv(t, gh, sl, "push", `{}`))
			res := runAction(t, in, policyFiles())
			if got := aliasOf(t, f, model, "champion"); got != "1" {
				t.Fatalf("@champion = %q: a failed notification must not undo the promotion", got)
			}
			wantCode := 0
			if failStep {
				wantCode = 5
			}
			if res.code != wantCode || res.outputs["changed"] != "true" {
				t.Fatalf("exit %d (want %d), outputs %v\n%s", res.code, wantCode, res.outputs, res.stdout)
			}
			wantErrs := "deployment: failed to create a deployment to " + model + "@champion: 403 Resource not accessible by integration; grant the job `permissions: deployments: write`, or set deployment: never\n" +
				"slack: failed to post to Slack channel ml-releases: channel_not_found"
			if diff := cmp.Diff(wantErrs, res.outputs["notify-errors"]); diff != "" {
				t.Errorf("notify-errors (-want +got):\n%s", diff)
			}
			if n := strings.Count(res.stdout, "::warning::notification failed: "); n != 2 {
				t.Errorf("%d notification warnings, want 2\n%s", n, res.stdout)
			}
			if n := strings.Count(res.stdout, "::error"); n != map[bool]int{false: 0, true: 1}[failStep] {
				t.Errorf("%d error annotations\n%s", n, res.stdout)
			}
		})
	}
}

// A pull request from a fork: the token is read-only, the comment is a
// warning naming the cause and the workflow_run pattern, the step passes.
func TestNotifyForkPullRequest(t *testing.T) {
	t.Parallel()
	model, _ := newModel(t, auc(0.95))
	gh := githubfake.New(t, githubfake.Options{ReadOnly: true})
	payload := `{"number":11,"pull_request":{"number":11,"head":{"repo":{"full_name":"contributor/models"}},"base":{"repo":{"full_name":"acme/models"}}}}`
	in := merge(promoteInputs(model, "command", "validate"), notifyEnv(t, gh, nil, "pull_request", payload))
	res := runAction(t, in, policyFiles())
	if res.code != 0 || res.outputs["notify-errors"] != "" || res.outputs["comment-id"] != "" {
		t.Fatalf("exit %d, outputs %v\n%s", res.code, res.outputs, res.stdout)
	}
	if !strings.Contains(res.stdout, "::warning::could not comment on pull request #11") || !strings.Contains(res.stdout, "workflow_run") {
		t.Errorf("no fork warning:\n%s", res.stdout)
	}
	if !strings.Contains(res.summary, "passes the policy") {
		t.Errorf("the verdict is not in the job summary:\n%s", res.summary)
	}
}
