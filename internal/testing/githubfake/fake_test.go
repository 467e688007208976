package githubfake_test

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-github/v60/github"

	"github.com/mlreg/mlreg-action/internal/testing/githubfake"
)

const sha = "0123456789abcdef0123456789abcdef01234567"

func client(t *testing.T, f *githubfake.Server) *github.Client {
	t.Helper()
	c := github.NewClient(nil).WithAuthToken(f.Token())
	u, err := url.Parse(f.URL() + "/")
	if err != nil {
		t.Fatal(err)
	}
	c.BaseURL = u
	return c
}

func TestSpecHoldsExactlyTheOperations(t *testing.T) {
	t.Parallel()
	doc, err := githubfake.LoadSpec()
	if err != nil {
		t.Fatal(err)
	}
	want := slices.Clone(githubfake.Operations)
	slices.Sort(want)
	if diff := cmp.Diff(want, githubfake.SpecOperations(doc)); diff != "" {
		t.Errorf("operations in %s (-Operations +description); run scripts/gen-github-openapi.sh:\n%s", githubfake.SpecPath, diff)
	}
	src, _ := doc.Info.Extensions["x-mlreg-source"].(string)
	if !strings.HasPrefix(src, "@octokit/openapi@") {
		t.Errorf("info.x-mlreg-source = %q, want the pinned @octokit/openapi version", src)
	}
}

