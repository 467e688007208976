package promote

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/mlreg/mlreg-action/internal/checks"
	"github.com/mlreg/mlreg-action/internal/registry"
)

// Request is what the caller asks for. Its values are parsed where they
// enter (the action's inputs: ParseVersion, ParseExpected,
// checks.CheckAlias, checks.CanonicalStage) and Plan takes them as they
// are; it checks only what the registry cannot take (Validate), with the
// functions the inputs were checked with.
type Request struct {
	Model           string
	Version         VersionSpec
	Target          checks.Target // alias and/or canonical stage
	ArchiveExisting bool
	// Expected is a compare-and-set guard on each target's holder.
	Expected  Expectation
	Policy    *checks.Policy // nil: no checks (policy "none")
	Approvals checks.ApprovalChecker
	Actor     string
	RunURL    string
	Commit    string
	Action    string // recorded in the audit record: ActionPromote (default) or ActionRollback
	// Manifest is set for a promotion from a desired-state file; the audit
	// record carries it (see ManifestRef).
	Manifest ManifestRef
}

// ManifestRef ties a promotion to the desired-state file it came from.
type ManifestRef struct {
	Path string // the file's path in the repository, recorded as manifest
	// PlanDigest is the digest of the whole manifest plan (the plan-digest a
	// reviewer saw); when set, the audit record's plan_digest is this one.
	PlanDigest string
	// EntryDigest is the digest of this entry's part of the manifest plan,
	// recorded as manifest_entry: a rerun after a partial apply checks the
	// entries done by the earlier run against the reviewed plan with it.
	EntryDigest string
}

// Audit record actions.
const (
	ActionPromote  = "promote"
	ActionRollback = "rollback"
)

// VersionRef describes a model version in a plan.
type VersionRef struct {
	Version       string   `json:"version"`
	RunID         string   `json:"run_id,omitempty"`
	Source        string   `json:"source,omitempty"`
	LoggedModelID string   `json:"logged_model_id,omitempty"`
	Stage         string   `json:"stage,omitempty"`
	Aliases       []string `json:"aliases,omitempty"`
	Status        string   `json:"status,omitempty"`
}

// TargetPlan is one target of a plan (an alias or a stage, never both) and
// who holds it now. Its JSON, part of the plan digest, is
// {"kind", "name", "current", "in_place"}.
type TargetPlan struct {
	checks.Target
	Current string // version holding it at plan time; "" = unheld
	InPlace bool   // the candidate holds it already
}

type targetPlanJSON struct {
	Kind    string `json:"kind"`              // alias or stage
	Name    string `json:"name"`              // champion, Production
	Current string `json:"current,omitempty"` // version holding it at plan time; "" = unheld
	InPlace bool   `json:"in_place"`          // the candidate holds it already
}

// MarshalJSON writes the target as kind and name.
func (t TargetPlan) MarshalJSON() ([]byte, error) {
	return json.Marshal(targetPlanJSON{Kind: t.Kind(), Name: t.Name(), Current: t.Current, InPlace: t.InPlace})
}

// UnmarshalJSON reads what MarshalJSON wrote.
func (t *TargetPlan) UnmarshalJSON(b []byte) error {
	var j targetPlanJSON
	if err := json.Unmarshal(b, &j); err != nil {
		return err
	}
	tgt, err := singleTarget(j.Kind, j.Name)
	if err != nil {
		return err
	}
	*t = TargetPlan{Target: tgt, Current: j.Current, InPlace: j.InPlace}
	return nil
}

func singleTarget(kind, name string) (checks.Target, error) {
	switch kind {
	case checks.TargetKindAlias:
		return checks.AliasTarget(name), nil
	case checks.TargetKindStage:
		return checks.StageTarget(name), nil
	}
	return checks.Target{}, fmt.Errorf("failed to read target: kind %q is not alias or stage", kind)
}

// Plan is the resolved promotion: what would move, and the evidence for it.
type Plan struct {
	Model string `json:"model"`
	// Prompt is set when the model is a prompt of MLflow 3's Prompt Registry
	// (its versions carry the tag mlflow.prompt.is_prompt=true).
	Prompt       bool           `json:"prompt,omitempty"`
	Candidate    VersionRef     `json:"candidate"`
	Champion     *VersionRef    `json:"champion,omitempty"` // the holder the policy compared with
	Targets      []TargetPlan   `json:"targets"`
	Verdict      string         `json:"verdict"`
	Rules        []string       `json:"rules,omitempty"`
	Checks       []checks.Check `json:"checks"`
	PolicyFile   string         `json:"policy_file,omitempty"`
	PolicyDigest string         `json:"policy_digest,omitempty"`
	Digest       string         `json:"-"`

	req       Request
	candidate *registry.ModelVersion
}

