package githubfake

// Operations are the GitHub REST operations mlreg-action may call; the trimmed
// description under testdata/github holds exactly these, and the fake answers
// nothing else.
var Operations = []string{
	"issues/list-comments",
	"issues/create-comment",
	"issues/update-comment",
	"repos/list-pull-requests-associated-with-commit",
	// The open pull requests of a fork's branch: a workflow_run of a fork's
	// pull request has no pull_requests in its payload, and its head commit
	// is not in this repository.
	"pulls/list",
	"repos/create-deployment",
	"repos/create-deployment-status",
	"repos/list-deployments",
	// For the approval gate (policy "approval:"): environment reviews of a
	// workflow run, and the reviews of a pull request.
	"actions/get-reviews-for-run",
	"pulls/list-reviews",
}
