// Package action is the command layer: it reads inputs (a GitHub Actions
// runner's INPUT_ variables or CLI flags), runs a command, and reports through
// outputs, the job summary, annotations and the exit status.
package action

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/mlreg/mlreg-action/internal/checks"
	"github.com/mlreg/mlreg-action/internal/github"
	"github.com/mlreg/mlreg-action/internal/mlflow"
	"github.com/mlreg/mlreg-action/internal/notify"
	"github.com/mlreg/mlreg-action/internal/promote"
)

// Exit statuses (SPEC "Outcomes and exit status").
const (
	ExitOK       = 0
	ExitPolicy   = 1
	ExitInvalid  = 2
	ExitRegistry = 3
	ExitConflict = 4
)

// Env is the process boundary: everything the binary takes from the outside.
type Env struct {
	Args       []string
	Getenv     func(string) string
	Stdout     io.Writer
	Stderr     io.Writer
	HTTPClient *http.Client // base client for MLflow; nil = default
	Now        func() time.Time
	WorkDir    string // resolves the policy path and the report path; "" = process working directory
	Version    string
}

var errUsage = errors.New("usage")

// Main runs the binary and returns its exit status.
func Main(ctx context.Context, env Env) int {
	if env.Now == nil {
		env.Now = time.Now
	}
	inActions := env.Getenv("GITHUB_ACTIONS") == "true"
	var out IO
	if inActions {
		out = newGitHubIO(env.Getenv, env.Stdout)
	} else {
		out = newCLIIO(env.Stdout, env.Stderr)
	}
	defer out.Finish()

	if len(env.Args) > 0 && (env.Args[0] == "version" || env.Args[0] == "--version") {
		fmt.Fprintf(env.Stdout, "mlreg-action %s\n", env.Version)
		return ExitOK
	}
	flags, help, err := parseArgs(env.Args)
	switch {
	case help != "":
		fmt.Fprint(env.Stdout, help)
		return ExitOK
	case err != nil:
		out.Errorf("", 0, "%v (run mlreg-action --help)", err)
		return ExitInvalid
	}

	src := &source{flags: flags, getenv: env.Getenv}
	// Mask every secret before anything else is printed.
	for _, in := range Inputs {
		if in.Secret {
			if v := src.get(in.Name); v != "" {
				out.AddMask(v)
			}
		}
	}
	cfg, err := loadConfig(src, env.Getenv)
	if err != nil {
		out.Errorf("", 0, "invalid input:\n%v", err)
		return ExitInvalid
	}

	ctx, cancel := context.WithTimeout(ctx, cfg.Timeout)
	defer cancel()
	// A call that stops at the deadline names the input that set it.
	ctx = mlflow.WithDeadlineName(ctx, fmt.Sprintf("deadline of %s (input `timeout`)", shortDuration(cfg.Timeout)))

	r := &runner{ctx: ctx, env: env, cfg: cfg, out: out, gh: githubContextFrom(env.Getenv)}
	return r.run(ctx)
}

// githubRun is what the runner tells about the workflow run.
type githubRun struct {
	Actor, Repository, RunID, ServerURL, SHA, EventName, EventPath, APIURL string
}

func githubContextFrom(getenv func(string) string) githubRun {
	return githubRun{
		Actor:      getenv("GITHUB_ACTOR"),
		Repository: getenv("GITHUB_REPOSITORY"),
		RunID:      getenv("GITHUB_RUN_ID"),
		ServerURL:  cmp.Or(getenv("GITHUB_SERVER_URL"), "https://github.com"),
		SHA:        getenv("GITHUB_SHA"),
		EventName:  getenv("GITHUB_EVENT_NAME"),
		EventPath:  getenv("GITHUB_EVENT_PATH"),
		APIURL:     cmp.Or(getenv("GITHUB_API_URL"), "https://api.github.com"),
	}
}

