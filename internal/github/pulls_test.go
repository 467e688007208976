package github_test

import (
	"fmt"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/mlreg/mlreg-action/internal/github"
	"github.com/mlreg/mlreg-action/internal/testing/githubfake"
)

func prEvent(number int, fork bool) github.Event {
	head := "acme/models"
	if fork {
		head = "contributor/models"
	}
	payload := fmt.Sprintf(`{"action":"synchronize","number":%d,"pull_request":{"number":%d,"head":{"sha":%q,"repo":{"full_name":%q}},"base":{"repo":{"full_name":"acme/models"}}}}`,
		number, number, headSHA, head)
	return github.Event{Name: "pull_request", Payload: []byte(payload), SHA: mergeSHA}
}

func TestFindPullRequest(t *testing.T) {
	t.Parallel()
	forkRun := `{"workflow_run":{"head_sha":"` + headSHA + `","head_branch":"better-model","pull_requests":[],` +
		`"head_repository":{"full_name":"contributor/models","owner":{"login":"contributor"}},"repository":{"full_name":"acme/models"}}}`
	cases := []struct {
		name    string
		pulls   []githubfake.PullRequest
		ev      github.Event
		want    *github.PullRequest
		wantOps []string
	}{
		{
			name: "pull_request: the payload, not the merge commit",
			ev:   prEvent(7, false),
			want: &github.PullRequest{Number: 7, Source: "event"},
		},
		{
			name: "pull_request from a fork",
			ev:   prEvent(9, true),
			want: &github.PullRequest{Number: 9, Fork: true, Source: "event"},
		},
		{
			name:    "push of a pull request's head",
			pulls:   []githubfake.PullRequest{{Number: 3, State: "closed", HeadSHA: "x", MergeCommitSHA: "y", Merged: true, Commits: []string{headSHA}}, {Number: 4, HeadSHA: headSHA}},
			ev:      github.Event{Name: "push", SHA: headSHA},
			want:    &github.PullRequest{Number: 4, Source: "commit"},
			wantOps: []string{"repos/list-pull-requests-associated-with-commit=1"},
		},
		{
			name:    "push of the merge commit to the default branch",
			pulls:   []githubfake.PullRequest{{Number: 5, State: "closed", HeadSHA: headSHA, MergeCommitSHA: mergeSHA, Merged: true}},
			ev:      github.Event{Name: "push", SHA: mergeSHA},
			want:    &github.PullRequest{Number: 5, Source: "commit"},
			wantOps: []string{"repos/list-pull-requests-associated-with-commit=1"},
		},
		{
			name: "workflow_run of a fork: pull_requests is empty, the fork's branch finds it",
			pulls: []githubfake.PullRequest{
				{Number: 5, HeadRef: "better-model", HeadSHA: "3333333333333333333333333333333333333333", Fork: true, State: "closed"},
				{Number: 6, HeadRef: "better-model", HeadSHA: headSHA, Fork: true},
			},
			ev:      github.Event{Name: "workflow_run", SHA: mergeSHA, Payload: []byte(forkRun)},
			want:    &github.PullRequest{Number: 6, Fork: true, Source: "branch"},
			wantOps: []string{"pulls/list=1", "repos/list-pull-requests-associated-with-commit=1"},
		},
		{
			name:  "workflow_run of a branch in the repository: the head commit finds it",
			pulls: []githubfake.PullRequest{{Number: 14, HeadSHA: headSHA}},
			ev: github.Event{Name: "workflow_run", SHA: mergeSHA, Payload: []byte(`{"workflow_run":{"head_sha":"` + headSHA +
				`","head_branch":"feature","pull_requests":[],"head_repository":{"full_name":"acme/models","owner":{"login":"acme"}},"repository":{"full_name":"acme/models"}}}`)},
			want:    &github.PullRequest{Number: 14, Source: "commit"},
			wantOps: []string{"repos/list-pull-requests-associated-with-commit=1"},
		},
		{
			name: "workflow_run with its pull request",
			ev:   github.Event{Name: "workflow_run", SHA: mergeSHA, Payload: []byte(`{"workflow_run":{"head_sha":"` + headSHA + `","pull_requests":[{"number":8}]}}`)},
			want: &github.PullRequest{Number: 8, Source: "event"},
		},
		{
			name: "issue_comment on a pull request",
			ev:   github.Event{Name: "issue_comment", SHA: mergeSHA, Payload: []byte(`{"issue":{"number":12,"pull_request":{"url":"https://api.github.com/repos/acme/models/pulls/12"}}}`)},
			want: &github.PullRequest{Number: 12, Source: "event"},
		},
		{
			name: "issue_comment on an issue",
			ev:   github.Event{Name: "issue_comment", SHA: mergeSHA, Payload: []byte(`{"issue":{"number":13}}`)},
		},
		{
			name:    "a commit with no pull request",
			ev:      github.Event{Name: "workflow_dispatch", SHA: headSHA},
			wantOps: []string{"repos/list-pull-requests-associated-with-commit=1"},
		},
		{
			name: "no commit, no payload: nothing to ask",
			ev:   github.Event{Name: "workflow_dispatch"},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := githubfake.New(t, githubfake.Options{})
			for _, pr := range tc.pulls {
				f.AddPullRequest(pr)
			}
			got, err := newClient(t, f, nil).FindPullRequest(t.Context(), tc.ev)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("FindPullRequest() (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tc.wantOps, f.Summary(), cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("calls (-want +got):\n%s", diff)
			}
		})
	}
}

