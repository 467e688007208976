// Package notify renders the one report of every command (validate,
// promote, rollback, register, history) and delivers it.
//
// A Report is what a command did and why: what every report has (command,
// outcome, error, links) and a Body of the command's kind (Promotion,
// Register, History, Fleet), which renders itself. It renders as Markdown
// (the pull request comment and the job summary), text (a terminal), JSON
// (the report file), Slack Block Kit (a message kept per promotion or
// registration) and a plain line for a GitHub deployment status. Its
// outcome is one of internal/outcome's, the same words for a single
// promotion and for each entry of a manifest. Send delivers it to each
// surface the command reports to (the comment and the deployment through
// internal/github, Slack through slack-go), each independently: a failure is
// reported and never undoes or blocks what the command did.
package notify

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/mlreg/mlreg-action/internal/github"
)

// Modes of the pr-comment and deployment inputs.
const (
	ModeAuto   = "auto"
	ModeAlways = "always"
	ModeNever  = "never"
)

// Surfaces, as they name failures in notify-errors.
const (
	SurfaceComment    = "pr-comment"
	SurfaceDeployment = "deployment"
	SurfaceSlack      = "slack"
)

// SlackTagPrefix is the version tag that keeps a promotion's Slack message:
// mlreg.slack.<alias|stage>.<name> = {"channel","ts","plan_digest"}.
const SlackTagPrefix = "mlreg.slack."

// TagStore reads and writes model version tags; the runner backs it with the
// MLflow client. Slack message keys live there, next to the audit record.
type TagStore interface {
	VersionTags(ctx context.Context, model, version string) (map[string]string, error)
	SetVersionTag(ctx context.Context, model, version, key, value string) error
}

// Settings say where a report goes; the report's model and target say
// which comment, environment and Slack message are its own.
type Settings struct {
	Event github.Event
	// GitHub is nil when there is no token or no repository.
	GitHub      *github.Client
	Comment     string // pr-comment: auto, always, never
	Deployment  string // deployment: auto, never
	Environment string // deployment-environment; "" = the target's default (checks.Target.Environment)
	Slack       *Slack // nil when Slack is not configured
	Store       TagStore
	// TagKey is the registry's form of a tag key (registry.Rules.TagKey):
	// Store's tags are read and written under it (Unity Catalog's take no
	// dots). nil keeps keys as written.
	TagKey func(key string) string
	// Secrets never leave in a report, a message or an error.
	Secrets []string
}

// storedKey is key as Store's tags hold it (Settings.TagKey).
func (s Settings) storedKey(key string) string {
	if s.TagKey == nil {
		return key
	}
	return s.TagKey(key)
}

// Result is what Send did.
type Result struct {
	PullRequest *github.PullRequest
	Comment     *github.Comment
	Deployment  *github.DeployResult
	Slack       *SlackRef
	SlackAction string
	// Errors are failed notifications, each prefixed by its surface.
	Errors []string
	// Warnings are known limits that are not failures (a fork's read-only token).
	Warnings []string
	// Log tells what was done, and what was not and why, for the step log.
	Log []LogLine
}

// LogLine is a line of the step log about the reports.
type LogLine struct {
	Text string
	// Skip marks a report not sent for want of what it needs (no token, no
	// pull request, nothing to deploy): a terminal shows these only when
	// asked (--verbose).
	Skip bool
}

// Lines is the log's text; without skips, the lines marked Skip are left out.
func (res *Result) Lines(skips bool) []string {
	var out []string
	for _, l := range res.Log {
		if skips || !l.Skip {
			out = append(out, l.Text)
		}
	}
	return out
}

func (res *Result) logf(format string, args ...any) {
	res.Log = append(res.Log, LogLine{Text: fmt.Sprintf(format, args...)})
}

func (res *Result) skipf(format string, args ...any) {
	res.Log = append(res.Log, LogLine{Text: fmt.Sprintf(format, args...), Skip: true})
}

// Outputs are the action outputs Send fills: deployment-id, comment-id,
// slack-ts and notify-errors (one failure per line).
func (res *Result) Outputs() [][2]string {
	dep, com, ts := "", "", ""
	if res.Deployment != nil && res.Deployment.ID != 0 {
		dep = strconv.FormatInt(res.Deployment.ID, 10)
	}
	if res.Comment != nil {
		com = strconv.FormatInt(res.Comment.ID, 10)
	}
	if res.Slack != nil {
		ts = res.Slack.TS
	}
	return [][2]string{
		{"deployment-id", dep},
		{"comment-id", com},
		{"slack-ts", ts},
		{"notify-errors", strings.Join(res.Errors, "\n")},
	}
}

