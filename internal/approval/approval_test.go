package approval_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/mlreg/mlreg-action/internal/approval"
	"github.com/mlreg/mlreg-action/internal/checks"
	"github.com/mlreg/mlreg-action/internal/github"
	"github.com/mlreg/mlreg-action/internal/testing/githubfake"
)

const sha = "89abcdef0123456789abcdef0123456789abcdef"

// newChecker points a Checker at a GitHub fake that validates every request
// and answer against GitHub's OpenAPI description.
func newChecker(t *testing.T, ev github.Event) (*approval.Checker, *githubfake.Server) {
	t.Helper()
	f := githubfake.New(t, githubfake.Options{})
	gh, err := github.NewClient(github.Options{Token: f.Token(), APIURL: f.URL(),
		Repository: githubfake.DefaultOwner + "/" + githubfake.DefaultRepo})
	if err != nil {
		t.Fatal(err)
	}
	return &approval.Checker{GH: gh, RunID: 77, Actor: "octocat", Event: ev}, f
}

func TestEnvironmentReviews(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name        string
		environment string
		want        checks.ApprovalResult
	}{
		{
			name:        "only the named environment counts, each reviewer once",
			environment: "Production", // GitHub's environment names are case-insensitive
			want:        checks.ApprovalResult{Count: 2, Approvers: []string{"alice", "erin"}, Detail: "workflow run 77, environment Production"},
		},
		{
			name: "any environment of the run",
			want: checks.ApprovalResult{Count: 3, Approvers: []string{"alice", "bob", "erin"}, Detail: "workflow run 77, environment production, staging"},
		},
		{
			name:        "an environment nobody approved",
			environment: "canary",
			want:        checks.ApprovalResult{Count: 0, Approvers: []string{}, Detail: "workflow run 77, environment canary"},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c, f := newChecker(t, github.Event{Name: "workflow_dispatch", SHA: sha})
			f.AddRunApproval(77, githubfake.Approval{User: "alice", State: "approved", Environments: []string{"production"}})
			f.AddRunApproval(77, githubfake.Approval{User: "alice", State: "approved", Environments: []string{"production"}})
			f.AddRunApproval(77, githubfake.Approval{User: "bob", State: "approved", Environments: []string{"staging"}})
			f.AddRunApproval(77, githubfake.Approval{User: "carol", State: "rejected", Environments: []string{"production"}})
			f.AddRunApproval(77, githubfake.Approval{User: "erin", State: "approved", Environments: []string{"staging", "production"}})
			f.AddRunApproval(78, githubfake.Approval{User: "mallory", State: "approved", Environments: []string{"production"}}) // another run
			got, err := c.Approvals(t.Context(), checks.ApprovalQuery{Kind: checks.ApprovalEnvironmentReviews, Min: 1, Environment: tc.environment})
			if err != nil {
				t.Fatalf("Approvals() error: %v", err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("Approvals() (-want +got):\n%s", diff)
			}
			if n := f.Count("actions/get-reviews-for-run"); n != 1 {
				t.Errorf("actions/get-reviews-for-run called %d times, want 1", n)
			}
		})
	}
}

func TestEnvironmentReviewsOutsideARun(t *testing.T) {
	t.Parallel()
	c, f := newChecker(t, github.Event{})
	c.RunID = 0
	got, err := c.Approvals(t.Context(), checks.ApprovalQuery{Kind: checks.ApprovalEnvironmentReviews, Min: 1})
	if err != nil {
		t.Fatalf("Approvals() error: %v", err)
	}
	if diff := cmp.Diff(checks.ApprovalResult{Detail: "not in a GitHub Actions run"}, got); diff != "" {
		t.Errorf("Approvals() (-want +got):\n%s", diff)
	}
	if calls := f.Calls(); len(calls) != 0 {
		t.Errorf("GitHub was called: %v", calls)
	}
}