// RunURL is the workflow run page, or "" outside Actions.
func (g githubRun) RunURL() string {
	if g.Repository == "" || g.RunID == "" {
		return ""
	}
	return fmt.Sprintf("%s/%s/actions/runs/%s", g.ServerURL, g.Repository, g.RunID)
}

type runner struct {
	ctx       context.Context // for notifications, which run after the registry work
	env       Env
	cfg       *Config
	out       IO
	gh        githubRun
	groupOpen bool
	mlflow    *mlflow.Client
	ev        *github.Event  // event(): read once
	ghClient  *github.Client // github(): built once
	ghErr     error
}

func (r *runner) phase(name string) {
	if r.groupOpen {
		r.out.EndGroup()
	}
	r.out.Group(name)
	r.groupOpen = true
}

func (r *runner) endPhase() {
	if r.groupOpen {
		r.out.EndGroup()
		r.groupOpen = false
	}
}

func (r *runner) path(p string) string {
	if filepath.IsAbs(p) || r.env.WorkDir == "" {
		return p
	}
	return filepath.Join(r.env.WorkDir, p)
}

func (r *runner) actor() string {
	if r.gh.Actor != "" {
		return r.gh.Actor
	}
	return cmp.Or(r.env.Getenv("USER"), "local")
}

func (r *runner) run(ctx context.Context) int {
	c, err := mlflow.New(mlflow.Options{
		TrackingURI:    r.cfg.TrackingURI,
		Token:          r.cfg.MLflowToken,
		Username:       r.cfg.MLflowUsername,
		Password:       r.cfg.MLflowPassword,
		InsecureTLS:    r.cfg.InsecureTLS,
		CACertPath:     r.cfg.CACertPath,
		ClientCertPath: r.cfg.ClientCertPath,
		HTTPClient:     r.env.HTTPClient,
		UserAgent:      "mlreg-action/" + cmp.Or(r.env.Version, "dev"),
		Workspace:      r.cfg.Workspace,
		MaxRetries:     r.cfg.MaxRetries,
		BackoffFactor:  r.cfg.BackoffFactor,
		BackoffJitter:  r.cfg.BackoffJitter,
		RequestTimeout: r.cfg.RequestTimeout,
		// One line per retry, so that a server that does not answer is not
		// silent until the deadline.
		OnRetry: func(rt mlflow.Retry) { r.out.Infof("retry: %s", rt) },
	})
	if err != nil {
		r.out.Errorf("", 0, "invalid MLflow configuration: %v", err)
		return ExitInvalid
	}
	r.mlflow = c
	switch r.cfg.Command {
	case CmdValidate, CmdPromote:
		return r.promote(ctx)
	case CmdRegister:
		return r.register(ctx)
	case CmdHistory:
		return r.history(ctx)
	case CmdRollback:
		return r.rollback(ctx)
	}
	r.out.Errorf("", 0, "unknown command %q", r.cfg.Command)
	return ExitInvalid
}

// exitCode maps an error to the SPEC's exit status.
func exitCode(err error) int {
	var perr checks.Errors
	var single *checks.Error
	switch {
	case err == nil:
		return ExitOK
	case errors.Is(err, promote.ErrPolicyFailed):
		return ExitPolicy
	case errors.Is(err, promote.ErrConflict):
		return ExitConflict
	case errors.Is(err, promote.ErrInvalid), errors.Is(err, errUsage), errors.As(err, &perr), errors.As(err, &single):
		return ExitInvalid
	default:
		return ExitRegistry
	}
}

// annotate writes the one ::error annotation of a failed run; a policy problem
// carries the policy file and line.
func (r *runner) annotate(err error, code int) {
	var perr checks.Errors
	var single *checks.Error
	switch {
	case errors.As(err, &perr) && len(perr) > 0:
		r.out.Errorf(perr[0].File, perr[0].Line, "%v", err)
	case errors.As(err, &single):
		r.out.Errorf(single.File, single.Line, "%v", err)
	default:
		// The sentinels (promote.ErrPolicyFailed, ...) already start the
		// message with the label; say it once.
		msg := err.Error()
		if label := exitLabel(code); !strings.HasPrefix(msg, label+":") {
			msg = label + ": " + msg
		}
		r.out.Errorf("", 0, "%s", msg)
	}
}

