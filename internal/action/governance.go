package action

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"text/tabwriter"

	"github.com/mlreg/mlreg-action/internal/checks"
	"github.com/mlreg/mlreg-action/internal/notify"
	"github.com/mlreg/mlreg-action/internal/promote"
)

// register creates a model version from a run or a logged model, with lineage.
func (r *runner) register(ctx context.Context) int {
	cfg := r.cfg
	rep := r.newReport()
	rep.Target = ""
	svc := r.service()
	base := r.mlflow.BaseURL()
	res, err := svc.Register(ctx, r.mlflow, promote.RegisterRequest{
		Model:              cfg.ModelName,
		RunID:              cfg.RunID,
		ArtifactPath:       cfg.ArtifactPath,
		Source:             cfg.Source,
		Description:        cfg.Description,
		Tags:               cfg.Tags,
		AllowUnfinishedRun: cfg.AllowUnfinishedRun,
		Lineage: promote.Lineage{
			Commit:         r.gh.SHA,
			Repository:     r.gh.Repository,
			WorkflowRunURL: r.gh.RunURL(),
			Actor:          r.actor(),
		},
		RunLink: func(exp, run string) string {
			return fmt.Sprintf("%s/#/experiments/%s/runs/%s", base, exp, run)
		},
		Logf: r.out.Infof,
	})
	r.phase("notify")
	defer r.endPhase()
	if err != nil {
		err = r.explain(err)
		code := exitCode(err)
		r.annotate(err, code)
		return code
	}
	mv := res.Version
	if res.Reused {
		r.out.Infof("this workflow run already registered %s v%s from %s; reusing it", mv.Name, mv.Version, mv.Source)
	} else {
		r.out.Infof("registered %s v%s from %s (%s)", mv.Name, mv.Version, mv.Source, mv.Status)
	}
	for _, kv := range [][2]string{
		{"model-version", mv.Version},
		{"model-uri", fmt.Sprintf("models:/%s/%s", mv.Name, mv.Version)},
		{"changed", fmt.Sprint(!res.Reused)},
	} {
		if err := r.out.SetOutput(kv[0], kv[1]); err != nil {
			r.out.Warningf("%v", err)
		}
	}
	var b strings.Builder
	fmt.Fprintf(&b, "### 📦 %s v%s registered\n\n| | |\n|---|---|\n", notify.MD(mv.Name), notify.MD(mv.Version))
	fmt.Fprintf(&b, "| Source | %s |\n", notify.MD(mv.Source))
	if res.Resolution != "" {
		fmt.Fprintf(&b, "| Requested | %s: %s |\n", notify.MD(res.Requested), notify.MD(res.Resolution))
	}
	if mv.RunID != "" {
		fmt.Fprintf(&b, "| Run | [%s](%s) |\n", notify.MD(mv.RunID), notify.RunURL(base, mv.RunID))
	}
	fmt.Fprintf(&b, "| Status | %s |\n\n[MLflow version](%s)\n", notify.MD(mv.Status), notify.VersionURL(base, mv.Name, mv.Version))
	if err := r.out.AddStepSummary(b.String()); err != nil {
		r.out.Warningf("%v", err)
	}
	return ExitOK
}

// history prints the promotion history of each target and flags drift.
func (r *runner) history(ctx context.Context) int {
	cfg := r.cfg
	targets := promote.TargetOf(checks.Target{Alias: cfg.TargetAlias, Stage: cfg.TargetStage})
	if len(targets) == 0 {
		r.out.Errorf("", 0, "invalid input: history needs target-alias or target-stage")
		return ExitInvalid
	}
	svc := r.service()
	r.phase("resolve")
	var all []*promote.TargetHistory
	for _, t := range targets {
		h, err := svc.History(ctx, cfg.ModelName, t)
		if err != nil {
			r.endPhase()
			err = r.explain(err)
			code := exitCode(err)
			r.annotate(err, code)
			return code
		}
		all = append(all, h)
	}
	r.phase("notify")
	drift := false
	for _, h := range all {
		if msg := h.DriftMessage(cfg.ModelName); msg != "" {
			drift = true
			r.out.Warningf("drift: %s", msg)
		}
	}
	first := all[0]
	prev := ""
	if len(first.Entries) > 0 {
		prev = first.Entries[0].PreviousVersion
	}
	for _, kv := range [][2]string{{"model-version", first.Current}, {"previous-version", prev}, {"drift", fmt.Sprint(drift)}} {
		if err := r.out.SetOutput(kv[0], kv[1]); err != nil {
			r.out.Warningf("%v", err)
		}
	}
	md := historyMarkdown(cfg.ModelName, all)
	switch cfg.Format {
	case "json":
		b, _ := json.MarshalIndent(all, "", "  ")
		fmt.Fprintln(r.env.Stdout, string(b))
		if _, ok := r.out.(*githubIO); ok {
			_ = r.out.AddStepSummary(md)
		}
	case "markdown":
		_ = r.out.AddStepSummary(md)
	default:
		fmt.Fprint(r.env.Stdout, historyText(cfg.ModelName, all))
		if _, ok := r.out.(*githubIO); ok {
			_ = r.out.AddStepSummary(md)
		}
	}
	r.endPhase()
	if drift && cfg.FailOnDrift {
		err := fmt.Errorf("%w: drift: %s", promote.ErrPolicyFailed, first.DriftMessage(cfg.ModelName))
		r.annotate(err, ExitPolicy)
		return ExitPolicy
	}
	return ExitOK
}

