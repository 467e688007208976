// Package approval checks the approvals a policy requires against GitHub:
// reviews of the workflow run's deployment environments (required
// reviewers), and approving reviews of the pull request that brought the
// commit. What it finds is evidence in the plan and, through the checks'
// approvers, part of the audit record.
package approval

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/mlreg/mlreg-action/internal/checks"
	"github.com/mlreg/mlreg-action/internal/github"
)

// GitHub is the part of GitHub's API the checks read; *github.Client has it.
type GitHub interface {
	RunApprovals(ctx context.Context, runID int64) ([]github.EnvironmentApproval, error)
	PullRequestReviews(ctx context.Context, number int) ([]github.Review, error)
	FindPullRequest(ctx context.Context, ev github.Event) (*github.PullRequest, error)
}

var _ GitHub = (*github.Client)(nil)

// Checker implements checks.ApprovalChecker for one workflow run.
type Checker struct {
	GH    GitHub
	RunID int64  // GITHUB_RUN_ID; 0 outside a workflow run
	Actor string // GITHUB_ACTOR, for exclude-actor
	Event github.Event
}

var _ checks.ApprovalChecker = (*Checker)(nil)

// Approvals implements checks.ApprovalChecker.
func (c *Checker) Approvals(ctx context.Context, q checks.ApprovalQuery) (checks.ApprovalResult, error) {
	switch q.Kind {
	case checks.ApprovalEnvironmentReviews:
		return c.environmentReviews(ctx, q.Environment)
	case checks.ApprovalPullRequestReviews:
		return c.pullRequestReviews(ctx, q.ExcludeActor)
	}
	return checks.ApprovalResult{}, fmt.Errorf("failed to check approvals: unknown kind %q", q.Kind)
}

// environmentReviews counts the distinct reviewers who approved the run's
// jobs for environment (any environment of the run when it is "").
func (c *Checker) environmentReviews(ctx context.Context, environment string) (checks.ApprovalResult, error) {
	if c.RunID == 0 {
		return checks.ApprovalResult{Detail: "not in a GitHub Actions run"}, nil
	}
	reviews, err := c.GH.RunApprovals(ctx, c.RunID)
	if err != nil {
		return checks.ApprovalResult{}, fmt.Errorf("failed to check environment reviews: %w", err)
	}
	approvers, envs := map[string]bool{}, map[string]bool{}
	for _, r := range reviews {
		if r.State != "approved" {
			continue
		}
		for _, e := range r.Environments {
			if environment == "" || strings.EqualFold(e, environment) {
				approvers[r.User] = true
				envs[e] = true
			}
		}
	}
	detail := fmt.Sprintf("workflow run %d", c.RunID)
	switch {
	case environment != "":
		detail += ", environment " + environment
	case len(envs) > 0:
		detail += ", environment " + strings.Join(sorted(envs), ", ")
	}
	return checks.ApprovalResult{Count: len(approvers), Approvers: sorted(approvers), Detail: detail}, nil
}

// pullRequestReviews counts the reviewers whose latest review of the pull
// request that brought the commit approves it: an approval later dismissed
// or followed by "changes requested" is not an approval; comments change
// nothing.
func (c *Checker) pullRequestReviews(ctx context.Context, excludeActor bool) (checks.ApprovalResult, error) {
	pr, err := c.GH.FindPullRequest(ctx, c.Event)
	if err != nil {
		return checks.ApprovalResult{}, fmt.Errorf("failed to find the pull request of the commit: %w", err)
	}
	if pr == nil {
		return checks.ApprovalResult{Detail: "the commit belongs to no pull request"}, nil
	}
	reviews, err := c.GH.PullRequestReviews(ctx, pr.Number)
	if err != nil {
		return checks.ApprovalResult{}, fmt.Errorf("failed to check pull request reviews: %w", err)
	}
	latest := map[string]string{}
	for _, r := range reviews {
		switch r.State {
		case "APPROVED", "CHANGES_REQUESTED", "DISMISSED":
			latest[r.User] = r.State
		}
	}
	approvers := map[string]bool{}
	excluded := false
	for login, st := range latest {
		if st != "APPROVED" {
			continue
		}
		if excludeActor && strings.EqualFold(login, c.Actor) {
			excluded = true
			continue
		}
		approvers[login] = true
	}
	detail := fmt.Sprintf("pull request #%d", pr.Number)
	if excluded {
		detail += ", not counting " + c.Actor + " (the actor)"
	}
	return checks.ApprovalResult{Count: len(approvers), Approvers: sorted(approvers), Detail: detail}, nil
}

func sorted(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}
