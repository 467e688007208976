package action

import (
	"fmt"
	"strings"
)

// Input describes one input of the action: action.yml declares the same set
// (a test keeps the two in step), and the CLI has a flag of the same name.
type Input struct {
	Name    string
	Default string
	Env     []string // environment variables used when the input is empty, in order
	Secret  bool     // masked before anything is printed
	Bool    bool     // a flag that may be given without a value
	Desc    string
}

// Inputs is every input the binary reads.
var Inputs = []Input{
	commandInput(),
	{Name: "model-name", Desc: "Registered model name (required, unless manifest is set)"},
	{Name: "version", Desc: "Candidate version: a number, latest (highest version number) or @alias; default latest for validate and promote"},
	{Name: "target-alias", Desc: "Alias to move to the candidate, e.g. champion"},
	{Name: "target-stage", Desc: "Legacy stage to move the candidate to: Staging, Production, Archived or None (case-insensitive)"},
	{Name: "archive-existing", Default: "true", Bool: true, Desc: "Stage: archive the versions that held the stage. Alias: mark the previous holder in its tags"},
	{Name: "policy", Default: ".github/mlreg-policy.yml", Desc: "Policy file; none promotes without checks (loud warning). A missing file is an error"},
	{Name: "dry-run", Default: "false", Bool: true, Desc: "Plan and report, change nothing"},
	{Name: "expected-current-version", Desc: "Compare-and-set: apply only if the target is still held by this version (none = unheld)"},
	{Name: "tracking-uri", Env: []string{"MLFLOW_TRACKING_URI"}, Desc: "MLflow server URL; default $MLFLOW_TRACKING_URI"},
	{Name: "mlflow-token", Env: []string{"MLFLOW_TRACKING_TOKEN", "DATABRICKS_TOKEN"}, Secret: true, Desc: "Bearer token; default $MLFLOW_TRACKING_TOKEN (or $DATABRICKS_TOKEN)"},
	{Name: "mlflow-username", Env: []string{"MLFLOW_TRACKING_USERNAME"}, Desc: "Basic auth user; default $MLFLOW_TRACKING_USERNAME. Basic wins over a token when both are set"},
	{Name: "mlflow-password", Env: []string{"MLFLOW_TRACKING_PASSWORD"}, Secret: true, Desc: "Basic auth password; default $MLFLOW_TRACKING_PASSWORD"},
	{Name: "registry-uri", Env: []string{"MLFLOW_REGISTRY_URI"}, Desc: "Model registry when it is not the tracking server: databricks-uc for Unity Catalog (DATABRICKS_HOST and DATABRICKS_TOKEN, as for tracking-uri: databricks); default $MLFLOW_REGISTRY_URI, else the tracking server"},
	{Name: "github-token", Env: []string{"GITHUB_TOKEN"}, Secret: true, Desc: "Token for PR comments, deployments and approval checks (contents: read, pull-requests: write, deployments: write; actions: read for environment-reviews)"},
	{Name: "pr-comment", Default: "auto", Desc: "auto (when the run belongs to a pull request), always or never"},
	{Name: "deployment", Default: "auto", Desc: "auto (create a GitHub deployment on promote and rollback) or never"},
	{Name: "deployment-environment", Desc: "GitHub environment name for the deployment; default <model>@<alias> or <model>/<Stage>"},
	{Name: "slack-token", Secret: true, Desc: "Slack bot token (chat.postMessage, chat.update)"},
	{Name: "slack-channel", Desc: "Slack channel for the bot token"},
	{Name: "slack-webhook-url", Secret: true, Desc: "Slack incoming webhook URL, instead of a token"},
	{Name: "fail-on-notify-error", Default: "false", Bool: true, Desc: "A failed notification fails the step (the promotion itself is never undone)"},
	{Name: "timeout", Default: "5m", Desc: "Deadline for the whole step, retries included"},
	{Name: "run-id", Desc: "register: the MLflow run that holds the model"},
	{Name: "artifact-path", Desc: "register: the model's path in the run (runs:/<run-id>/<artifact-path>): its artifact path, or the name MLflow 3's log_model gave it"},
	{Name: "source", Desc: "register: a model source URI instead of run-id + artifact-path, e.g. models:/m-<id>"},
	{Name: "description", Desc: "register: description of the new version"},
	{Name: "tags", Desc: "register: extra tags, key=value, one per line"},
	{Name: "allow-unfinished-run", Default: "false", Bool: true, Desc: "register: accept a run that is not FINISHED"},
	{Name: "rollback-to", Desc: "rollback: explicit version instead of the recorded previous holder"},
	{Name: "force", Default: "false", Bool: true, Desc: "rollback: skip the policy re-check"},
	{Name: "fail-on-drift", Default: "false", Bool: true, Desc: "history, and validate with manifest: exit 1 when the registry differs from the recorded or declared holder"},
	{Name: "format", Default: "text", Desc: "history: text, markdown or json (stdout); the job summary is always Markdown"},
	{Name: "manifest", Desc: "Desired-state file (e.g. .github/mlreg-models.yml): validate plans and promote applies every entry; model-name, version, target-alias, target-stage and expected-current-version are then refused (exit 2)"},
	{Name: "expected-plan-digest", Desc: "promote with manifest: apply only if the fresh plan's digest equals this one (the reviewed plan); otherwise exit 4 and nothing changed"},
	{Name: "parallelism", Default: "4", Desc: "With manifest: entries planned and applied at once (1 to 64)"},
}

func inputByName(name string) (Input, bool) {
	for _, in := range Inputs {
		if in.Name == name {
			return in, true
		}
	}
	return Input{}, false
}

// EnvName is the variable the runner sets for an input: INPUT_ + the upper-cased name, hyphens kept.
func EnvName(input string) string {
	return "INPUT_" + strings.ToUpper(strings.ReplaceAll(input, " ", "_"))
}

// source resolves input values: a CLI flag, else the runner's INPUT_ variable,
// else the input's environment fallbacks, else its default.
type source struct {
	flags  map[string]string
	getenv func(string) string
	read   map[string]bool // names read, for the contract test
}

func (s *source) get(name string) string {
	in, ok := inputByName(name)
	if !ok {
		panic(fmt.Sprintf("input %q is not declared in Inputs", name))
	}
	if s.read != nil {
		s.read[name] = true
	}
	if v, ok := s.flags[name]; ok {
		return strings.TrimSpace(v)
	}
	if v := strings.TrimSpace(s.getenv(EnvName(name))); v != "" {
		return v
	}
	for _, e := range in.Env {
		if v := strings.TrimSpace(s.getenv(e)); v != "" {
			return v
		}
	}
	return in.Default
}

// parseBool accepts what YAML and GitHub users write for booleans.
func parseBool(input, v string) (bool, error) {
	switch strings.ToLower(strings.TrimSpace(v)) {
	case "true", "yes", "on", "1":
		return true, nil
	case "false", "no", "off", "0", "":
		return false, nil
	}
	return false, fmt.Errorf("input %s: want true or false, got %q", input, v)
}
