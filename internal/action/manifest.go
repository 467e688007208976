package action

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"

	"github.com/mlreg/mlreg-action/internal/checks"
	"github.com/mlreg/mlreg-action/internal/fleet"
	"github.com/mlreg/mlreg-action/internal/manifest"
	"github.com/mlreg/mlreg-action/internal/notify"
	"github.com/mlreg/mlreg-action/internal/outcome"
	"github.com/mlreg/mlreg-action/internal/promote"
)

// digestRE is a plan digest as the plan-digest output writes it.
var digestRE = regexp.MustCompile(`^sha256:[0-9a-f]{64}$`)

// singleInputs are the inputs of a single promotion, which a manifest
// replaces: the file names the models, their versions and targets.
var singleInputs = []string{"model-name", "version", "target-alias", "target-stage", "expected-current-version"}

// manifestInputs reads manifest, expected-plan-digest and parallelism into
// c. With manifest, only validate and promote run, and the inputs of a
// single promotion are refused, each by name, rather than silently ignored:
// a user who sets model-name next to manifest expects it to mean something.
func manifestInputs(c *Config, src *source) []error {
	var errs []error
	c.Manifest = src.get("manifest")
	c.ExpectedPlanDigest = strings.ToLower(src.get("expected-plan-digest"))
	n, err := fleet.ParseParallelism(src.get("parallelism"))
	if err != nil {
		errs = append(errs, err)
	}
	c.Parallelism = n
	if c.ExpectedPlanDigest != "" && !digestRE.MatchString(c.ExpectedPlanDigest) {
		errs = append(errs, fmt.Errorf("input expected-plan-digest: want sha256:<64 hex digits> as the plan-digest output writes it, got %q",
			src.get("expected-plan-digest")))
	}
	if c.Manifest == "" {
		if c.ExpectedPlanDigest != "" {
			errs = append(errs, errors.New("input expected-plan-digest: only with manifest (a single promotion checks expected-current-version)"))
		}
		return errs
	}
	if !commandReads(c.Command, "manifest") {
		errs = append(errs, fmt.Errorf("input manifest: only %s read a manifest, not %s", joinWords(readers("manifest"), "and"), c.Command))
	}
	if c.ExpectedPlanDigest != "" && !commandReads(c.Command, "expected-plan-digest") {
		errs = append(errs, fmt.Errorf("input expected-plan-digest: only with %s", joinWords(readers("expected-plan-digest"), "or")))
	}
	for _, name := range singleInputs {
		if src.get(name) != "" {
			errs = append(errs, fmt.Errorf("input %s: not used with manifest %s, which names every model, version and target; remove one of the two", name, c.Manifest))
		}
	}
	return errs
}

// commandFor is the command a configuration runs: the manifest's, or the
// command input's.
func commandFor(cfg *Config) command {
	if cfg.Manifest != "" {
		return runManifest
	}
	cmd, _ := commandNamed(cfg.Command) // loadConfig refuses any other
	return cmd.Run
}

// runManifest is validate and promote with manifest: plan every entry of
// the desired-state file; validate (and a dry run) reports the plan,
// promote applies it (fleet.Apply: all or nothing at the policy level, then
// entry by entry, up to parallelism at once).
func runManifest(ctx context.Context, d *deps, cfg *Config) (*notify.Report, error) {
	f := &notify.Fleet{Manifest: cfg.Manifest, VersionURL: d.reg.VersionURL, Moves: cfg.moves()}
	rep := d.newReport(cfg, f)
	d.phase("resolve")
	m, err := manifest.LoadFile(d.path(cfg.Manifest), cfg.Manifest)
	if err != nil {
		return rep, err
	}
	if err := checkManifestForRegistry(m, cfg.Registry); err != nil {
		return rep, err
	}
	policy, err := d.loadPolicy(cfg)
	if err != nil {
		return rep, err
	}
	rep.NoPolicy = policy == nil
	svc := d.service()
	d.phase("check")
	fp, err := fleet.Plan(ctx, svc, m, policy, fleet.Options{
		Parallelism:     cfg.Parallelism,
		ArchiveExisting: cfg.ArchiveExisting,
		Approvals:       d.approvals(policy),
		Actor:           d.actor(),
		RunURL:          d.gh.RunURL(),
		Commit:          d.gh.SHA,
	})
	if err != nil {
		return rep, err
	}
	f.Plan, rep.PlanDigest = fp, fp.Digest
	d.logFleetPlan(fp)
	if err := fp.Err(); err != nil {
		rep.Outcome = outcome.Failed
		return rep, err
	}
	if !cfg.moves() {
		return rep, checkFleetPlan(d, cfg, rep, fp)
	}
	if fp.PolicyErr() == nil {
		d.phase("apply")
	}
	res, err := fleet.Apply(ctx, svc, fp, fleet.ApplyOptions{Parallelism: cfg.Parallelism, ExpectedDigest: cfg.ExpectedPlanDigest})
	f.Result, f.Reviewed = res, cfg.ExpectedPlanDigest
	rep.Outcome = fleetOutcome(res, err)
	if res != nil {
		for i, er := range res.Entries {
			e := fp.Entries[i]
			for _, n := range er.Notes {
				d.out.Infof("%s %s: %s", e.Model, e.Label(), n)
			}
			if er.Changed && d.detail() {
				d.out.Infof("%s %s: %s → v%s %s", e.Model, e.Label(), promote.VersionLabel(e.Holder), e.Desired, er.Outcome)
			}
		}
		d.out.Infof("apply of %s: %s; %d registry requests", fp.Manifest, f.Counts(), res.Requests)
		if res.Resumed {
			d.out.Infof("resumed the reviewed plan %s: its entries in place were applied by an earlier run", cfg.ExpectedPlanDigest)
		}
	}
	return rep, err
}