// Send delivers the report to every configured surface: the pull request
// comment, the GitHub deployment, Slack. Each is independent: a failure is
// recorded in the result and never stops the others, and nothing here can
// undo or block the promotion it reports.
func Send(ctx context.Context, rep *Report, s Settings) *Result {
	res := &Result{}
	r := redacted(rep, s.Secrets)
	for _, step := range []struct {
		surface string
		run     func(context.Context, *Report, Settings, *Result) error
	}{
		{SurfaceComment, sendComment},
		{SurfaceDeployment, sendDeployment},
		{SurfaceSlack, sendSlack},
	} {
		if err := guard(ctx, r, s, res, step.run); err != nil {
			res.Errors = append(res.Errors, step.surface+": "+oneLine(redact(err.Error(), s.Secrets)))
		}
	}
	for i := range res.Warnings {
		res.Warnings[i] = redact(res.Warnings[i], s.Secrets)
	}
	return res
}

// guard runs one surface, turning a panic into an error.
func guard(ctx context.Context, r *Report, s Settings, res *Result, run func(context.Context, *Report, Settings, *Result) error) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("internal error: %v", p)
		}
	}()
	return run(ctx, r, s, res)
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

// redacted is a copy of the report whose free text holds no secret.
func redacted(rep *Report, secrets []string) *Report {
	r := *rep
	r.Error = redact(r.Error, secrets)
	return &r
}

// CommentBody is the PR comment: the marker line, then the Markdown report.
func (r *Report) CommentBody() string {
	return r.Marker() + "\n" + r.Markdown()
}

func sendComment(ctx context.Context, r *Report, s Settings, res *Result) error {
	mode := cmp.Or(s.Comment, ModeAuto)
	if mode == ModeNever || !r.Notifies() {
		return nil
	}
	if s.GitHub == nil {
		if mode == ModeAlways {
			return errors.New("pr-comment is always, but there is no github-token or no repository (GITHUB_REPOSITORY)")
		}
		res.skipf("pr-comment: skipped, no github-token")
		return nil
	}
	pr, err := s.GitHub.FindPullRequest(ctx, s.Event)
	if err != nil {
		return err
	}
	if pr == nil {
		if mode == ModeAlways {
			return fmt.Errorf("pr-comment is always, but no pull request was found for this run (event %s, commit %s)",
				cmp.Or(s.Event.Name, "none"), cmp.Or(github.ShortSHA(s.Event.SHA), "none"))
		}
		res.skipf("pr-comment: no pull request for this run (event %s, commit %s)", cmp.Or(s.Event.Name, "none"), cmp.Or(github.ShortSHA(s.Event.SHA), "none"))
		return nil
	}
	res.PullRequest = pr
	body := redact(r.CommentBody(), s.Secrets)
	c, err := s.GitHub.UpsertComment(ctx, pr.Number, r.Marker(), body)
	if err != nil {
		if github.IsNotAccessible(err) && pr.Fork {
			res.Warnings = append(res.Warnings, fmt.Sprintf(
				"could not comment on pull request #%d: GitHub answered 403 (Resource not accessible by integration) because "+
					"the pull request comes from a fork, and a workflow triggered by a fork's pull request gets a read-only GITHUB_TOKEN. "+
					"The verdict is in this job's summary. To comment, run mlreg-action in a second workflow triggered by workflow_run "+
					"(on: workflow_run: types: [completed]), which has a write token: see examples/workflows/pr-comment-from-fork.yml. "+
					"The promotion itself is not affected.", pr.Number))
			return nil
		}
		if github.IsNotAccessible(err) {
			return fmt.Errorf("%w; grant the job `permissions: pull-requests: write`, or set pr-comment: never (a pull request from a fork gets a read-only token: use the workflow_run pattern)", err)
		}
		return err
	}
	res.Comment = c
	res.logf("pr-comment: %s comment %d on pull request #%d (found from the %s)", c.Action, c.ID, pr.Number, pr.Source)
	return nil
}

func sendDeployment(ctx context.Context, r *Report, s Settings, res *Result) error {
	if cmp.Or(s.Deployment, ModeAuto) == ModeNever || r.DryRun {
		return nil
	}
	return r.Body.deploy(ctx, r, s, res)
}