// shortDuration prints d as a user writes it: 5m, 90s, 1h30m (not 5m0s).
func shortDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

func exitLabel(code int) string {
	switch code {
	case ExitPolicy:
		return "policy not met"
	case ExitInvalid:
		return "invalid input"
	case ExitRegistry:
		return "registry error"
	case ExitConflict:
		return "conflict"
	}
	return "error"
}

func (r *runner) loadPolicy() (*checks.Policy, error) {
	if strings.EqualFold(r.cfg.Policy, "none") {
		r.out.Warningf("policy: none: promoting %s WITHOUT ANY CHECKS; set a policy file to gate promotions", r.cfg.ModelName)
		return nil, nil
	}
	// Errors and reports name the path as the user wrote it.
	return checks.LoadFileAs(r.path(r.cfg.Policy), r.cfg.Policy)
}

func (r *runner) newReport() *notify.Report {
	return &notify.Report{
		Command:     r.cfg.Command,
		Model:       r.cfg.ModelName,
		DryRun:      r.cfg.DryRun,
		TrackingURI: r.mlflow.BaseURL(),
		Links:       notify.Links{WorkflowRun: r.gh.RunURL()},
		Target:      targetLabel(r.cfg),
	}
}

func (r *runner) service() *promote.Service {
	owner := r.gh.RunURL()
	if owner == "" {
		owner = r.actor() + " (local)"
	}
	return &promote.Service{Reg: r.mlflow, Now: r.env.Now, OnPhase: r.phase, Lock: r.mlflow, LockOwner: owner}
}

func (r *runner) promote(ctx context.Context) int {
	cfg := r.cfg
	rep := r.newReport()
	policy, err := r.loadPolicy()
	if err != nil {
		return r.fail(rep, err)
	}
	req := promote.Request{
		Model:           cfg.ModelName,
		Version:         cfg.Version,
		Target:          checks.Target{Alias: cfg.TargetAlias, Stage: cfg.TargetStage},
		ArchiveExisting: cfg.ArchiveExisting,
		ExpectedCurrent: cfg.ExpectedCurrentVersion,
		Policy:          policy,
		Actor:           r.actor(),
		RunURL:          r.gh.RunURL(),
		Commit:          r.gh.SHA,
		Approvals:       r.approvals(policy),
	}
	return r.planAndApply(ctx, r.service(), req, rep)
}

// planAndApply plans req, reports a failing or dry plan, and otherwise applies it.
func (r *runner) planAndApply(ctx context.Context, svc *promote.Service, req promote.Request, rep *notify.Report) int {
	rep.NoPolicy = req.Policy == nil
	plan, err := svc.Plan(ctx, req)
	if err != nil {
		if exitCode(err) == ExitRegistry {
			err = fmt.Errorf("%w; nothing was changed", err) // planning only reads
		}
		return r.fail(rep, err)
	}
	rep.Plan, rep.PlanDigest = plan, plan.Digest
	rep.Target = notify.TargetLabel(plan)
	rep.Links.Version = notify.VersionURL(rep.TrackingURI, plan.Model, plan.Candidate.Version)
	if plan.Prompt {
		rep.Links.Version = notify.PromptURL(rep.TrackingURI, plan.Model, plan.Candidate.Version)
	}
	rep.Links.Run = notify.RunURL(rep.TrackingURI, plan.Candidate.RunID)
	r.logPlan(plan)

	if plan.Verdict == checks.VerdictFail {
		rep.Outcome = notify.OutcomeBlocked
		return r.finish(rep, fmt.Errorf("%w: %s v%s for %s: %s", promote.ErrPolicyFailed, plan.Model,
			plan.Candidate.Version, rep.Target, failedSummary(plan)))
	}
	if r.cfg.Command == CmdValidate || r.cfg.DryRun {
		rep.Outcome = notify.OutcomeWould
		if plan.InPlace() {
			rep.Outcome = notify.OutcomeInPlace
		}
		return r.finish(rep, nil)
	}
	applied, err := svc.Apply(ctx, plan)
	if err != nil {
		return r.fail(rep, err)
	}
	rep.Applied = applied
	rep.Outcome = notify.OutcomeInPlace
	if applied.Changed {
		rep.Outcome = notify.OutcomePromoted
		if req.Action == promote.ActionRollback {
			rep.Outcome = notify.OutcomeRolledBack
		}
	}
	for _, m := range applied.Moves {
		r.out.Infof("moved %s", m)
	}
	for _, n := range applied.Notes {
		r.out.Infof("%s", n)
	}
	return r.finish(rep, nil)
}