// checkManifestForRegistry refuses, before any request, the entries the
// registry's rules refuse (on Unity Catalog a name that is not three-level,
// catalog.schema.model, and any stage), each at its line in the file.
func checkManifestForRegistry(m *manifest.Manifest, reg RegistryConfig) error {
	var errs checks.Errors
	named := map[string]bool{}
	for _, e := range m.Entries() {
		at := func(format string, args ...any) *checks.Error {
			return &checks.Error{File: m.File, Line: e.Pos.Line, Column: e.Pos.Column, Msg: fmt.Sprintf(format, args...)}
		}
		if err := reg.Rules.ValidateModelName(e.Model); err != nil && !named[e.Model] {
			named[e.Model] = true
			errs = append(errs, at("%v (registry-uri: %s)", err, reg.URI))
		}
		if err := reg.Rules.ValidateTarget(e.Target); err != nil {
			errs = append(errs, at("%s: stage %s: %v; declare the version under aliases:", e.Model, e.Target.Stage, err))
		}
	}
	if len(errs) == 0 {
		return nil
	}
	slices.SortStableFunc(errs, func(a, b *checks.Error) int { return cmp.Compare(a.Line, b.Line) })
	return errs
}

// checkFleetPlan is the verdict of validate with manifest: a change that
// fails the policy is status 1, and so, with fail-on-drift, is any entry
// where the registry differs from the file.
//
// A difference is drift only when the target was moved outside
// mlreg-action (its holder is not the one its history last recorded; a
// target it never promoted has no such record), which is a warning; the
// changes a file proposes are the plan, reported
// as a single promotion's validate reports it ("would promote"). A
// scheduled check (fail-on-drift) reads the file as the registry's state,
// so any difference fails it, each said to be drift or not applied yet.
func checkFleetPlan(d *deps, cfg *Config, rep *notify.Report, fp *fleet.FleetPlan) error {
	rep.Outcome = outcome.WouldChange
	if fp.ChangeCount() == 0 {
		rep.Outcome = outcome.InPlace
	}
	if err := fp.PolicyErr(); err != nil {
		rep.Outcome = outcome.Blocked
		return err
	}
	if drifted := fp.Drifted(); len(drifted) > 0 {
		names := make([]string, len(drifted))
		for i, e := range drifted {
			names[i] = fmt.Sprintf("%s %s is %s, but the last recorded promotion put %s there (%s says v%s)",
				e.Model, e.Label(), promote.VersionLabel(e.Holder), promote.VersionLabel(e.Recorded()), fp.Manifest, e.Desired)
		}
		d.out.Warningf("drift: %d of %d entries differ from %s, moved outside mlreg-action: %s",
			len(drifted), len(fp.Entries), fp.Manifest, strings.Join(names, "; "))
	}
	differ := fp.Differences()
	if !cfg.FailOnDrift || len(differ) == 0 {
		return nil
	}
	names := make([]string, len(differ))
	for i, e := range differ {
		why := "not applied yet"
		if e.Drifted() {
			why = "moved outside mlreg-action"
		}
		names[i] = fmt.Sprintf("%s %s is %s, %s says v%s (%s)", e.Model, e.Label(), promote.VersionLabel(e.Holder), fp.Manifest, e.Desired, why)
	}
	rep.Outcome = outcome.Drift
	return fmt.Errorf("%w: drift (fail-on-drift): %d of %d entries differ from %s: %s", promote.ErrPolicyFailed,
		len(differ), len(fp.Entries), fp.Manifest, strings.Join(names, "; "))
}

// fleetOutcome is the outcome of promote with manifest.
func fleetOutcome(res *fleet.Result, err error) outcome.Outcome {
	switch {
	case errors.Is(err, promote.ErrPolicyFailed):
		return outcome.Blocked
	case err != nil && res != nil && res.Changed():
		return outcome.Failed // some applied, some not: see the table
	case errors.Is(err, promote.ErrConflict):
		return outcome.Conflict
	case err != nil:
		return outcome.Failed
	case res.Changed():
		return outcome.Promoted
	}
	return outcome.InPlace
}

func (d *deps) logFleetPlan(fp *fleet.FleetPlan) {
	for _, e := range fp.Entries {
		if !d.detail() {
			break // the report's table shows each change
		}
		switch e.Status {
		case fleet.StatusUnchanged:
			continue
		case fleet.StatusError:
			d.out.Infof("error   %s %s: %v", e.Model, e.Label(), e.Err)
		default:
			d.out.Infof("%-7s %s %s: %s → v%s", e.Verdict, e.Model, e.Label(), promote.VersionLabel(e.Holder), e.Desired)
		}
	}
	d.out.Infof("plan of %s: %d %s, %d unchanged, %d %s; plan digest %s (%d registry requests)",
		fp.Manifest, fp.ChangeCount(), notify.Plural(fp.ChangeCount(), "change", "changes"), fp.Unchanged(),
		len(fp.Entries), notify.Plural(len(fp.Entries), "entry", "entries"), fp.Digest, fp.Requests)
}

// errModel is the model an error is about, for explain: model-name, or
// with manifest the model of the first entry that failed.
func (c *Config) errModel(err error) string {
	if ee, ok := errorsAs[*fleet.EntriesError](err); ok && len(ee.Entries) > 0 {
		return ee.Entries[0].Model
	}
	return c.ModelName
}

// idleConns is how many idle connections to MLflow the client keeps: with
// manifest, three per entry in flight (an entry's plan has up to four
// requests at once, its apply one), so that the next wave of requests does
// not open new connections; 0 (Go's default of 2) for a single promotion.
func (c *Config) idleConns() int {
	if c.Manifest == "" {
		return 0
	}
	return 3 * c.Parallelism
}
