package action

import (
	"context"
	"fmt"

	"github.com/mlreg/mlreg-action/internal/checks"
	"github.com/mlreg/mlreg-action/internal/notify"
	"github.com/mlreg/mlreg-action/internal/outcome"
	"github.com/mlreg/mlreg-action/internal/promote"
	"github.com/mlreg/mlreg-action/internal/registry"
)

// runRegister creates a model version from a run or a logged model, with
// lineage tags, and waits until it is READY; a rerun of the same workflow
// run reuses the version it registered.
func runRegister(ctx context.Context, d *deps, cfg *Config) (*notify.Report, error) {
	body := &notify.Register{}
	rep := d.newReport(cfg, body)
	rep.Target = checks.Target{} // a registration moves no target
	base := d.tracking.BaseURL()
	reg, ok := d.reg.(registry.Registrar)
	if !ok { // loadConfig refuses register on such a registry (Unity Catalog)
		return rep, fmt.Errorf("%w: %w", promote.ErrInvalid, errRegisterOnUC)
	}
	res, err := d.service().Register(ctx, reg, promote.RegisterRequest{
		Model:              cfg.ModelName,
		RunID:              cfg.RunID,
		ArtifactPath:       cfg.ArtifactPath,
		Source:             cfg.Source,
		Description:        cfg.Description,
		Tags:               cfg.Tags,
		AllowUnfinishedRun: cfg.AllowUnfinishedRun,
		Lineage: promote.Lineage{
			Commit:         d.gh.SHA,
			Repository:     d.gh.Repository,
			WorkflowRunURL: d.gh.RunURL(),
			Actor:          d.actor(),
		},
		RunLink: func(exp, run string) string {
			return fmt.Sprintf("%s/#/experiments/%s/runs/%s", base, exp, run)
		},
		Logf: d.out.Infof,
	})
	if err != nil {
		return rep, err
	}
	mv := res.Version
	if res.Reused {
		d.out.Infof("this workflow run already registered %s v%s from %s; reusing it", mv.Name, mv.Version, mv.Source)
	} else {
		d.out.Infof("registered %s v%s from %s (%s)", mv.Name, mv.Version, mv.Source, mv.Status)
	}
	body.Registered = &notify.Registration{Version: mv.Version, Source: mv.Source, Requested: res.Requested,
		Resolution: res.Resolution, RunID: mv.RunID, Status: mv.Status, Reused: res.Reused}
	rep.Outcome = outcome.Registered
	if res.Reused {
		rep.Outcome = outcome.Reused
	}
	rep.Links.Version = d.reg.VersionURL(mv.Name, mv.Version, false)
	rep.Links.Run = notify.RunURL(base, mv.RunID)
	return rep, nil
}
