package action_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/mlreg/mlreg-action/internal/testing/githubfake"
)

// approvalPolicy gates @champion on a required reviewer of the job's
// production environment and an approving review of the pull request by
// someone other than the actor.
const approvalPolicy = `version: 1
rules:
  - name: reviewed release
    applies-to:
      alias: champion
    metrics:
      val_auc: {min: 0.90}
    approval:
      environment-reviews: {min: 1, environment: production}
      pull-request-reviews: {min: 1, exclude-actor: true}
`

// The approval gate against the real MLflow server and the GitHub fake: a
// promotion without the approvals exits 1 and changes nothing, with the
// missing checks in the report; with them it promotes and records who
// approved in the audit record.
func TestApprovalGate(t *testing.T) {
	t.Parallel()
	files := map[string]string{".github/mlreg-policy.yml": approvalPolicy}
	model, f := newModel(t, auc(0.95))
	gh := githubfake.New(t, githubfake.Options{})
	// The push of pull request #9's merge commit runs the promotion.
	gh.AddPullRequest(githubfake.PullRequest{Number: 9, State: "closed", Merged: true, HeadSHA: strings.Repeat("b", 40), MergeCommitSHA: harnessSHA})
	gh.AddReview(9, githubfake.Review{User: "octocat", State: "APPROVED"}) // the actor: does not count
	gh.AddRunApproval(4242, githubfake.Approval{User: "dana", State: "approved", Environments: []string{"staging"}})
	in := merge(promoteInputs(model, "pr-comment", "never", "deployment", "never"),
		notifyEnv(t, gh, nil, "push", `{"ref":"refs/heads/main"}`))

	blocked := runAction(t, in, files)
	if blocked.code != 1 || blocked.outputs["verdict"] != "fail" || blocked.outputs["changed"] != "false" {
		t.Fatalf("without approvals: exit %d outputs %v, want exit 1 verdict=fail\n%s", blocked.code, blocked.outputs, blocked.stdout)
	}
	if got := aliasOf(t, f, model, "champion"); got != "" {
		t.Errorf("@champion = %q after a blocked promotion, want unset", got)
	}
	for _, want := range []string{
		"environment-reviews", "0 approvals, need 1; workflow run 4242, environment production",
		`pull-request-reviews \(excluding the actor\)`, `pull request \#9, not counting octocat`,
	} {
		if !strings.Contains(blocked.summary, want) {
			t.Errorf("blocked summary lacks %q:\n%s", want, blocked.summary)
		}
	}
	if !strings.Contains(blocked.stdout, "::error") || !strings.Contains(blocked.stdout, "approval") {
		t.Errorf("no ::error annotation naming the approval:\n%s", blocked.stdout)
	}

	gh.AddRunApproval(4242, githubfake.Approval{User: "erin", State: "approved", Environments: []string{"production"}})
	gh.AddReview(9, githubfake.Review{User: "erin", State: "APPROVED"})
	gh.AddReview(9, githubfake.Review{User: "frank", State: "APPROVED"})
	ok := runAction(t, in, files)
	if ok.code != 0 || ok.outputs["changed"] != "true" {
		t.Fatalf("with approvals: exit %d outputs %v\n%s", ok.code, ok.outputs, ok.stdout)
	}
	if got := aliasOf(t, f, model, "champion"); got != "1" {
		t.Errorf("@champion = %q, want 1", got)
	}
	tags, err := f.VersionTags(t.Context(), model, "1")
	if err != nil {
		t.Fatal(err)
	}
	var rec struct {
		Approvers []string `json:"approvers"`
	}
	if err := json.Unmarshal([]byte(tags["mlreg.promotion.alias.champion"]), &rec); err != nil {
		t.Fatalf("promotion tag: %v (%q)", err, tags["mlreg.promotion.alias.champion"])
	}
	if diff := cmp.Diff([]string{"erin", "frank"}, rec.Approvers); diff != "" {
		t.Errorf("approvers in the audit record (-want +got):\n%s", diff)
	}
	noSecrets(t, blocked, gh.Token())
	noSecrets(t, ok, gh.Token())
}

// With the PR comment on, the pull request is looked up once for both the
// approval check and the comment.
func TestApprovalAndCommentFindThePullRequestOnce(t *testing.T) {
	t.Parallel()
	files := map[string]string{".github/mlreg-policy.yml": approvalPolicy}
	model, _ := newModel(t, auc(0.95))
	gh := githubfake.New(t, githubfake.Options{})
	gh.AddPullRequest(githubfake.PullRequest{Number: 4, State: "closed", Merged: true, HeadSHA: strings.Repeat("c", 40), MergeCommitSHA: harnessSHA})
	gh.AddReview(4, githubfake.Review{User: "erin", State: "APPROVED"})
	gh.AddRunApproval(4242, githubfake.Approval{User: "erin", State: "approved", Environments: []string{"production"}})
	res := runAction(t, merge(promoteInputs(model, "deployment", "never"), notifyEnv(t, gh, nil, "push", `{}`)), files)
	if res.code != 0 {
		t.Fatalf("exit %d\n%s", res.code, res.stdout)
	}
	want := []string{
		"actions/get-reviews-for-run=1", "issues/create-comment=1", "issues/list-comments=1",
		"pulls/list-reviews=1", "repos/list-pull-requests-associated-with-commit=1",
	}
	if diff := cmp.Diff(want, gh.Summary()); diff != "" {
		t.Errorf("GitHub calls (-want +got):\n%s", diff)
	}
	if c := gh.Comments(4); len(c) != 1 || !strings.Contains(c[0].Body, "pull-request-reviews") {
		t.Errorf("comment = %+v, want one listing the approval checks", c)
	}
}

// A token without `actions: read` cannot read environment approvals: the run
// stops with a registry-side error (3) that names the permission, and
// changes nothing.
func TestApprovalWithoutPermission(t *testing.T) {
	t.Parallel()
	files := map[string]string{".github/mlreg-policy.yml": approvalPolicy}
	model, f := newModel(t, auc(0.95))
	gh := githubfake.New(t, githubfake.Options{})
	gh.Fail("actions/get-reviews-for-run", githubfake.NotAccessible("https://docs.github.com/rest/actions/workflow-runs#get-the-review-history-for-a-workflow-run"))
	res := runAction(t, merge(promoteInputs(model, "pr-comment", "never", "deployment", "never"), notifyEnv(t, gh, nil, "push", `{}`)), files)
	if res.code != 3 {
		t.Fatalf("exit %d, want 3\n%s", res.code, res.stdout)
	}
	if !strings.Contains(res.stdout, "permissions: actions: read") || !strings.Contains(res.stdout, "nothing was changed") {
		t.Errorf("the error does not name the permission or the state:\n%s", res.stdout)
	}
	if got := aliasOf(t, f, model, "champion"); got != "" {
		t.Errorf("@champion = %q, want unset", got)
	}
}