// deployReport creates the deployment of a single promotion's report r,
// whose body is pm.
func deployReport(ctx context.Context, r *Report, pm *Promotion, s Settings, res *Result) error {
	state, ok := r.DeploymentState()
	if !ok || pm.Plan == nil {
		res.skipf("deployment: none (%s)", cmp.Or(r.Outcome.Label(), "nothing resolved"))
		return nil
	}
	if s.GitHub == nil || s.Event.SHA == "" {
		res.skipf("deployment: skipped, no github-token, repository or commit")
		return nil
	}
	env := cmp.Or(s.Environment, r.Target.Environment(r.Model))
	p := pm.Plan
	prev := pm.PreviousVersion()
	payload := map[string]any{
		"tool":             "mlreg-action",
		"model":            p.Model,
		"version":          p.Candidate.Version,
		"previous_version": prev,
		"target":           markerTarget(r.Target, same),
		"outcome":          r.Outcome.Label(),
		"plan_digest":      r.PlanDigest,
	}
	if p.Prompt {
		payload["kind"] = "prompt"
	}
	if r.Links.Version != "" {
		payload["model_version_url"] = r.Links.Version
	}
	final := redact(pm.StatusLine(r, state), s.Secrets)
	d, err := s.GitHub.Deploy(ctx, github.Deployment{
		Ref:            s.Event.SHA,
		Environment:    env,
		Production:     productionLike(r.Target, env),
		Payload:        payload,
		InProgress:     redact(pm.StatusLine(r, StateInProgress), s.Secrets),
		Final:          final,
		State:          state,
		LogURL:         r.Links.WorkflowRun,
		EnvironmentURL: r.Links.Version,
		Previous:       prev,
		Replaced:       plainText("Replaced: "+final, MaxStatusLine),
	})
	if d != nil {
		res.Deployment = d
	}
	if err != nil {
		if github.IsNotAccessible(err) {
			return fmt.Errorf("%w; grant the job `permissions: deployments: write`, or set deployment: never", err)
		}
		return err
	}
	res.logf("deployment: %d to %s, %s", d.ID, env, state)
	if d.Inactivated != 0 {
		res.logf("deployment: marked %d (v%s) inactive", d.Inactivated, prev)
	}
	return nil
}

// SlackRegisterTag is the version tag that keeps the Slack message of its
// registration, so that a rerun that reuses the version edits it.
const SlackRegisterTag = SlackTagPrefix + "register"

// SlackManifestTag is the version tag that keeps the Slack message of an
// apply of the manifest at path: mlreg.slack.manifest.<8 hex digits of the
// path's SHA-256>, on the first entry's desired version.
func SlackManifestTag(path string) string {
	sum := sha256.Sum256([]byte(path))
	return SlackTagPrefix + "manifest." + hex.EncodeToString(sum[:4])
}

// slackThread is where a report's Slack message is kept, so that a rerun
// edits it: the version tag tag (in the registry's form of the key, see
// Settings.TagKey) of model's version, which holds {"channel", "ts",
// "plan_digest"}. The message found there is this report's when its
// plan_digest is digest's: the plan digest that names the promotion (or
// the apply of a manifest) the report is about, read from the version's
// tags.
type slackThread struct {
	tag, model, version string
	noun                string // what the message is about, for the log: promotion, registration
	digest              func(tags map[string]string, s Settings) string
}

func sendSlack(ctx context.Context, r *Report, s Settings, res *Result) error {
	if s.Slack == nil || !r.Notifies() {
		return nil
	}
	var prev *SlackRef
	var digest string
	thread, kept := r.Body.slackThread(r)
	tagKey := s.storedKey(thread.tag) // "" stays ""
	if !kept || r.DryRun || s.Store == nil {
		tagKey = ""
	}
	if tagKey != "" {
		tags, err := s.Store.VersionTags(ctx, thread.model, thread.version)
		if err != nil {
			// Post anyway: a second message is better than none.
			res.logf("slack: cannot tell whether this %s was posted already: %v", thread.noun, redact(err.Error(), s.Secrets))
		}
		digest = thread.digest(tags, s)
		var ref SlackRef
		if v := tags[tagKey]; v != "" && json.Unmarshal([]byte(v), &ref) == nil && ref.PlanDigest == digest {
			prev = &ref
		}
	}
	ref, action, err := s.Slack.Post(ctx, redact(r.SlackText(), s.Secrets), r.SlackBlocks(), prev)
	if err != nil {
		return err
	}
	ref.PlanDigest = digest
	res.Slack, res.SlackAction = &ref, action
	where := ref.Channel
	if ref.Webhook {
		where = "the webhook"
	}
	res.logf("slack: %s %s %s", action, cmp.Or(where, "-"), ref.TS)
	if tagKey != "" && action != SlackSkipped && (prev == nil || *prev != ref) {
		b, err := json.Marshal(ref)
		if err != nil {
			return fmt.Errorf("failed to encode the Slack message key: %w", err)
		}
		if err := s.Store.SetVersionTag(ctx, thread.model, thread.version, tagKey, string(b)); err != nil {
			return fmt.Errorf("failed to record the Slack message in tag %s (a rerun will post again): %w", tagKey, err)
		}
	}
	return nil
}
