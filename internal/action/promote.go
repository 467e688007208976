package action

import (
	"cmp"
	"context"
	"fmt"
	"strings"

	"github.com/mlreg/mlreg-action/internal/checks"
	"github.com/mlreg/mlreg-action/internal/notify"
	"github.com/mlreg/mlreg-action/internal/outcome"
	"github.com/mlreg/mlreg-action/internal/promote"
)

// runPromote is validate and promote: plan the promotion of the candidate
// to the target under the policy, and, for promote without dry-run, apply
// a passing plan.
func runPromote(ctx context.Context, d *deps, cfg *Config) (*notify.Report, error) {
	pm := &notify.Promotion{Moves: cfg.moves()}
	rep := d.newReport(cfg, pm)
	policy, err := d.loadPolicy(cfg)
	if err != nil {
		return rep, err
	}
	return planAndApply(ctx, d, cfg, rep, pm, promote.Request{
		Model:           cfg.ModelName,
		Version:         cfg.Version,
		Target:          cfg.Target,
		ArchiveExisting: cfg.ArchiveExisting,
		Expected:        cfg.Expected,
		Policy:          policy,
		Actor:           d.actor(),
		RunURL:          d.gh.RunURL(),
		Commit:          d.gh.SHA,
		Approvals:       d.approvals(policy),
	})
}

// planAndApply plans req into rep, whose body is pm; a failing plan is
// status 1, a plan of validate or a dry run is the report, and any other
// plan is applied. It is the shared half of validate, promote and rollback.
func planAndApply(ctx context.Context, d *deps, cfg *Config, rep *notify.Report, pm *notify.Promotion, req promote.Request) (*notify.Report, error) {
	rep.NoPolicy = req.Policy == nil
	svc := d.service()
	plan, err := svc.Plan(ctx, req)
	if err != nil {
		return rep, fmt.Errorf("%w; nothing was changed", err) // planning only reads
	}
	pm.Plan, rep.PlanDigest = plan, plan.Digest
	rep.Links.Version = d.reg.VersionURL(plan.Model, plan.Candidate.Version, plan.Prompt)
	rep.Links.Run = notify.RunURL(rep.TrackingURI, plan.Candidate.RunID)
	d.logPlan(plan)

	if plan.Verdict == checks.VerdictFail {
		rep.Outcome = outcome.Blocked
		return rep, fmt.Errorf("%w: %s v%s for %s: %s", promote.ErrPolicyFailed, plan.Model,
			plan.Candidate.Version, rep.Target.Label(), failedSummary(plan))
	}
	if !cfg.moves() {
		rep.Outcome = outcome.WouldChange
		if plan.InPlace() {
			rep.Outcome = outcome.InPlace
		}
		return rep, nil
	}
	applied, err := svc.Apply(ctx, plan)
	if err != nil {
		return rep, err
	}
	pm.Applied = applied
	rep.Outcome = outcome.InPlace
	if applied.Changed {
		rep.Outcome = outcome.Promoted
		if req.Action == promote.ActionRollback {
			rep.Outcome = outcome.RolledBack
		}
	}
	for _, m := range applied.Moves {
		d.out.Infof("moved %s", m)
	}
	for _, n := range applied.Notes {
		d.out.Infof("%s", n)
	}
	return rep, nil
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

func (d *deps) logPlan(p *promote.Plan) {
	if p.Prompt {
		d.out.Infof("candidate: prompt %s v%s (%s)", p.Model, p.Candidate.Version, cmp.Or(p.Candidate.Status, "READY"))
	} else {
		d.out.Infof("candidate: %s v%s (run %s, %s)", p.Model, p.Candidate.Version, cmp.Or(p.Candidate.RunID, "none"),
			cmp.Or(p.Candidate.Status, "READY"))
	}
	for _, m := range p.Moves() {
		d.out.Infof("plan: %s", m)
	}
	if !d.detail() {
		return // the report's table shows each check and the verdict
	}
	for _, c := range p.Checks {
		line := fmt.Sprintf("%-7s %s %s: %s %s", c.Status, c.Kind, c.Name, c.Value, c.Bound)
		if c.Champion != "" {
			line += fmt.Sprintf(" (champion %s, delta %s)", c.Champion, c.Delta)
		}
		if c.Reason != "" {
			line += " — " + c.Reason
		}
		d.out.Infof("%s", line)
	}
	d.out.Infof("verdict: %s; plan digest %s", p.Verdict, p.Digest)
}
