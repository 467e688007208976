package action

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/mlreg/mlreg-action/internal/approval"
	"github.com/mlreg/mlreg-action/internal/checks"
	"github.com/mlreg/mlreg-action/internal/github"
	"github.com/mlreg/mlreg-action/internal/mlflow"
	"github.com/mlreg/mlreg-action/internal/notify"
	"github.com/mlreg/mlreg-action/internal/promote"
)

// ExitNotify is the exit status of a run whose promotion (or check) succeeded
// but whose notification failed, with fail-on-notify-error: true. It is
// distinct from 3 (registry error) because the registry change stands.
const ExitNotify = 5

// EnvSlackAPIURL replaces Slack's Web API base URL (https://slack.com/api/),
// for a proxy or a test server.
const EnvSlackAPIURL = "MLREG_SLACK_API_URL"

// notify delivers the report to the pull request, a GitHub deployment and
// Slack, after the job summary is written. A failed notification never
// changes the promotion: it is a warning and a line of notify-errors, and it
// fails the step (status 5) only with fail-on-notify-error on a run that
// would otherwise succeed.
func (r *runner) notify(rep *notify.Report, code int) int {
	ctx := r.ctx
	if ctx == nil {
		ctx = context.Background()
	}
	res := notify.Send(ctx, rep, r.notifySettings())
	for _, l := range res.Log {
		r.out.Infof("%s", l)
	}
	for _, w := range res.Warnings {
		r.out.Warningf("%s", w)
	}
	for _, e := range res.Errors {
		r.out.Warningf("notification failed: %s", e)
	}
	for _, kv := range res.Outputs() {
		if err := r.out.SetOutput(kv[0], kv[1]); err != nil {
			r.out.Warningf("%v", err)
		}
	}
	if len(res.Errors) > 0 && r.cfg.FailOnNotifyError && code == ExitOK {
		r.out.Errorf("", 0, "notification failed (fail-on-notify-error; the registry change stands): %s", strings.Join(res.Errors, "; "))
		return ExitNotify
	}
	return code
}

func (r *runner) notifySettings() notify.Settings {
	cfg := r.cfg
	stage := cfg.TargetStage
	if st, ok := promote.CanonicalStage(stage); ok {
		stage = st
	}
	s := notify.Settings{
		Key:         notify.Key{Model: cfg.ModelName, Alias: cfg.TargetAlias, Stage: stage},
		Event:       r.event(),
		Comment:     cfg.PRComment,
		Deployment:  cfg.Deployment,
		Environment: cfg.DeploymentEnvironment,
		Secrets:     cfg.Secrets(),
	}
	if r.mlflow != nil {
		s.Store = mlflowTags{c: r.mlflow}
	}
	if cfg.PRComment != notify.ModeNever || cfg.Deployment != notify.ModeNever {
		if gh := r.github("GitHub reports are off"); gh != nil {
			s.GitHub = gh
		}
	}
	if (cfg.SlackToken != "" && cfg.SlackChannel != "") || cfg.SlackWebhookURL != "" {
		sl, err := notify.NewSlack(notify.SlackOptions{
			Token:      cfg.SlackToken,
			Channel:    cfg.SlackChannel,
			WebhookURL: cfg.SlackWebhookURL,
			APIURL:     r.env.Getenv(EnvSlackAPIURL),
			HTTPClient: r.env.HTTPClient,
		})
		if err != nil {
			r.out.Warningf("Slack reports are off: %v", err)
		} else {
			s.Slack = sl
		}
	}
	return s
}

// event is the run's trigger, its payload read once.
func (r *runner) event() github.Event {
	if r.ev != nil {
		return *r.ev
	}
	ev := github.Event{Name: r.gh.EventName, SHA: r.gh.SHA}
	if r.gh.EventPath != "" {
		b, err := os.ReadFile(r.gh.EventPath)
		if err != nil {
			r.out.Warningf("failed to read the event payload: %v", err)
		} else {
			ev.Payload = b
		}
	}
	r.ev = &ev
	return ev
}

// github is the GitHub API client of the run, built once; nil without a
// token or a repository (on a laptop), or when it cannot be built, which is
// a warning that starts with off.
func (r *runner) github(off string) *github.Client {
	if r.ghClient != nil || r.ghErr != nil {
		if r.ghErr != nil {
			r.out.Warningf("%s: %v", off, r.ghErr)
		}
		return r.ghClient
	}
	if r.cfg.GitHubToken == "" || r.gh.Repository == "" {
		return nil
	}
	r.ghClient, r.ghErr = github.NewClient(github.Options{
		Token:      r.cfg.GitHubToken,
		APIURL:     r.gh.APIURL,
		Repository: r.gh.Repository,
		HTTPClient: r.env.HTTPClient,
	})
	if r.ghErr != nil {
		r.out.Warningf("%s: %v", off, r.ghErr)
	}
	return r.ghClient
}

// approvals checks a policy's approval sections through GitHub (it asks
// only when a matching rule has one); nil, which fails every approval check
// and says why, without a policy, a token or a repository.
func (r *runner) approvals(p *checks.Policy) checks.ApprovalChecker {
	if p == nil {
		return nil
	}
	gh := r.github("approvals cannot be checked")
	if gh == nil {
		return nil
	}
	runID, _ := strconv.ParseInt(r.gh.RunID, 10, 64)
	return &approval.Checker{GH: gh, RunID: runID, Actor: r.gh.Actor, Event: r.event()}
}

// mlflowTags backs notify.TagStore with the MLflow client: Slack message
// keys live in version tags next to the audit record.
type mlflowTags struct{ c *mlflow.Client }

var _ notify.TagStore = mlflowTags{}

func (m mlflowTags) VersionTags(ctx context.Context, model, version string) (map[string]string, error) {
	mv, err := m.c.GetModelVersion(ctx, model, version)
	if err != nil {
		return nil, fmt.Errorf("failed to read the tags of %q v%s: %w", model, version, err)
	}
	out := make(map[string]string, len(mv.Tags))
	for _, t := range mv.Tags {
		out[t.Key] = t.Value
	}
	return out, nil
}

func (m mlflowTags) SetVersionTag(ctx context.Context, model, version, key, value string) error {
	if err := m.c.SetModelVersionTag(ctx, model, version, key, value); err != nil {
		return fmt.Errorf("failed to set tag %s of %q v%s: %w", key, model, version, err)
	}
	return nil
}
