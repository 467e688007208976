package action

// Output describes one output of the action. action.yml declares the same set
// with the same descriptions, and contract_test.go checks that the commands set
// no output outside it.
type Output struct {
	Name string
	Desc string
}

// Outputs is every output the binary may set, in action.yml's order.
var Outputs = []Output{
	{Name: "verdict", Desc: "pass, fail or skipped (policy: none)"},
	{Name: "model-version", Desc: "The candidate version"},
	{Name: "previous-version", Desc: "The version that held the target before (empty when none)"},
	{Name: "changed", Desc: "false when nothing changed (dry run, validate, or already in place)"},
	{Name: "model-uri", Desc: "models:/<name>/<version>, or prompts:/<name>/<version> for a prompt"},
	{Name: "alias-uri", Desc: "models:/<name>@<alias>, or prompts:/<name>@<alias> for a prompt"},
	{Name: "plan-digest", Desc: "sha256 over the plan's canonical JSON (policy digest included)"},
	{Name: "report-path", Desc: "Path of the JSON report, relative to the workspace"},
	{Name: "deployment-id", Desc: "GitHub deployment id (empty when none was created)"},
	{Name: "comment-id", Desc: "Pull request comment id (empty when none)"},
	{Name: "slack-ts", Desc: "Slack message timestamp (empty when none)"},
	{Name: "drift", Desc: "history: true when the target's holder is not the last recorded one"},
	{Name: "notify-errors", Desc: "Notification failures, one per line (empty when all succeeded)"},
	{Name: "changes", Desc: "With manifest: JSON array of {model, target, from, to, verdict, outcome}, one per entry that differs from the registry"},
}
