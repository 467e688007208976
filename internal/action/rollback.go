package action

import (
	"context"
	"fmt"

	"github.com/mlreg/mlreg-action/internal/checks"
	"github.com/mlreg/mlreg-action/internal/notify"
	"github.com/mlreg/mlreg-action/internal/promote"
)

// runRollback moves the target back to the version that held it before the
// current holder's promotion (promote.TargetHistory.Rollback: the rule, the
// same reading of the registry that history shows) or to rollback-to,
// re-checking the policy unless force, as a compare-and-set against the
// holder the history was read with.
func runRollback(ctx context.Context, d *deps, cfg *Config) (*notify.Report, error) {
	pm := &notify.Promotion{Moves: cfg.moves()}
	rep := d.newReport(cfg, pm)
	h, err := d.service().History(ctx, cfg.ModelName, cfg.Target.Primary())
	if err != nil {
		return rep, err
	}
	version := cfg.RollbackTo
	if version == "" {
		choice, err := h.Rollback(cfg.ModelName, d.gh.Rerun())
		if err != nil {
			return rep, fmt.Errorf("failed to choose the version to roll back to: %w; nothing was changed", err)
		}
		if choice.Drift != "" {
			d.out.Warningf("drift: %s; rolling back to v%s", choice.Drift, choice.Version)
		}
		d.out.Infof("rollback: %s", choice.Reason)
		if choice.Manifest != "" {
			d.out.Warningf("%s", choice.Manifest)
		}
		version = choice.Version
	} else if h.Drift {
		d.out.Warningf("drift: %s; rolling back to v%s (rollback-to)", h.DriftMessage(cfg.ModelName), version)
	}
	var policy *checks.Policy
	if cfg.Force {
		d.out.Warningf("force: rolling back %s to v%s WITHOUT re-checking the policy", cfg.ModelName, version)
	} else if policy, err = d.loadPolicy(cfg); err != nil {
		return rep, err
	}
	expected := promote.Expect(h.Current)
	if cfg.Expected.Set {
		expected = cfg.Expected
	}
	return planAndApply(ctx, d, cfg, rep, pm, promote.Request{
		Model:           cfg.ModelName,
		Version:         promote.Version(version),
		Target:          cfg.Target,
		ArchiveExisting: cfg.ArchiveExisting,
		Expected:        expected,
		Policy:          policy,
		Actor:           d.actor(),
		RunURL:          d.gh.RunURL(),
		Commit:          d.gh.SHA,
		Action:          promote.ActionRollback,
		Approvals:       d.approvals(policy),
	})
}
