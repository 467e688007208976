package github

import (
	"bytes"
	"context"
	"strings"

	gogithub "github.com/google/go-github/v60/github"
)

// PullRequest is the pull request a run reports to.
type PullRequest struct {
	Number int
	Fork   bool   // its head lives in another repository: the run's token is read-only
	Source string // "event" (the payload), "commit" (the PRs that hold the commit) or "branch" (a fork's branch)
}

// FindPullRequest finds the pull request a run belongs to: from the event
// payload for pull_request, pull_request_target and issue_comment (on a pull
// request) events, whose GITHUB_SHA is a merge commit no pull request holds;
// from the payload or else the head commit for workflow_run; from the commit
// for every other event. It returns nil when there is none. The answer for
// an event is remembered, so a run asks GitHub once (a failure is not).
func (g *Client) FindPullRequest(ctx context.Context, ev Event) (*PullRequest, error) {
	g.prMu.Lock()
	defer g.prMu.Unlock()
	for _, l := range g.prSeen {
		if l.ev.Name == ev.Name && l.ev.SHA == ev.SHA && bytes.Equal(l.ev.Payload, ev.Payload) {
			return l.pr, nil
		}
	}
	pr, err := g.findPullRequest(ctx, ev)
	if err == nil { // a failure is asked again
		g.prSeen = append(g.prSeen, prLookup{ev: ev, pr: pr})
	}
	return pr, err
}

func (g *Client) findPullRequest(ctx context.Context, ev Event) (*PullRequest, error) {
	p, err := ev.payload()
	if err != nil {
		return nil, err
	}
	sha := ev.SHA
	switch ev.Name {
	case "pull_request", "pull_request_target":
		if p.PullRequest == nil || p.PullRequest.Number == 0 {
			return nil, nil
		}
		head, base := p.PullRequest.Head.Repo, p.PullRequest.Base.Repo
		fork := head == nil || (base != nil && !strings.EqualFold(head.FullName, base.FullName))
		return &PullRequest{Number: p.PullRequest.Number, Fork: fork, Source: "event"}, nil
	case "issue_comment":
		if p.Issue == nil || len(p.Issue.PullRequest) == 0 || string(p.Issue.PullRequest) == "null" {
			return nil, nil // a comment on an issue, not on a pull request
		}
		return &PullRequest{Number: p.Issue.Number, Source: "event"}, nil
	case "workflow_run":
		if wr := p.WorkflowRun; wr != nil {
			fork := wr.HeadRepository != nil && wr.Repository != nil && !strings.EqualFold(wr.HeadRepository.FullName, wr.Repository.FullName)
			if len(wr.PullRequests) > 0 {
				return &PullRequest{Number: wr.PullRequests[0].Number, Fork: fork, Source: "event"}, nil
			}
			// GitHub leaves pull_requests empty for forks: look the head
			// commit up, and since a fork's commit is not in this repository,
			// the open pull requests of the fork's branch.
			if wr.HeadSHA != "" {
				pr, err := g.pullRequestForCommit(ctx, wr.HeadSHA)
				if err != nil || pr != nil {
					return pr, err
				}
				if wr.HeadRepository == nil || wr.HeadRepository.Owner.Login == "" || wr.HeadBranch == "" {
					return nil, nil
				}
				return g.pullRequestForBranch(ctx, wr.HeadRepository.Owner.Login+":"+wr.HeadBranch, wr.HeadSHA, fork)
			}
		}
	}
	if sha == "" {
		return nil, nil
	}
	return g.pullRequestForCommit(ctx, sha)
}

// pullRequestForCommit prefers an open pull request whose head is the
// commit, then any open one, then the merged pull request whose merge commit
// it is (a push to the default branch after the merge).
func (g *Client) pullRequestForCommit(ctx context.Context, sha string) (*PullRequest, error) {
	prs, _, err := g.c.PullRequests.ListPullRequestsWithCommit(ctx, g.owner, g.repo, sha, &gogithub.ListOptions{PerPage: 100})
	if err != nil {
		return nil, apiError("list the pull requests of commit "+ShortSHA(sha), err)
	}
	var open, head, merged *gogithub.PullRequest
	for _, pr := range prs {
		switch {
		case pr.GetState() == "open" && pr.GetHead().GetSHA() == sha && head == nil:
			head = pr
		case pr.GetState() == "open" && open == nil:
			open = pr
		case pr.MergedAt != nil && pr.GetMergeCommitSHA() == sha && merged == nil:
			merged = pr
		}
	}
	for _, pr := range []*gogithub.PullRequest{head, open, merged} {
		if pr != nil {
			fork := pr.GetHead().GetRepo().GetFullName() != "" && !strings.EqualFold(pr.GetHead().GetRepo().GetFullName(), pr.GetBase().GetRepo().GetFullName())
			return &PullRequest{Number: pr.GetNumber(), Fork: fork, Source: "commit"}, nil
		}
	}
	return nil, nil
}

// pullRequestForBranch finds the open pull request from head ("owner:branch")
// whose head is the commit.
func (g *Client) pullRequestForBranch(ctx context.Context, head, sha string, fork bool) (*PullRequest, error) {
	prs, _, err := g.c.PullRequests.List(ctx, g.owner, g.repo, &gogithub.PullRequestListOptions{
		State: "open", Head: head, ListOptions: gogithub.ListOptions{PerPage: 100},
	})
	if err != nil {
		return nil, apiError("list the pull requests of "+head, err)
	}
	for _, pr := range prs {
		if pr.GetHead().GetSHA() == sha {
			return &PullRequest{Number: pr.GetNumber(), Fork: fork, Source: "branch"}, nil
		}
	}
	return nil, nil
}

// ShortSHA is a commit SHA as people read it: its first 12 characters.
func ShortSHA(s string) string {
	if len(s) > 12 {
		return s[:12]
	}
	return s
}
