package action

import (
	"cmp"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/mlreg/mlreg-action/internal/approval"
	"github.com/mlreg/mlreg-action/internal/checks"
	"github.com/mlreg/mlreg-action/internal/github"
	"github.com/mlreg/mlreg-action/internal/mlflow"
	"github.com/mlreg/mlreg-action/internal/notify"
	"github.com/mlreg/mlreg-action/internal/promote"
	"github.com/mlreg/mlreg-action/internal/registry"
)

// EnvSlackAPIURL replaces Slack's Web API base URL (https://slack.com/api/),
// for a proxy or a test server.
const EnvSlackAPIURL = "MLREG_SLACK_API_URL"

// deps is what every command works through: the step's output, the
// workflow run, and the clients, each built once by connect before the
// command runs. It holds no context: each call takes the command's.
type deps struct {
	env Env
	out IO
	gh  githubRun

	reg      registry.Backend // the model registry, its calls and rules (registry.go)
	tracking *mlflow.Client   // the tracking server: runs, links

	github *github.Client // nil without a token and a repository (a laptop), or when it cannot be built
	slack  *notify.Slack  // nil when Slack is not configured
	event  github.Event   // the run's trigger, its payload read once

	groupOpen bool // a log group is open
	verbose   bool // --verbose: see detail
}

// detail reports whether the log shows what the report repeats (each check,
// each entry of a manifest) and the notifications skipped: always in a
// workflow, whose log is read beside the job summary; on a terminal, which
// prints the report itself, only with --verbose.
func (d *deps) detail() bool { return !d.out.Terminal() || d.verbose }

// connect builds the clients the configuration asks for. Only the MLflow
// client is required: a GitHub or Slack client that cannot be built is a
// warning, and its reports and checks are off.
func (d *deps) connect(cfg *Config) error {
	opts := mlflow.Options{
		TrackingURI:    cfg.TrackingURI,
		Token:          cfg.MLflowToken,
		Username:       cfg.MLflowUsername,
		Password:       cfg.MLflowPassword,
		InsecureTLS:    cfg.InsecureTLS,
		CACertPath:     cfg.CACertPath,
		ClientCertPath: cfg.ClientCertPath,
		HTTPClient:     d.env.HTTPClient,
		UserAgent:      "mlreg-action/" + cmp.Or(d.env.Version, "dev"),
		Workspace:      cfg.Workspace,

		// With manifest, entries run at once: keep their connections.
		MaxIdleConnsPerHost: cfg.idleConns(),

		MaxRetries:     cfg.MaxRetries,
		BackoffFactor:  cfg.BackoffFactor,
		BackoffJitter:  cfg.BackoffJitter,
		RequestTimeout: cfg.RequestTimeout,
		// One line per retry, so that a server that does not answer is not
		// silent until the deadline.
		OnRetry: func(rt mlflow.Retry) { d.out.Infof("retry: %s", rt) },
	}
	tracking, err := mlflow.New(opts)
	if err != nil {
		return fmt.Errorf("%w: invalid MLflow configuration: %w", promote.ErrInvalid, err)
	}
	if err := d.openRegistry(cfg, opts, tracking); err != nil {
		return err
	}

	d.event = github.Event{Name: d.gh.EventName, SHA: d.gh.SHA}
	if d.gh.EventPath != "" {
		b, err := os.ReadFile(d.gh.EventPath)
		if err != nil {
			d.out.Warningf("failed to read the event payload: %v", err)
		} else {
			d.event.Payload = b
		}
	}

	if cfg.GitHubToken != "" && d.gh.Repository != "" {
		gh, err := github.NewClient(github.Options{
			Token:      cfg.GitHubToken,
			APIURL:     d.gh.APIURL,
			Repository: d.gh.Repository,
			HTTPClient: d.env.HTTPClient,
		})
		if err != nil {
			d.out.Warningf("GitHub reports and approval checks are off: %v", err)
		} else {
			d.github = gh
		}
	}

	if (cfg.SlackToken != "" && cfg.SlackChannel != "") || cfg.SlackWebhookURL != "" {
		sl, err := notify.NewSlack(notify.SlackOptions{
			Token:      cfg.SlackToken,
			Channel:    cfg.SlackChannel,
			WebhookURL: cfg.SlackWebhookURL,
			APIURL:     d.env.Getenv(EnvSlackAPIURL),
			HTTPClient: d.env.HTTPClient,
		})
		if err != nil {
			d.out.Warningf("Slack reports are off: %v", err)
		} else {
			d.slack = sl
		}
	}
	return nil
}

// phase starts a log group for a phase (resolve, check, apply, record,
// notify), ending the one before.
func (d *deps) phase(name string) {
	d.endPhase()
	d.out.Group(name)
	d.groupOpen = true
}

func (d *deps) endPhase() {
	if d.groupOpen {
		d.out.EndGroup()
		d.groupOpen = false
	}
}

// path resolves a workspace path.
func (d *deps) path(p string) string {
	if filepath.IsAbs(p) || d.env.WorkDir == "" {
		return p
	}
	return filepath.Join(d.env.WorkDir, p)
}

// actor is who runs the step: the GitHub actor, or the local user.
func (d *deps) actor() string {
	if d.gh.Actor != "" {
		return d.gh.Actor
	}
	return cmp.Or(d.env.Getenv("USER"), "local")
}

// service is the promotion service over the registry, logging its phases.
func (d *deps) service() *promote.Service {
	owner := d.gh.RunURL()
	if owner == "" {
		owner = d.actor() + " (local)"
	}
	return &promote.Service{Reg: d.reg, Now: d.env.Now, OnPhase: d.phase, Lock: d.reg, LockOwner: owner}
}

// newReport starts the report of cfg's command, whose body is of its kind.
func (d *deps) newReport(cfg *Config, body notify.Body) *notify.Report {
	return &notify.Report{
		Body:        body,
		Command:     cfg.Command,
		Model:       cfg.ModelName,
		Target:      cfg.Target,
		DryRun:      cfg.DryRun,
		TrackingURI: d.tracking.BaseURL(),
		Links:       notify.Links{WorkflowRun: d.gh.RunURL()},
	}
}

// loadPolicy reads the policy file; nil for policy: none, with a loud warning.
func (d *deps) loadPolicy(cfg *Config) (*checks.Policy, error) {
	if strings.EqualFold(cfg.Policy, "none") {
		d.out.Warningf("policy: none: promoting %s WITHOUT ANY CHECKS; set a policy file to gate promotions",
			cmp.Or(cfg.ModelName, "every entry of "+cfg.Manifest))
		return nil, nil
	}
	// Errors and reports name the path as the user wrote it.
	return checks.LoadFileAs(d.path(cfg.Policy), cfg.Policy)
}

// approvals checks a policy's approval sections through GitHub (it asks
// only when a matching rule has one); nil, which fails every approval check
// and says why, without a policy or a GitHub client.
func (d *deps) approvals(p *checks.Policy) checks.ApprovalChecker {
	if p == nil || d.github == nil {
		return nil
	}
	runID, _ := strconv.ParseInt(d.gh.RunID, 10, 64)
	return &approval.Checker{GH: d.github, RunID: runID, Actor: d.gh.Actor, Event: d.event}
}
