package notify

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"

	"github.com/slack-go/slack"

	"github.com/mlreg/mlreg-action/internal/checks"
	"github.com/mlreg/mlreg-action/internal/outcome"
	"github.com/mlreg/mlreg-action/internal/promote"
)

// Report is everything a reviewer needs to judge what a command did: what
// every report has (the command, its outcome, the error that stopped it,
// the links), and a Body by the kind of command: a *Promotion (validate,
// promote, rollback), a *Register, a *History, or a *Fleet (validate and
// promote with manifest). Each body renders itself in every format through
// the one Body interface, so a new kind of report is a new body type.
type Report struct {
	Command    string
	Outcome    outcome.Outcome
	DryRun     bool
	PlanDigest string
	Error      string
	Links      Links
	Model      string
	// Target is what the command moves or reads; zero for register. The
	// JSON holds its label: "@champion", "stage Production", or both
	// joined by " + ".
	Target      checks.Target
	NoPolicy    bool
	TrackingURI string
	Body        Body
}

// Body is the part of a report that differs by kind of command. Its
// methods take the whole report, whose common fields they render too. A
// body that has nothing to show yet (the command stopped before it had a
// plan, a version or a history) renders the report as a failure.
type Body interface {
	headline(r *Report) string
	markdown(r *Report) string
	text(r *Report) string
	blocks(r *Report) []slack.Block
	// marker is the hidden first line of the report's PR comment.
	marker(r *Report) string
	// version is the model version the report is about, "" when none.
	version() string
	// prompt reports whether the report is about a prompt.
	prompt() bool
	// encode puts the body into the report file.
	encode(r *Report, j *reportJSON)
	// outputs are the action outputs of the report (report-path and the
	// notification outputs aside).
	outputs(r *Report) [][2]string
	// notifies reports whether the report goes to pull requests and Slack.
	notifies() bool
	// slackThread says where the report's Slack message is kept, if
	// anywhere (the caller leaves dry runs out).
	slackThread(r *Report) (slackThread, bool)
	// deploy creates the GitHub deployments of the report, if any.
	deploy(ctx context.Context, r *Report, s Settings, res *Result) error
	// listing is what the report prints on standard output in the format
	// the format input asks, in a workflow too; ok is false for a report
	// that has none, which a terminal shows as text.
	listing(r *Report, format string, terminal bool) (out string, ok bool, err error)
	// fileName is the report file's name before it is made safe for a path.
	fileName(r *Report) string
}

// quiet is what a body does unless it says otherwise: a PR comment per
// model and target, Slack messages that keep no thread, no deployment, no
// listing, a report file per command, model and target.
type quiet struct{}

func (quiet) marker(r *Report) string                                  { return targetMarker(r) }
func (quiet) prompt() bool                                             { return false }
func (quiet) notifies() bool                                           { return true }
func (quiet) slackThread(*Report) (slackThread, bool)                  { return slackThread{}, false }
func (quiet) deploy(context.Context, *Report, Settings, *Result) error { return nil }
func (quiet) listing(*Report, string, bool) (string, bool, error)      { return "", false, nil }
func (quiet) fileName(r *Report) string {
	return fmt.Sprintf("%s-%s-%s", r.Command, r.Model, r.Target.Label())
}

// Version is the model version the report is about: the candidate, the
// registered version, or the current holder of a history's first target.
func (r *Report) Version() string { return r.Body.version() }

// Headline is the one-line verdict, e.g. "✅ fraud-model v15 promoted to
// @champion", or "✅ prompt support v4 promoted to @production".
func (r *Report) Headline() string { return r.Body.headline(r) }

// Markdown renders the report for the job summary and the PR comment.
func (r *Report) Markdown() string { return r.Body.markdown(r) }

// Text renders the report for a terminal.
func (r *Report) Text() string { return r.Body.text(r) }

// SlackBlocks renders the report as Block Kit blocks within Slack's limits.
func (r *Report) SlackBlocks() []slack.Block { return r.Body.blocks(r) }

// Marker is the hidden first line of the report's PR comment, by which a
// later run finds the comment and edits it.
func (r *Report) Marker() string { return r.Body.marker(r) }

// Outputs are the action outputs the report sets (report-path and the
// notification outputs are set by their writers).
func (r *Report) Outputs() [][2]string { return r.Body.outputs(r) }

// Notifies reports whether the report goes to pull requests and Slack (and
// to a deployment when it moved a target): every report but a history's,
// which only reads.
func (r *Report) Notifies() bool { return r.Body.notifies() }

// Listing is what the report prints on standard output besides the report
// itself: a history in the format asked for (the format input), on a
// terminal and in a workflow. ok is false for every other report.
func (r *Report) Listing(format string, terminal bool) (out string, ok bool, err error) {
	return r.Body.listing(r, format, terminal)
}