func TestPullRequestReviews(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name         string
		ev           github.Event
		excludeActor bool
		want         checks.ApprovalResult
	}{
		{
			name:         "push of the merge commit, the actor's approval excluded",
			ev:           github.Event{Name: "push", SHA: sha},
			excludeActor: true,
			want:         checks.ApprovalResult{Count: 2, Approvers: []string{"alice", "frank"}, Detail: "pull request #12, not counting octocat (the actor)"},
		},
		{
			name: "the actor's approval counts unless excluded",
			ev:   github.Event{Name: "push", SHA: sha},
			want: checks.ApprovalResult{Count: 3, Approvers: []string{"alice", "frank", "octocat"}, Detail: "pull request #12"},
		},
		{
			name:         "pull_request event: the payload's pull request",
			ev:           github.Event{Name: "pull_request", SHA: "ffff", Payload: []byte(`{"pull_request": {"number": 12, "head": {"repo": {"full_name": "acme/models"}}, "base": {"repo": {"full_name": "acme/models"}}}}`)},
			excludeActor: true,
			want:         checks.ApprovalResult{Count: 2, Approvers: []string{"alice", "frank"}, Detail: "pull request #12, not counting octocat (the actor)"},
		},
		{
			name: "a commit no pull request holds",
			ev:   github.Event{Name: "workflow_dispatch", SHA: "0000000000000000000000000000000000000000"},
			want: checks.ApprovalResult{Detail: "the commit belongs to no pull request"},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c, f := newChecker(t, tc.ev)
			f.AddPullRequest(githubfake.PullRequest{Number: 12, State: "closed", Merged: true, HeadSHA: "1111111111111111111111111111111111111111", MergeCommitSHA: sha})
			f.AddReview(12, githubfake.Review{User: "alice", State: "APPROVED"})
			f.AddReview(12, githubfake.Review{User: "bob", State: "APPROVED"})
			f.AddReview(12, githubfake.Review{User: "bob", State: "CHANGES_REQUESTED"}) // bob changed his mind
			f.AddReview(12, githubfake.Review{User: "carol", State: "APPROVED"})
			f.AddReview(12, githubfake.Review{User: "carol", State: "DISMISSED"}) // dismissed approvals do not count
			f.AddReview(12, githubfake.Review{User: "dave", State: "COMMENTED"})
			f.AddReview(12, githubfake.Review{User: "octocat", State: "APPROVED"})
			f.AddReview(12, githubfake.Review{User: "frank", State: "CHANGES_REQUESTED"})
			// A long discussion: the reviews span three pages of 100.
			for i := range 210 {
				f.AddReview(12, githubfake.Review{User: fmt.Sprintf("commenter%d", i), State: "COMMENTED"})
			}
			f.AddReview(12, githubfake.Review{User: "frank", State: "APPROVED"}) // a comment after an approval keeps it
			f.AddReview(12, githubfake.Review{User: "frank", State: "COMMENTED"})
			got, err := c.Approvals(t.Context(), checks.ApprovalQuery{Kind: checks.ApprovalPullRequestReviews, Min: 1, ExcludeActor: tc.excludeActor})
			if err != nil {
				t.Fatalf("Approvals() error: %v", err)
			}
			if got.Approvers == nil {
				got.Approvers = []string{}
			}
			if tc.want.Approvers == nil {
				tc.want.Approvers = []string{}
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("Approvals() (-want +got):\n%s", diff)
			}
			if tc.want.Count > 0 {
				if n := f.Count("pulls/list-reviews"); n != 3 {
					t.Errorf("pulls/list-reviews called %d times, want 3 (pages of 100)", n)
				}
			}
		})
	}
}

func TestApprovalErrorsNameThePermission(t *testing.T) {
	t.Parallel()
	cases := []struct {
		kind, op, want string
	}{
		{checks.ApprovalEnvironmentReviews, "actions/get-reviews-for-run", "permissions: actions: read"},
		{checks.ApprovalPullRequestReviews, "pulls/list-reviews", "permissions: pull-requests: read"},
	}
	for _, tc := range cases {
		t.Run(tc.kind, func(t *testing.T) {
			t.Parallel()
			c, f := newChecker(t, github.Event{Name: "push", SHA: sha})
			f.AddPullRequest(githubfake.PullRequest{Number: 3, HeadSHA: sha})
			f.Fail(tc.op, githubfake.NotAccessible("https://docs.github.com/rest"))
			_, err := c.Approvals(t.Context(), checks.ApprovalQuery{Kind: tc.kind, Min: 1})
			if err == nil {
				t.Fatal("Approvals() succeeded on a 403")
			}
			if !strings.Contains(err.Error(), "403") || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Approvals() error = %q, want the 403 and %q", err, tc.want)
			}
			if strings.Contains(err.Error(), f.Token()) {
				t.Errorf("the token is in the error: %q", err)
			}
		})
	}
}
