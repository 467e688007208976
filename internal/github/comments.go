package github

import (
	"context"
	"fmt"
	"strings"

	gogithub "github.com/google/go-github/v60/github"
)

// Comment is a pull request comment the report wrote.
type Comment struct {
	ID     int64
	URL    string
	Action string // created, updated, unchanged
}

// maxCommentPages bounds the search for the marker (100 comments a page).
const maxCommentPages = 30

// UpsertComment writes body as the pull request's comment that starts with
// marker: edited in place when it exists (left alone when unchanged),
// created otherwise.
func (g *Client) UpsertComment(ctx context.Context, number int, marker, body string) (*Comment, error) {
	opts := &gogithub.IssueListCommentsOptions{ListOptions: gogithub.ListOptions{PerPage: 100}}
	var found *gogithub.IssueComment
	for page := 0; page < maxCommentPages && found == nil; page++ {
		cs, resp, err := g.c.Issues.ListComments(ctx, g.owner, g.repo, number, opts)
		if err != nil {
			return nil, apiError(fmt.Sprintf("list the comments of pull request #%d", number), err)
		}
		for _, c := range cs {
			if strings.HasPrefix(c.GetBody(), marker) {
				found = c
				break
			}
		}
		if resp.NextPage == 0 {
			break
		}
		opts.Page = resp.NextPage
	}
	if found != nil {
		if found.GetBody() == body {
			return &Comment{ID: found.GetID(), URL: found.GetHTMLURL(), Action: "unchanged"}, nil
		}
		c, _, err := g.c.Issues.EditComment(ctx, g.owner, g.repo, found.GetID(), &gogithub.IssueComment{Body: gogithub.String(body)})
		if err != nil {
			return nil, apiError(fmt.Sprintf("update comment %d on pull request #%d", found.GetID(), number), err)
		}
		return &Comment{ID: c.GetID(), URL: c.GetHTMLURL(), Action: "updated"}, nil
	}
	c, _, err := g.c.Issues.CreateComment(ctx, g.owner, g.repo, number, &gogithub.IssueComment{Body: gogithub.String(body)})
	if err != nil {
		return nil, apiError(fmt.Sprintf("comment on pull request #%d", number), err)
	}
	return &Comment{ID: c.GetID(), URL: c.GetHTMLURL(), Action: "created"}, nil
}