func TestFindPullRequestBadPayload(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name, payload, wantErr string
	}{
		{"a number as a string", `{"pull_request":{"number":"7"}}`,
			"failed to parse the event payload: pull_request.number is a JSON string, want a number"},
		{"not an object", `[1]`, "failed to parse the event payload: the payload is a JSON array, want an object"},
		{"not JSON", `{"pull_request":`, "failed to parse the event payload: unexpected end of JSON input"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := githubfake.New(t, githubfake.Options{})
			pr, err := newClient(t, f, nil).FindPullRequest(t.Context(), github.Event{Name: "pull_request", SHA: mergeSHA, Payload: []byte(tc.payload)})
			if err == nil || err.Error() != tc.wantErr {
				t.Errorf("FindPullRequest() = %+v, %v; want error %q", pr, err, tc.wantErr)
			}
			if n := len(f.Calls()); n != 0 {
				t.Errorf("%d calls to GitHub for a bad payload", n)
			}
		})
	}
}

// The approval check and the PR comment both need the run's pull request:
// GitHub is asked once, unless the first answer was a failure.
func TestFindPullRequestAsksOnce(t *testing.T) {
	t.Parallel()
	f := githubfake.New(t, githubfake.Options{})
	f.AddPullRequest(githubfake.PullRequest{Number: 4, HeadSHA: headSHA})
	f.Fail("repos/list-pull-requests-associated-with-commit", githubfake.NotAccessible("https://docs.github.com/rest"))
	gh := newClient(t, f, nil)
	ev := github.Event{Name: "push", SHA: headSHA}
	if _, err := gh.FindPullRequest(t.Context(), ev); err == nil {
		t.Fatal("FindPullRequest() succeeded on a 403")
	}
	for range 2 {
		pr, err := gh.FindPullRequest(t.Context(), ev)
		if err != nil || pr == nil || pr.Number != 4 {
			t.Fatalf("FindPullRequest() = %+v, %v; want #4", pr, err)
		}
	}
	if n := f.Count("repos/list-pull-requests-associated-with-commit"); n != 2 {
		t.Errorf("asked GitHub %d times, want 2 (the failure, then once)", n)
	}
	// Another event is another question.
	if pr, err := gh.FindPullRequest(t.Context(), github.Event{Name: "push", SHA: mergeSHA}); err != nil || pr != nil {
		t.Errorf("FindPullRequest(another commit) = %+v, %v; want none", pr, err)
	}
	if n := f.Count("repos/list-pull-requests-associated-with-commit"); n != 3 {
		t.Errorf("asked GitHub %d times, want 3", n)
	}
}