// Every operation answers with responses that GitHub's description accepts
// (the fake fails the test otherwise), and keeps state across calls.
func TestEveryOperation(t *testing.T) {
	t.Parallel()
	f := githubfake.New(t, githubfake.Options{})
	c := client(t, f)
	ctx := t.Context()

	f.AddPullRequest(githubfake.PullRequest{Number: 7, HeadSHA: sha, Title: "better model"})
	prs, _, err := c.PullRequests.ListPullRequestsWithCommit(ctx, "acme", "models", sha, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(prs) != 1 || prs[0].GetNumber() != 7 || prs[0].GetHead().GetSHA() != sha {
		t.Errorf("pull requests = %v", prs)
	}

	cm, _, err := c.Issues.CreateComment(ctx, "acme", "models", 7, &github.IssueComment{Body: github.String("hello")})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := c.Issues.EditComment(ctx, "acme", "models", cm.GetID(), &github.IssueComment{Body: github.String("edited")}); err != nil {
		t.Fatal(err)
	}
	list, _, err := c.Issues.ListComments(ctx, "acme", "models", 7, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 1 || list[0].GetBody() != "edited" || list[0].GetUser().GetLogin() != githubfake.BotLogin {
		t.Errorf("comments = %v", list)
	}

	d, _, err := c.Repositories.CreateDeployment(ctx, "acme", "models", &github.DeploymentRequest{
		Ref: github.String(sha), Environment: github.String("m@champion"), RequiredContexts: &[]string{},
		AutoMerge: github.Bool(false), Payload: map[string]any{"version": "3"},
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := c.Repositories.CreateDeploymentStatus(ctx, "acme", "models", d.GetID(), &github.DeploymentStatusRequest{
		State: github.String("success"), LogURL: github.String("https://github.com/acme/models/actions/runs/1"),
	}); err != nil {
		t.Fatal(err)
	}
	ds, _, err := c.Repositories.ListDeployments(ctx, "acme", "models", &github.DeploymentsListOptions{Environment: "m@champion"})
	if err != nil {
		t.Fatal(err)
	}
	if len(ds) != 1 || ds[0].GetID() != d.GetID() {
		t.Errorf("deployments = %v", ds)
	}

	f.AddReview(7, githubfake.Review{User: "alice", State: "APPROVED", CommitID: sha})
	reviews, _, err := c.PullRequests.ListReviews(ctx, "acme", "models", 7, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(reviews) != 1 || reviews[0].GetUser().GetLogin() != "alice" || reviews[0].GetState() != "APPROVED" {
		t.Errorf("reviews = %v", reviews)
	}

	// go-github v60 has no method for actions/get-reviews-for-run.
	f.AddRunApproval(4242, githubfake.Approval{User: "bob", State: "approved", Environments: []string{"production"}, Comment: "ship it"})
	req, err := c.NewRequest(http.MethodGet, "repos/acme/models/actions/runs/4242/approvals", nil)
	if err != nil {
		t.Fatal(err)
	}
	var approvals []struct {
		State string `json:"state"`
		User  struct {
			Login string `json:"login"`
		} `json:"user"`
		Environments []struct {
			Name string `json:"name"`
		} `json:"environments"`
	}
	if _, err := c.Do(ctx, req, &approvals); err != nil {
		t.Fatal(err)
	}
	if len(approvals) != 1 || approvals[0].User.Login != "bob" || approvals[0].Environments[0].Name != "production" {
		t.Errorf("approvals = %+v", approvals)
	}

	open, _, err := c.PullRequests.List(ctx, "acme", "models", &github.PullRequestListOptions{Head: "acme:feature"})
	if err != nil {
		t.Fatal(err)
	}
	if len(open) != 1 || open[0].GetNumber() != 7 {
		t.Errorf("open pull requests of acme:feature = %v", open)
	}

	want := []string{
		"actions/get-reviews-for-run=1", "issues/create-comment=1", "issues/list-comments=1", "issues/update-comment=1",
		"pulls/list-reviews=1", "pulls/list=1", "repos/create-deployment-status=1", "repos/create-deployment=1", "repos/list-deployments=1",
		"repos/list-pull-requests-associated-with-commit=1",
	}
	if diff := cmp.Diff(want, f.Summary()); diff != "" {
		t.Errorf("calls (-want +got):\n%s", diff)
	}
}

func TestListCommentsPaginates(t *testing.T) {
	t.Parallel()
	f := githubfake.New(t, githubfake.Options{})
	for i := range 35 {
		f.AddComment(3, "someone", fmt.Sprintf("comment %d", i))
	}
	c := client(t, f)
	opts := &github.IssueListCommentsOptions{ListOptions: github.ListOptions{PerPage: 20}}
	var all []*github.IssueComment
	for {
		page, resp, err := c.Issues.ListComments(t.Context(), "acme", "models", 3, opts)
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, page...)
		if resp.NextPage == 0 {
			break
		}
		opts.Page = resp.NextPage
	}
	if len(all) != 35 || f.Count("issues/list-comments") != 2 {
		t.Errorf("got %d comments in %d calls, want 35 in 2", len(all), f.Count("issues/list-comments"))
	}
}

// recorder stands in for a test so that the fake's own failures can be checked.
type recorder struct {
	testing.TB
	mu   sync.Mutex
	errs []string
}

func (r *recorder) Errorf(format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.errs = append(r.errs, fmt.Sprintf(format, args...))
}

func (r *recorder) errors() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.errs)
}

// The fake fails the test when the action calls an operation outside the
// subset, sends a request the description rejects, or leaves the base path.
func TestViolationsFailTheTest(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name   string
		method string
		path   string
		body   string
		status int
		want   string
	}{
		{"operation outside the subset", http.MethodGet, "/api/v3/repos/acme/models/issues", "", 404, "not an operation of the trimmed description"},
		{"delete a comment is outside too", http.MethodDelete, "/api/v3/repos/acme/models/issues/comments/1", "", 404, "not an operation"},
		{"request body the description rejects", http.MethodPost, "/api/v3/repos/acme/models/issues/1/comments", `{"text":"x"}`, 422, "does not match GitHub's description of issues/create-comment"},
		{"wrong type", http.MethodPost, "/api/v3/repos/acme/models/deployments", `{"ref":"main","auto_merge":"no"}`, 422, "repos/create-deployment"},
		{"bad state", http.MethodPost, "/api/v3/repos/acme/models/deployments/1/statuses", `{"state":"done"}`, 422, "repos/create-deployment-status"},
		{"absolute path without the base path", http.MethodGet, "/repos/acme/models/issues/1/comments", "", 404, "outside the API base path"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			rec := &recorder{TB: t}
			f := githubfake.New(rec, githubfake.Options{})
			base := strings.TrimSuffix(f.URL(), githubfake.Prefix)
			req, err := http.NewRequestWithContext(t.Context(), tc.method, base+tc.path, strings.NewReader(tc.body))
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("Authorization", "Bearer "+f.Token())
			if tc.body != "" {
				req.Header.Set("Content-Type", "application/json")
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != tc.status {
				t.Errorf("status %d, want %d", resp.StatusCode, tc.status)
			}
			errs := rec.errors()
			if len(errs) != 1 || !strings.Contains(errs[0], tc.want) {
				t.Errorf("test failures = %q, want one containing %q", errs, tc.want)
			}
		})
	}
}

func TestTokenIsChecked(t *testing.T) {
	t.Parallel()
	f := githubfake.New(t, githubfake.Options{})
	c := github.NewClient(nil).WithAuthToken("wrong")
	c.BaseURL, _ = url.Parse(f.URL() + "/")
	_, resp, err := c.Issues.ListComments(t.Context(), "acme", "models", 1, nil)
	if err == nil || resp == nil || resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("err = %v, want 401", err)
	}
}