// SetManifest sets what the audit record written by Apply says about the
// desired-state file the plan came from: the manifest plan's digest is known
// only once every entry has been planned.
func (p *Plan) SetManifest(m ManifestRef) { p.req.Manifest = m }

// InPlace reports whether the candidate already holds every target.
func (p *Plan) InPlace() bool {
	for _, t := range p.Targets {
		if !t.InPlace {
			return false
		}
	}
	return true
}

// Moves renders each target change, e.g. "@champion: v12 → v15".
func (p *Plan) Moves() []string {
	out := make([]string, 0, len(p.Targets))
	for _, t := range p.Targets {
		if t.InPlace {
			out = append(out, fmt.Sprintf("%s: v%s (already in place)", t.Label(), p.Candidate.Version))
			continue
		}
		out = append(out, fmt.Sprintf("%s: %s → v%s", t.Label(), VersionLabel(t.Current), p.Candidate.Version))
	}
	return out
}

// Service plans and applies promotions against a registry.
type Service struct {
	// Reg is the registry: its calls, and its rules for names, targets,
	// tag keys and values, the lock's name and the history's layout.
	Reg registry.Backend
	Now func() time.Time
	// OnPhase, when set, is called as each phase starts: resolve, check, apply, record.
	OnPhase func(phase string)
	// Lock, when set, serializes apply and record across runs (see
	// registry.Locker); the lock is named by Reg's rules.
	Lock registry.Locker
	// LockTTL is how long the lock outlives its holder's last renewal;
	// 0 = DefaultLockTTL.
	LockTTL   time.Duration
	LockOwner string // recorded on the lock, e.g. the workflow run URL
	// After paces the lock's heartbeat as time.After does (nil = time.After);
	// with Now, it is the clock of the lock.
	After func(time.Duration) <-chan time.Time
}

func (s *Service) phase(name string) {
	if s.OnPhase != nil {
		s.OnPhase(name)
	}
}

func (s *Service) now() time.Time {
	if s.Now != nil {
		return s.Now().UTC()
	}
	return time.Now().UTC()
}

// Validate refuses what the registry (under rules) cannot take: a request
// without a target, a model name or a target the rules refuse. It checks
// with the functions the action's inputs are checked with
// (registry.CheckModelName, registry.CheckTarget), so a caller that did not
// parse its values from inputs is held to the same rules; the errors wrap
// ErrInvalid.
func (r *Request) Validate(rules registry.Rules) error {
	if r.Target.IsZero() {
		return errors.Join(check(rules, r.Model, r.Target), invalidf("set target-alias or target-stage (or both)"))
	}
	return check(rules, r.Model, r.Target)
}

// check refuses a model name or a target the registry cannot take, every
// problem at once, each wrapping ErrInvalid.
func check(rules registry.Rules, model string, t checks.Target) error {
	var errs []error
	if err := registry.CheckModelName(rules, model); err != nil {
		errs = append(errs, invalid(err))
	}
	if err := registry.CheckTarget(rules, t); err != nil {
		errs = append(errs, invalid(err))
	}
	return errors.Join(errs...)
}