func failedSummary(p *promote.Plan) string {
	var parts []string
	for _, c := range p.Checks {
		if c.Status == checks.StatusFail {
			s := fmt.Sprintf("%s %s %s", c.Name, c.Value, c.Bound)
			if c.Reason != "" {
				s += " (" + c.Reason + ")"
			}
			parts = append(parts, s)
		}
	}
	return strings.Join(parts, "; ")
}

func (r *runner) logPlan(p *promote.Plan) {
	if p.Prompt {
		r.out.Infof("candidate: prompt %s v%s (%s)", p.Model, p.Candidate.Version, cmp.Or(p.Candidate.Status, "READY"))
	} else {
		r.out.Infof("candidate: %s v%s (run %s, %s)", p.Model, p.Candidate.Version, cmp.Or(p.Candidate.RunID, "none"),
			cmp.Or(p.Candidate.Status, "READY"))
	}
	for _, m := range p.Moves() {
		r.out.Infof("plan: %s", m)
	}
	for _, c := range p.Checks {
		line := fmt.Sprintf("%-7s %s %s: %s %s", c.Status, c.Kind, c.Name, c.Value, c.Bound)
		if c.Champion != "" {
			line += fmt.Sprintf(" (champion %s, delta %s)", c.Champion, c.Delta)
		}
		if c.Reason != "" {
			line += " — " + c.Reason
		}
		r.out.Infof("%s", line)
	}
	r.out.Infof("verdict: %s; plan digest %s", p.Verdict, p.Digest)
}

func targetLabel(cfg *Config) string {
	var parts []string
	if cfg.TargetAlias != "" {
		parts = append(parts, "@"+cfg.TargetAlias)
	}
	if cfg.TargetStage != "" {
		st, ok := promote.CanonicalStage(cfg.TargetStage)
		parts = append(parts, "stage "+cmp.Or(map[bool]string{true: st}[ok], cfg.TargetStage))
	}
	return strings.Join(parts, " + ")
}

// explain adds what to do about an authorization failure.
func (r *runner) explain(err error) error {
	switch {
	case mlflow.IsPermissionDenied(err):
		return fmt.Errorf("%w; the MLflow user needs EDIT permission on registered model %q to promote, register "+
			"or roll back (READ is enough for validate and history)", err, r.cfg.ModelName)
	case mlflow.IsUnauthenticated(err):
		return fmt.Errorf("%w; check mlflow-username and mlflow-password, or mlflow-token "+
			"(MLFLOW_TRACKING_USERNAME, MLFLOW_TRACKING_PASSWORD, MLFLOW_TRACKING_TOKEN)", err)
	}
	return err
}

// fail reports a run that stopped with err.
func (r *runner) fail(rep *notify.Report, err error) int {
	err = r.explain(err)
	code := exitCode(err)
	switch code {
	case ExitConflict:
		rep.Outcome = notify.OutcomeConflict
	case ExitPolicy:
		rep.Outcome = notify.OutcomeBlocked
	default:
		rep.Outcome = notify.OutcomeError
	}
	var partial *promote.PartialError
	if errors.As(err, &partial) {
		rep.Outcome = notify.OutcomeError
	}
	rep.Error = err.Error()
	return r.finish(rep, err)
}

