package github

import (
	"context"
	"fmt"
	"strings"

	gogithub "github.com/google/go-github/v60/github"
)

// EnvironmentApproval is one review of a workflow run's deployment
// environments (a required reviewer approving or rejecting the job).
type EnvironmentApproval struct {
	User         string
	State        string // approved, rejected
	Environments []string
}

// Review is one review of a pull request.
type Review struct {
	User  string
	State string // APPROVED, CHANGES_REQUESTED, COMMENTED, DISMISSED, PENDING
}

// runApproval is an entry of GET /repos/{owner}/{repo}/actions/runs/{run_id}/approvals
// (operation actions/get-reviews-for-run), for which go-github v60 has no method.
type runApproval struct {
	State        string `json:"state"`
	Environments []struct {
		Name string `json:"name"`
	} `json:"environments"`
	User struct {
		Login string `json:"login"`
	} `json:"user"`
}

// RunApprovals lists the environment reviews of a workflow run. The token
// needs `actions: read`.
func (g *Client) RunApprovals(ctx context.Context, runID int64) ([]EnvironmentApproval, error) {
	u := fmt.Sprintf("repos/%s/%s/actions/runs/%d/approvals", g.owner, g.repo, runID)
	req, err := g.c.NewRequest("GET", u, nil)
	if err != nil {
		return nil, fmt.Errorf("failed to build the approvals request: %w", err)
	}
	var page []runApproval
	if _, err := g.c.Do(ctx, req, &page); err != nil {
		return nil, g.permissionHint(apiError(fmt.Sprintf("list the environment approvals of workflow run %d", runID), err), "actions: read")
	}
	out := make([]EnvironmentApproval, 0, len(page))
	for _, a := range page {
		e := EnvironmentApproval{User: a.User.Login, State: a.State}
		for _, env := range a.Environments {
			e.Environments = append(e.Environments, env.Name)
		}
		out = append(out, e)
	}
	return out, nil
}

// PullRequestReviews lists every review of a pull request, oldest first. The
// token needs `pull-requests: read`.
func (g *Client) PullRequestReviews(ctx context.Context, number int) ([]Review, error) {
	var out []Review
	opts := &gogithub.ListOptions{PerPage: 100}
	for {
		page, resp, err := g.c.PullRequests.ListReviews(ctx, g.owner, g.repo, number, opts)
		if err != nil {
			return nil, g.permissionHint(apiError(fmt.Sprintf("list the reviews of pull request #%d", number), err), "pull-requests: read")
		}
		for _, r := range page {
			out = append(out, Review{User: r.GetUser().GetLogin(), State: strings.ToUpper(r.GetState())})
		}
		if resp.NextPage == 0 {
			return out, nil
		}
		opts.Page = resp.NextPage
	}
}

// permissionHint names the permission a 403 "not accessible" lacks.
func (g *Client) permissionHint(err error, permission string) error {
	if IsNotAccessible(err) {
		return fmt.Errorf("%w (the job's token needs `permissions: %s`)", err, permission)
	}
	return err
}