func historyText(model string, all []*promote.TargetHistory) string {
	var b strings.Builder
	for _, h := range all {
		fmt.Fprintf(&b, "%s of %s: held by %s", h.Target.Label(), model, verOrNone(h.Current))
		if h.Drift {
			fmt.Fprintf(&b, " (DRIFT: last recorded %s)", verOrNone(h.Recorded))
		}
		b.WriteString("\n")
		if len(h.Entries) == 0 {
			b.WriteString("  no promotions recorded by mlreg-action\n\n")
			continue
		}
		tw := tabwriter.NewWriter(&b, 2, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "  AT\tACTION\tVERSION\tPREVIOUS\tBY\tRUN")
		for _, e := range h.Entries {
			fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%s\t%s\n", e.At, e.Action, verOrNone(e.Version), verOrNone(e.PreviousVersion),
				orDash(e.By), orDash(e.RunURL))
		}
		tw.Flush()
		b.WriteString("\n")
	}
	return b.String()
}

func historyMarkdown(model string, all []*promote.TargetHistory) string {
	var b strings.Builder
	for _, h := range all {
		fmt.Fprintf(&b, "### %s of %s: held by %s\n\n", notify.MD(h.Target.Label()), notify.MD(model), verOrNone(h.Current))
		if msg := h.DriftMessage(model); msg != "" {
			fmt.Fprintf(&b, "> [!WARNING]\n> Drift: %s\n\n", notify.MD(msg))
		}
		if len(h.Entries) == 0 {
			b.WriteString("No promotions recorded by mlreg-action.\n\n")
			continue
		}
		b.WriteString("| At | Action | Version | Previous | By | Run |\n|---|---|---|---|---|---|\n")
		for _, e := range h.Entries {
			run := "-"
			if e.RunURL != "" {
				run = fmt.Sprintf("[run](%s)", e.RunURL)
			}
			fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s |\n", notify.MD(e.At), notify.MD(e.Action),
				verOrNone(e.Version), verOrNone(e.PreviousVersion), notify.MD(orDash(e.By)), run)
		}
		b.WriteString("\n")
	}
	return b.String()
}

func verOrNone(v string) string {
	if v == "" {
		return "none"
	}
	return "v" + v
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// rollback moves the target back to the version that held it before.
func (r *runner) rollback(ctx context.Context) int {
	cfg := r.cfg
	rep := r.newReport()
	targets := promote.TargetOf(checks.Target{Alias: cfg.TargetAlias, Stage: cfg.TargetStage})
	if len(targets) == 0 {
		return r.fail(rep, fmt.Errorf("%w: rollback needs target-alias or target-stage", promote.ErrInvalid))
	}
	svc := r.service()
	h, err := svc.History(ctx, cfg.ModelName, targets[0])
	if err != nil {
		return r.fail(rep, err)
	}
	version := cfg.RollbackTo
	if version == "" {
		if h.Drift {
			r.out.Warningf("drift: %s; rolling back along the recorded history", h.DriftMessage(cfg.ModelName))
		}
		if version, err = promote.RollbackTarget(h.Entries); err != nil {
			return r.fail(rep, fmt.Errorf("failed to find the version to roll back to: %w (set rollback-to)", err))
		}
	}
	var policy *checks.Policy
	if cfg.Force {
		r.out.Warningf("force: rolling back %s to v%s WITHOUT re-checking the policy", cfg.ModelName, version)
	} else if policy, err = r.loadPolicy(); err != nil {
		return r.fail(rep, err)
	}
	expected := h.Current
	if expected == "" {
		expected = "none"
	}
	if cfg.ExpectedCurrentVersion != "" {
		expected = cfg.ExpectedCurrentVersion
	}
	req := promote.Request{
		Model:           cfg.ModelName,
		Version:         version,
		Target:          checks.Target{Alias: cfg.TargetAlias, Stage: cfg.TargetStage},
		ArchiveExisting: cfg.ArchiveExisting,
		ExpectedCurrent: expected,
		Policy:          policy,
		Actor:           r.actor(),
		RunURL:          r.gh.RunURL(),
		Commit:          r.gh.SHA,
		Action:          promote.ActionRollback,
		Approvals:       r.approvals(policy),
	}
	code := r.planAndApply(ctx, svc, req, rep)
	if cfg.Force && code == ExitOK {
		rep.NoPolicy = true
	}
	return code
}
