package action

import (
	"cmp"
	"context"
	"fmt"

	"github.com/mlreg/mlreg-action/internal/notify"
	"github.com/mlreg/mlreg-action/internal/outcome"
	"github.com/mlreg/mlreg-action/internal/promote"
)

// runHistory reads the recorded history of each single target and flags
// drift: a holder that is not the last recorded one. Drift is a warning,
// and status 1 with fail-on-drift.
func runHistory(ctx context.Context, d *deps, cfg *Config) (*notify.Report, error) {
	body := &notify.History{}
	rep := d.newReport(cfg, body)
	svc := d.service()
	d.phase("resolve")
	var all []*promote.TargetHistory
	for _, t := range cfg.Target.Split() {
		h, err := svc.History(ctx, cfg.ModelName, t)
		if err != nil {
			return rep, err
		}
		all = append(all, h)
	}
	body.Targets = all
	rep.Outcome = outcome.Recorded
	drift := ""
	for _, h := range all {
		if msg := h.UnfinishedMessage(cfg.ModelName); msg != "" {
			d.out.Warningf("%s", msg)
		}
		if msg := h.DriftMessage(cfg.ModelName); msg != "" {
			rep.Outcome = outcome.Drift
			drift = cmp.Or(drift, msg)
			d.out.Warningf("drift: %s", msg)
		}
	}
	if drift != "" && cfg.FailOnDrift {
		return rep, fmt.Errorf("%w: drift: %s", promote.ErrPolicyFailed, drift)
	}
	return rep, nil
}