// Plan resolves the candidate and the holder of each target, evaluates the
// policy and returns the plan. It never changes the registry.
func (s *Service) Plan(ctx context.Context, req Request) (*Plan, error) {
	if err := req.Validate(s.Reg); err != nil {
		return nil, err
	}

	// The candidate and the holder of each target are independent reads:
	// they go at once, and their errors are reported in this order.
	s.phase("resolve")
	var (
		cand, aliasMV               *registry.ModelVersion
		stageMVs                    []registry.ModelVersion
		candErr, aliasErr, stageErr error
	)
	concurrently(
		func() { cand, candErr = s.resolveVersion(ctx, req.Model, req.Version) },
		func() {
			if a := req.Target.Alias; a != "" {
				aliasMV, aliasErr = s.aliasHolder(ctx, req.Model, a)
			}
		},
		func() {
			if st := req.Target.Stage; st != "" {
				stageMVs, stageErr = s.stageVersions(ctx, req.Model, st)
			}
		},
	)
	if candErr != nil {
		return nil, candErr
	}
	if st := cand.Status; st != "" && st != registry.StatusReady {
		return nil, fmt.Errorf("%w: %s v%s is %s (%s); only READY versions can be promoted",
			ErrNotReady, req.Model, cand.Version, st, cand.StatusMessage)
	}

	plan := &Plan{Model: req.Model, Prompt: cand.IsPrompt(), Candidate: refOf(cand), req: req, candidate: cand}
	var champ, stageChamp *registry.ModelVersion
	if a := req.Target.Alias; a != "" {
		if aliasErr != nil {
			return nil, aliasErr
		}
		tp := TargetPlan{Target: checks.AliasTarget(a)}
		if holder := aliasMV; holder != nil {
			tp.Current = holder.Version
			tp.InPlace = holder.Version == cand.Version
			champ = holder
		}
		plan.Targets = append(plan.Targets, tp)
	}
	if st := req.Target.Stage; st != "" {
		// A candidate in the stage holds it whatever the stage read answered;
		// not for a rollback, which makes the candidate the version the stage
		// resolves to (the highest in it, as History reads it): a version
		// restored from beside a higher one is not in place.
		stageCand := cand
		if req.Action == ActionRollback {
			stageCand = nil
		}
		if (stageCand == nil || cand.CurrentStage != st) && stageErr != nil {
			return nil, stageErr
		}
		tp := TargetPlan{Target: checks.StageTarget(st)}
		if holder := pickStageHolder(stageMVs, st, stageCand); holder != nil {
			tp.Current = holder.Version
			tp.InPlace = holder.Version == cand.Version
			stageChamp = holder
		}
		plan.Targets = append(plan.Targets, tp)
	}

	if req.Target.Alias == "" {
		champ, stageChamp = stageChamp, nil
	}
	s.phase("check")
	if err := s.evaluate(ctx, plan, cand, champ, stageChamp); err != nil {
		return nil, err
	}
	plan.Digest = digestOf(plan)
	return plan, nil
}

func (s *Service) evaluate(ctx context.Context, plan *Plan, cand, champ, stageChamp *registry.ModelVersion) error {
	req := plan.req
	if req.Policy == nil {
		plan.Verdict = checks.VerdictSkipped
		plan.Checks = []checks.Check{}
		return nil
	}
	plan.PolicyFile = req.Policy.File
	plan.PolicyDigest = req.Policy.Digest
	kind := checks.EntityModel
	if plan.Prompt {
		kind = checks.EntityPrompt
	}
	rules, err := req.Policy.MatchKind(req.Model, kind, req.Target)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	// The candidate and the holders compared with are loaded at once: their
	// runs and, when the rules read metrics, their logged models.
	championIsCandidate := champ != nil && champ.Version == cand.Version
	loadChamp := champ != nil && !championIsCandidate
	// With an alias and a stage, stage rules compare with the stage's holder.
	loadStage := stageChamp != nil && stageChamp.Version != cand.Version &&
		(champ == nil || stageChamp.Version != champ.Version)
	candMetrics, champMetrics := metricNeeds(rules)
	var (
		candSubj, champSubj, stageSubj *checks.Subject
		candErr, champErr, stageErr    error
	)
	concurrently(
		func() { candSubj, candErr = s.subject(ctx, cand, candMetrics) },
		func() {
			if loadChamp {
				champSubj, champErr = s.subject(ctx, champ, champMetrics)
			}
		},
		func() {
			if loadStage {
				stageSubj, stageErr = s.subject(ctx, stageChamp, champMetrics)
			}
		},
	)
	for _, err := range []error{candErr, champErr, stageErr} {
		if err != nil {
			return err
		}
	}
	in := checks.Input{
		Model:     req.Model,
		Target:    req.Target,
		Candidate: candSubj,
		Now:       s.now(),
		Approvals: req.Approvals,
		Mode:      checks.ModePromote,
	}
	if req.Action == ActionRollback {
		in.Mode = checks.ModeRollback
	}
	// A holder that is the candidate is the candidate's subject:
	// checks.Evaluate skips comparing a version with itself.
	switch {
	case loadChamp:
		ref := refOf(champ)
		plan.Champion = &ref
		in.Champion = champSubj
	case championIsCandidate:
		in.Champion = candSubj
	}
	switch {
	case stageChamp == nil:
	case stageChamp.Version == cand.Version:
		in.StageChampion = candSubj
	case loadStage:
		in.StageChampion = stageSubj
	default:
		in.StageChampion = in.Champion // the alias's holder holds the stage too
	}
	res, err := checks.Evaluate(ctx, rules, in)
	if err != nil {
		return err
	}
	plan.Verdict = res.Verdict
	plan.Rules, plan.Checks = res.Rules, res.Checks
	if plan.Checks == nil {
		plan.Checks = []checks.Check{}
	}
	return nil
}