// FileName is the report file's name before it is made safe for a path:
// <command>-<model>-<target>, or <command>-manifest-<path>.
func (r *Report) FileName() string { return r.Body.fileName(r) }

// Registration is the model version a register run created (or found, when
// the same workflow run had registered it before).
type Registration struct {
	Version string `json:"version"`
	Source  string `json:"source"`
	// Requested is the runs:/ URI asked for, and Resolution which source it
	// resolved to and why; both "" for any other source.
	Requested  string `json:"requested,omitempty"`
	Resolution string `json:"resolution,omitempty"`
	RunID      string `json:"run_id,omitempty"`
	Status     string `json:"status"`
	Reused     bool   `json:"reused,omitempty"`
}

// Links point to where the evidence lives.
type Links struct {
	Version     string `json:"version,omitempty"`      // MLflow model version page
	Run         string `json:"run,omitempty"`          // MLflow run page of the candidate
	WorkflowRun string `json:"workflow_run,omitempty"` // GitHub Actions run
}

// URIs are the URIs MLflow loads a version and an alias by:
// models:/<name>/<version> and models:/<name>@<alias> (mlflow.pyfunc), or
// prompts:/ for a prompt (mlflow.genai.load_prompt); aliasURI is "" without
// an alias, and modelURI without a version.
func URIs(name, version, alias string, prompt bool) (modelURI, aliasURI string) {
	scheme := "models"
	if prompt {
		scheme = "prompts"
	}
	if version != "" {
		modelURI = fmt.Sprintf("%s:/%s/%s", scheme, name, version)
	}
	if alias != "" {
		aliasURI = fmt.Sprintf("%s:/%s@%s", scheme, name, alias)
	}
	return modelURI, aliasURI
}

// reportJSON is the report file: the same fields, in the same order, for
// every kind of report; a body fills in its own (Body.encode).
type reportJSON struct {
	Command    string                   `json:"command"`
	Outcome    string                   `json:"outcome"`
	DryRun     bool                     `json:"dry_run"`
	Plan       *promote.Plan            `json:"plan,omitempty"`
	PlanDigest string                   `json:"plan_digest,omitempty"`
	Applied    *promote.Outcome         `json:"applied,omitempty"`
	Registered *Registration            `json:"registered,omitempty"`
	History    []*promote.TargetHistory `json:"history,omitempty"`
	Error      string                   `json:"error,omitempty"`
	Links      Links                    `json:"links"`
	// Model and Target are left out of a manifest's report, which is
	// about many models and targets, each in its entry.
	Model    *string        `json:"model,omitempty"`
	Target   *checks.Target `json:"target,omitempty"`
	NoPolicy bool           `json:"no_policy,omitempty"`
	Manifest *fleetJSON     `json:"manifest,omitempty"`
}

// MarshalJSON writes the report file. Its outcome is the label of the
// report's Outcome ("would promote", "blocked by policy").
func (r *Report) MarshalJSON() ([]byte, error) {
	j := reportJSON{Command: r.Command, Outcome: r.Outcome.Label(), DryRun: r.DryRun, PlanDigest: r.PlanDigest,
		Error: r.Error, Links: r.Links, Model: &r.Model, Target: &r.Target, NoPolicy: r.NoPolicy}
	r.Body.encode(r, &j)
	b, err := json.Marshal(j)
	if err != nil {
		return nil, fmt.Errorf("failed to encode the report: %w", err)
	}
	return b, nil
}

// RunURL is MLflow's UI page of a run (the experiment id is not needed by the UI's redirect).
func RunURL(trackingURI, runID string) string {
	if trackingURI == "" || runID == "" {
		return ""
	}
	return fmt.Sprintf("%s/#/runs/%s", trackingURI, url.PathEscape(runID))
}

// prompt reports whether the report is about a prompt of MLflow's Prompt Registry.
func (r *Report) prompt() bool { return r.Body.prompt() }

// subject names what the report is about: the model's name, or "prompt"
// and the prompt's name. n bounds the name.
func (r *Report) subject(n int) string {
	if r.prompt() {
		return "prompt " + plainText(r.Model, n)
	}
	return plainText(r.Model, n)
}

// versionLabel is the text of the link to the candidate's MLflow page.
func (r *Report) versionLabel() string {
	if r.prompt() {
		return "MLflow prompt"
	}
	return "MLflow version"
}

// failedHeadline is the headline of a run that stopped before its body had
// anything to say: "⚠️ fraud-model v15: promote failed".
func (r *Report) failedHeadline(v string) string {
	model := r.Model
	if r.prompt() {
		model = "prompt " + model
	}
	return fmt.Sprintf("⚠️ %s%s: %s failed", model, versionSuffix(v), r.Command)
}

// versionSuffix is " v15", or "" without a version.
func versionSuffix(v string) string {
	if v == "" {
		return ""
	}
	return " v" + v
}
