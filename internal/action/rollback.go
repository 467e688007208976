package action

import (
	"context"
	"fmt"

	"github.com/mlreg/mlreg-action/internal/checks"
	"github.com/mlreg/mlreg-action/internal/notify"
	"github.com/mlreg/mlreg-action/internal/promote"
)

// runRollback moves the target back to the version that held it before the
// current recorded holder (or to rollback-to), re-checking the policy
// unless force, as a compare-and-set against the holder the history was
// read with.
func runRollback(ctx context.Context, d *deps, cfg *Config) (*notify.Report, error) {
	rep := d.newReport(cfg)
	h, err := d.service().History(ctx, cfg.ModelName, cfg.Target.Primary())
	if err != nil {
		return rep, err
	}
	version := cfg.RollbackTo
	if version == "" {
		if h.Drift {
			d.out.Warningf("drift: %s; rolling back along the recorded history", h.DriftMessage(cfg.ModelName))
		}
		if version, err = promote.RollbackTarget(h.Entries); err != nil {
			return rep, fmt.Errorf("failed to find the version to roll back to: %w (set rollback-to)", err)
		}
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
	return planAndApply(ctx, d, cfg, rep, promote.Request{
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
