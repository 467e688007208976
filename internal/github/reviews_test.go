package github_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/mlreg/mlreg-action/internal/github"
	"github.com/mlreg/mlreg-action/internal/testing/githubfake"
)

func TestRunApprovals(t *testing.T) {
	t.Parallel()
	f := githubfake.New(t, githubfake.Options{})
	f.AddRunApproval(77, githubfake.Approval{User: "alice", State: "approved", Environments: []string{"production"}, Comment: "ok"})
	f.AddRunApproval(77, githubfake.Approval{User: "carol", State: "rejected", Environments: []string{"staging", "production"}})
	f.AddRunApproval(78, githubfake.Approval{User: "mallory", State: "approved", Environments: []string{"production"}})
	got, err := newClient(t, f, nil).RunApprovals(t.Context(), 77)
	if err != nil {
		t.Fatal(err)
	}
	want := []github.EnvironmentApproval{
		{User: "alice", State: "approved", Environments: []string{"production"}},
		{User: "carol", State: "rejected", Environments: []string{"staging", "production"}},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("RunApprovals() (-want +got):\n%s", diff)
	}
}

func TestPullRequestReviews(t *testing.T) {
	t.Parallel()
	f := githubfake.New(t, githubfake.Options{})
	var want []github.Review
	for i := range 105 {
		r := github.Review{User: "commenter", State: "COMMENTED"}
		if i%50 == 0 {
			r = github.Review{User: "alice", State: "APPROVED"}
		}
		f.AddReview(12, githubfake.Review{User: r.User, State: r.State})
		want = append(want, r)
	}
	f.AddReview(13, githubfake.Review{User: "bob", State: "APPROVED"})
	got, err := newClient(t, f, nil).PullRequestReviews(t.Context(), 12)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("PullRequestReviews() (-want +got):\n%s", diff)
	}
	if n := f.Count("pulls/list-reviews"); n != 2 {
		t.Errorf("%d pulls/list-reviews calls, want 2 (pages of 100)", n)
	}
}

// A 403 for a missing permission names it; a rate limit, also a 403, does not.
func TestReviewErrors(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name    string
		op      string
		fault   githubfake.Fault
		call    func(*github.Client, *testing.T) error
		wantErr string
	}{
		{
			name: "run approvals without actions: read", op: "actions/get-reviews-for-run",
			fault: githubfake.NotAccessible("https://docs.github.com/rest"),
			call: func(gh *github.Client, t *testing.T) error {
				_, err := gh.RunApprovals(t.Context(), 77)
				return err
			},
			wantErr: "failed to list the environment approvals of workflow run 77: 403 Resource not accessible by integration (the job's token needs `permissions: actions: read`)",
		},
		{
			name: "reviews without pull-requests: read", op: "pulls/list-reviews",
			fault: githubfake.NotAccessible("https://docs.github.com/rest"),
			call: func(gh *github.Client, t *testing.T) error {
				_, err := gh.PullRequestReviews(t.Context(), 12)
				return err
			},
			wantErr: "failed to list the reviews of pull request #12: 403 Resource not accessible by integration (the job's token needs `permissions: pull-requests: read`)",
		},
		{
			name: "reviews after the rate limit is spent", op: "pulls/list-reviews",
			fault: githubfake.RateLimited(http.StatusForbidden, time.Hour),
			call: func(gh *github.Client, t *testing.T) error {
				_, err := gh.PullRequestReviews(t.Context(), 12)
				return err
			},
			wantErr: "failed to list the reviews of pull request #12: GitHub API rate limit exceeded (resets at ",
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := githubfake.New(t, githubfake.Options{})
			f.Fail(tc.op, tc.fault)
			err := tc.call(newClient(t, f, &sleeper{}), t)
			if err == nil || !strings.HasPrefix(err.Error(), tc.wantErr) {
				t.Fatalf("error = %v, want prefix %q", err, tc.wantErr)
			}
			if strings.Contains(tc.wantErr, "rate limit") && strings.Contains(err.Error(), "permissions:") {
				t.Errorf("a rate limit names a permission: %v", err)
			}
		})
	}
}