// metricNeeds reports whether the rules read the candidate's metrics, and
// whether they read the holders' (vs-champion).
func metricNeeds(rules []*checks.Rule) (cand, champ bool) {
	for _, r := range rules {
		for _, m := range r.Metrics {
			cand = true
			champ = champ || m.VsChampion != nil
		}
	}
	return cand, champ
}

// resolveVersion turns a version selector into a model version.
func (s *Service) resolveVersion(ctx context.Context, model string, v VersionSpec) (*registry.ModelVersion, error) {
	switch {
	// The registry's errors name the model and the version or alias asked
	// for: they are returned as they are, and only the bare "alias not
	// found" gets its context here.
	case v.Alias != "":
		mv, err := s.Reg.GetModelVersionByAlias(ctx, model, v.Alias)
		if errors.Is(err, registry.ErrAliasNotFound) {
			return nil, fmt.Errorf("failed to resolve version %s of %q: %w", v, model, err)
		}
		return mv, err
	case v.Number != "":
		return s.Reg.GetModelVersion(ctx, model, v.Number)
	}
	return s.Reg.LatestVersion(ctx, model)
}

func (s *Service) aliasHolder(ctx context.Context, model, alias string) (*registry.ModelVersion, error) {
	mv, err := s.Reg.GetModelVersionByAlias(ctx, model, alias)
	if errors.Is(err, registry.ErrAliasNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err // it names the alias and the model
	}
	return mv, nil
}

// stageHolder returns the version in the stage. When several share it, the
// highest version wins, as MLflow's get-latest-versions does; the candidate
// counts as the holder when it is among them.
func (s *Service) stageHolder(ctx context.Context, model, stage string, cand *registry.ModelVersion) (*registry.ModelVersion, error) {
	if cand != nil && cand.CurrentStage == stage {
		return cand, nil
	}
	mvs, err := s.stageVersions(ctx, model, stage)
	if err != nil {
		return nil, err
	}
	return pickStageHolder(mvs, stage, cand), nil
}

// stageVersions reads the latest version in the stage (get-latest-versions).
func (s *Service) stageVersions(ctx context.Context, model, stage string) ([]registry.ModelVersion, error) {
	return s.Reg.GetLatestVersions(ctx, model, []string{stage}) // its error names the model and the stage
}

// pickStageHolder is stageHolder's choice among the versions read.
func pickStageHolder(mvs []registry.ModelVersion, stage string, cand *registry.ModelVersion) *registry.ModelVersion {
	if cand != nil && cand.CurrentStage == stage {
		return cand
	}
	for i := range mvs {
		if mvs[i].CurrentStage == stage {
			return &mvs[i]
		}
	}
	return nil
}

// concurrently runs fns at once and returns when all have returned. Each
// function keeps its own result, so callers report errors in a fixed order.
func concurrently(fns ...func()) {
	var wg sync.WaitGroup
	for _, fn := range fns[1:] {
		wg.Go(fn)
	}
	fns[0]()
	wg.Wait()
}

func refOf(mv *registry.ModelVersion) VersionRef {
	return VersionRef{
		Version:       mv.Version,
		RunID:         mv.RunID,
		Source:        mv.Source,
		LoggedModelID: mv.LoggedModelID(),
		Stage:         mv.CurrentStage,
		Aliases:       mv.Aliases,
		Status:        mv.Status,
	}
}

// digestOf is sha256 over the plan's canonical JSON (policy digest included).
// encoding/json writes struct fields in declaration order and sorts map keys,
// so equal plans give equal digests.
func digestOf(p *Plan) string {
	b, err := json.Marshal(p)
	if err != nil {
		// Plans hold only strings, bools and finite floats; this cannot happen.
		panic(fmt.Sprintf("failed to marshal plan: %v", err))
	}
	sum := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(sum[:])
}
