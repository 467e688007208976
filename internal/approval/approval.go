// Package approval checks the approvals a policy requires against GitHub:
// reviews of the workflow run's deployment environment, and approving reviews
// of the pull request that brought the commit.
package approval

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"github.com/google/go-github/v60/github"

	"github.com/mlreg/mlreg-action/internal/checks"
)

// Checker implements checks.ApprovalChecker for one workflow run.
type Checker struct {
	GH    *github.Client
	Owner string
	Repo  string
	RunID int64
	Actor string
	// Environment, when set, counts only approvals of that deployment
	// environment; otherwise approvals of any environment of the run count.
	Environment string
	// PullRequest finds the pull request that brought the commit (0 = none).
	PullRequest func(ctx context.Context) (int, error)
}

var _ checks.ApprovalChecker = (*Checker)(nil)

// Approvals implements checks.ApprovalChecker.
func (c *Checker) Approvals(ctx context.Context, q checks.ApprovalQuery) (checks.ApprovalResult, error) {
	switch q.Kind {
	case checks.ApprovalEnvironmentReviews:
		return c.environmentReviews(ctx)
	case checks.ApprovalPullRequestReviews:
		return c.pullRequestReviews(ctx, q.ExcludeActor)
	}
	return checks.ApprovalResult{}, fmt.Errorf("failed to check approvals: unknown kind %q", q.Kind)
}

// environmentApproval is one entry of GET /repos/{owner}/{repo}/actions/runs/{run_id}/approvals
// (operation actions/get-reviews-for-run), which go-github v60 has no method for.
type environmentApproval struct {
	State        string `json:"state"` // approved, rejected
	Comment      string `json:"comment"`
	Environments []struct {
		Name string `json:"name"`
	} `json:"environments"`
	User struct {
		Login string `json:"login"`
	} `json:"user"`
}

func (c *Checker) environmentReviews(ctx context.Context) (checks.ApprovalResult, error) {
	if c.RunID == 0 {
		return checks.ApprovalResult{Detail: "not in a GitHub Actions run"}, nil
	}
	u := fmt.Sprintf("repos/%s/%s/actions/runs/%d/approvals", c.Owner, c.Repo, c.RunID)
	req, err := c.GH.NewRequest("GET", u, nil)
	if err != nil {
		return checks.ApprovalResult{}, fmt.Errorf("failed to build approvals request: %w", err)
	}
	var reviews []environmentApproval
	if _, err := c.GH.Do(ctx, req, &reviews); err != nil {
		return checks.ApprovalResult{}, fmt.Errorf("failed to list environment approvals of run %d: %w", c.RunID, err)
	}
	seen := map[string]bool{}
	envs := map[string]bool{}
	for _, r := range reviews {
		if r.State != "approved" {
			continue
		}
		for _, e := range r.Environments {
			if c.Environment == "" || strings.EqualFold(e.Name, c.Environment) {
				seen[r.User.Login] = true
				envs[e.Name] = true
			}
		}
	}
	detail := fmt.Sprintf("workflow run %d", c.RunID)
	if c.Environment != "" {
		detail += ", environment " + c.Environment
	} else if len(envs) > 0 {
		detail += ", environment " + strings.Join(sortedKeys(envs), ", ")
	}
	return checks.ApprovalResult{Count: len(seen), Approvers: sortedKeys(seen), Detail: detail}, nil
}

func (c *Checker) pullRequestReviews(ctx context.Context, excludeActor bool) (checks.ApprovalResult, error) {
	if c.PullRequest == nil {
		return checks.ApprovalResult{Detail: "no pull request"}, nil
	}
	n, err := c.PullRequest(ctx)
	if err != nil {
		return checks.ApprovalResult{}, fmt.Errorf("failed to find the pull request of the commit: %w", err)
	}
	if n == 0 {
		return checks.ApprovalResult{Detail: "the commit belongs to no pull request"}, nil
	}
	// A reviewer's latest review counts: an approval later dismissed or
	// followed by "changes requested" is not an approval.
	latest := map[string]string{}
	opts := &github.ListOptions{PerPage: 100}
	for {
		page, resp, err := c.GH.PullRequests.ListReviews(ctx, c.Owner, c.Repo, n, opts)
		if err != nil {
			return checks.ApprovalResult{}, fmt.Errorf("failed to list reviews of pull request #%d: %w", n, err)
		}
		for _, r := range page {
			login := r.GetUser().GetLogin()
			switch st := r.GetState(); st {
			case "APPROVED", "CHANGES_REQUESTED", "DISMISSED":
				latest[login] = st
			}
		}
		if resp.NextPage == 0 {
			break
		}
		opts.Page = resp.NextPage
	}
	approvers := map[string]bool{}
	for login, st := range latest {
		if st == "APPROVED" && !(excludeActor && strings.EqualFold(login, c.Actor)) {
			approvers[login] = true
		}
	}
	detail := fmt.Sprintf("pull request #%d", n)
	if excludeActor && c.Actor != "" {
		detail += ", not counting " + c.Actor
	}
	return checks.ApprovalResult{Count: len(approvers), Approvers: sortedKeys(approvers), Detail: detail}, nil
}

func sortedKeys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
