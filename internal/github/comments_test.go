package github_test

import (
	"fmt"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/mlreg/mlreg-action/internal/github"
	"github.com/mlreg/mlreg-action/internal/testing/githubfake"
)

// UpsertComment finds its comment by the marker it starts with, past the
// first page of comments, and edits it only when the body changed.
func TestUpsertComment(t *testing.T) {
	t.Parallel()
	const marker = "<!-- mlreg-action model=fraud-model target=@champion -->"
	f := githubfake.New(t, githubfake.Options{})
	for i := range 120 {
		f.AddComment(7, "reviewer", fmt.Sprintf("comment %d", i))
	}
	other := f.AddComment(7, githubfake.BotLogin, "<!-- mlreg-action model=fraud-model target=stage:Production -->\nanother key")
	f.AddComment(8, githubfake.BotLogin, marker+"\nanother pull request")
	gh := newClient(t, f, nil)
	ctx := t.Context()

	first, err := gh.UpsertComment(ctx, 7, marker, marker+"\nv1")
	if err != nil {
		t.Fatal(err)
	}
	again, err := gh.UpsertComment(ctx, 7, marker, marker+"\nv1")
	if err != nil {
		t.Fatal(err)
	}
	edited, err := gh.UpsertComment(ctx, 7, marker, marker+"\nv2")
	if err != nil {
		t.Fatal(err)
	}
	got := []github.Comment{*first, *again, *edited}
	url := func(id int64) string {
		return fmt.Sprintf("https://github.com/acme/models/pull/7#issuecomment-%d", id)
	}
	want := []github.Comment{
		{ID: first.ID, URL: url(first.ID), Action: "created"},
		{ID: first.ID, URL: url(first.ID), Action: "unchanged"},
		{ID: first.ID, URL: url(first.ID), Action: "updated"},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("UpsertComment() (-want +got):\n%s", diff)
	}
	comments := f.Comments(7)
	if len(comments) != 122 {
		t.Fatalf("%d comments on #7, want 122", len(comments))
	}
	if c := comments[121]; c.ID != first.ID || c.Body != marker+"\nv2" {
		t.Errorf("our comment is %d %q", c.ID, c.Body)
	}
	if c := comments[120]; c.ID != other || c.Body != "<!-- mlreg-action model=fraud-model target=stage:Production -->\nanother key" {
		t.Errorf("another key's comment changed: %q", c.Body)
	}
	if c := f.Comments(8); len(c) != 1 || c[0].Body != marker+"\nanother pull request" {
		t.Errorf("another pull request's comments changed: %+v", c)
	}
	// Two pages a search (122 comments, 100 a page), three searches.
	wantOps := []string{"issues/create-comment=1", "issues/list-comments=6", "issues/update-comment=1"}
	if diff := cmp.Diff(wantOps, f.Summary()); diff != "" {
		t.Errorf("calls (-want +got):\n%s", diff)
	}
}