// finish writes outputs, the report file and the summary, then the annotation.
func (r *runner) finish(rep *notify.Report, err error) int {
	code := exitCode(err)
	if err != nil && rep.Error == "" {
		rep.Error = err.Error()
	}
	r.phase("notify")
	outputs := r.outputs(rep)
	if path, werr := r.writeReport(rep); werr != nil {
		r.out.Warningf("%v", werr)
	} else {
		outputs = append(outputs, [2]string{"report-path", path})
	}
	for _, kv := range outputs {
		if oerr := r.out.SetOutput(kv[0], kv[1]); oerr != nil {
			r.out.Warningf("%v", oerr)
		}
	}
	if cli, ok := r.out.(*cliIO); ok {
		// A terminal gets text, not Markdown, and the error once: in the
		// error line that ends the run, not also in the report.
		text := *rep
		text.Error = ""
		cli.printf(cli.out, "\n%s\n", text.Text())
	} else if serr := r.out.AddStepSummary(rep.Markdown()); serr != nil {
		r.out.Warningf("%v", serr)
	}
	final := r.notify(rep, code)
	r.endPhase()
	if err != nil {
		r.annotate(err, code)
	}
	return final
}

func (r *runner) outputs(rep *notify.Report) [][2]string {
	verdict, version, previous, digest, modelURI, aliasURI := "", "", "", "", "", ""
	if p := rep.Plan; p != nil {
		verdict, version, digest = p.Verdict, p.Candidate.Version, p.Digest
		// MLflow's URI schemes: prompts:/<name>/<version> loads a prompt version
		// (mlflow.genai.load_prompt), models:/<name>/<version> a model version.
		scheme := "models"
		if p.Prompt {
			scheme = "prompts"
		}
		modelURI = fmt.Sprintf("%s:/%s/%s", scheme, p.Model, version)
		if len(p.Targets) > 0 {
			previous = p.Targets[0].Current
			if previous == version {
				previous = ""
			}
		}
		if r.cfg.TargetAlias != "" {
			aliasURI = fmt.Sprintf("%s:/%s@%s", scheme, p.Model, r.cfg.TargetAlias)
		}
	}
	if rep.Applied != nil && len(r.cfg.TargetAlias+r.cfg.TargetStage) > 0 && rep.Plan != nil && len(rep.Plan.Targets) > 0 {
		if prev, ok := rep.Applied.Previous[rep.Plan.Targets[0].Label()]; ok && prev != version {
			previous = prev
		}
	}
	changed := rep.Applied != nil && rep.Applied.Changed
	return [][2]string{
		{"verdict", verdict},
		{"model-version", version},
		{"previous-version", previous},
		{"changed", fmt.Sprint(changed)},
		{"model-uri", modelURI},
		{"alias-uri", aliasURI},
		{"plan-digest", digest},
	}
}

var slugRE = regexp.MustCompile(`[^A-Za-z0-9._-]+`)

// writeReport writes the JSON report under .mlreg/ in the working directory,
// which is the workspace in a workflow, so later steps can read it.
func (r *runner) writeReport(rep *notify.Report) (string, error) {
	name := slugRE.ReplaceAllString(fmt.Sprintf("%s-%s-%s", rep.Command, rep.Model, rep.Target), "_")
	rel := filepath.Join(".mlreg", strings.Trim(name, "_")+".json")
	b, err := json.MarshalIndent(rep, "", "  ")
	if err != nil {
		return "", fmt.Errorf("failed to encode report: %w", err)
	}
	full := r.path(rel)
	if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
		return "", fmt.Errorf("failed to create report directory: %w", err)
	}
	if err := os.WriteFile(full, append(b, '\n'), 0o644); err != nil {
		return "", fmt.Errorf("failed to write report %s: %w", rel, err)
	}
	return rel, nil
}