func TestFaultsAndReadOnly(t *testing.T) {
	t.Parallel()
	f := githubfake.New(t, githubfake.Options{ReadOnly: true})
	c := client(t, f)
	_, resp, err := c.Issues.CreateComment(t.Context(), "acme", "models", 1, &github.IssueComment{Body: github.String("x")})
	if err == nil || resp.StatusCode != http.StatusForbidden || !strings.Contains(err.Error(), "Resource not accessible by integration") {
		t.Errorf("read-only create: err = %v", err)
	}
	if _, _, err := c.Issues.ListComments(t.Context(), "acme", "models", 1, nil); err != nil {
		t.Errorf("read-only list: %v", err)
	}

	f.Fail("issues/list-comments", githubfake.RateLimited(http.StatusForbidden, 0))
	_, _, err = c.Issues.ListComments(t.Context(), "acme", "models", 1, nil)
	var rl *github.RateLimitError
	if !errors.As(err, &rl) {
		t.Errorf("err = %T %v, want *github.RateLimitError", err, err)
	}
}

// Marking a success inactivates earlier successful deployments of the same
// environment, except production ones, as GitHub documents auto_inactive.
func TestAutoInactive(t *testing.T) {
	t.Parallel()
	f := githubfake.New(t, githubfake.Options{})
	c := client(t, f)
	ctx := t.Context()
	deploy := func(env string, prod bool) int64 {
		d, _, err := c.Repositories.CreateDeployment(ctx, "acme", "models", &github.DeploymentRequest{
			Ref: github.String(sha), Environment: github.String(env), ProductionEnvironment: github.Bool(prod), RequiredContexts: &[]string{},
		})
		if err != nil {
			t.Fatal(err)
		}
		if _, _, err := c.Repositories.CreateDeploymentStatus(ctx, "acme", "models", d.GetID(), &github.DeploymentStatusRequest{State: github.String("success")}); err != nil {
			t.Fatal(err)
		}
		return d.GetID()
	}
	deploy("m@staging", false)
	deploy("m@champion", true)
	deploy("m@staging", false)
	deploy("m@champion", true)
	var got []string
	for _, d := range f.Deployments() {
		got = append(got, d.Environment+" "+d.State())
	}
	want := []string{"m@staging inactive", "m@champion success", "m@staging success", "m@champion success"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("states (-want +got):\n%s", diff)
	}
}

// A canned response that GitHub's description rejects fails the test too.
func TestInvalidCannedResponseFailsTheTest(t *testing.T) {
	t.Parallel()
	rec := &recorder{TB: t}
	f := githubfake.New(rec, githubfake.Options{})
	f.Fail("issues/create-comment", githubfake.Fault{Status: http.StatusCreated, Body: map[string]any{"id": "not-a-number"}})
	c := client(t, f)
	_, _, _ = c.Issues.CreateComment(t.Context(), "acme", "models", 1, &github.IssueComment{Body: github.String("x")})
	errs := rec.errors()
	if len(errs) != 1 || !strings.Contains(errs[0], "response 201 to issues/create-comment does not match") {
		t.Errorf("test failures = %q", errs)
	}
}
