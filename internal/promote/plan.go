package promote

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/mlreg/mlreg-action/internal/checks"
	"github.com/mlreg/mlreg-action/internal/mlflow"
)

// Target kinds.
const (
	KindAlias = "alias"
	KindStage = "stage"
)

// Request is what the caller asks for.
type Request struct {
	Model           string
	Version         string // a number, "latest" (or ""), or "@alias"
	Target          checks.Target
	ArchiveExisting bool
	// ExpectedCurrent is a compare-and-set guard: "" (unset), "none" (unheld) or a version number.
	ExpectedCurrent string
	Policy          *checks.Policy // nil: no checks (policy "none")
	Approvals       checks.ApprovalChecker
	Actor           string
	RunURL          string
	Commit          string
	Action          string // recorded in the audit record: ActionPromote (default) or ActionRollback
	// Dialect is the registry's, for Validate (the zero value is OSS);
	// Service.Plan validates with the Service's own.
	Dialect Dialect
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

// TargetPlan is one target of a plan and who holds it now.
type TargetPlan struct {
	Kind    string `json:"kind"`              // alias or stage
	Name    string `json:"name"`              // champion, Production
	Current string `json:"current,omitempty"` // version holding it at plan time; "" = unheld
	InPlace bool   `json:"in_place"`          // the candidate holds it already
}

// Label renders the target as users write it: "@champion" or "stage Production".
func (t TargetPlan) Label() string {
	if t.Kind == KindAlias {
		return "@" + t.Name
	}
	return "stage " + t.Name
}

// TagSuffix is the audit tag suffix: "alias.champion" or "stage.Production".
func (t TargetPlan) TagSuffix() string { return t.Kind + "." + t.Name }

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
	candidate *mlflow.ModelVersion
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
		from := "none"
		if t.Current != "" {
			from = "v" + t.Current
		}
		out = append(out, fmt.Sprintf("%s: %s → v%s", t.Label(), from, p.Candidate.Version))
	}
	return out
}

// Service plans and applies promotions against a registry.
type Service struct {
	Reg Registry
	Now func() time.Time
	// OnPhase, when set, is called as each phase starts: resolve, check, apply, record.
	OnPhase func(phase string)
	// Lock, when set, serializes apply and record across runs (see Locker).
	Lock      Locker
	LockTTL   time.Duration
	LockOwner string // recorded on the lock, e.g. the workflow run URL
	// Dialect is the registry's: tag keys, history layout, lock name and
	// refused inputs. The zero value is MLflow's OSS registry.
	Dialect Dialect
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

var (
	versionRE = regexp.MustCompile(`^[0-9]+$`)
	aliasRE   = regexp.MustCompile(`^[\p{L}\p{N}_-]+$`)
	reservedV = regexp.MustCompile(`^[vV][0-9]+$`)
)

// ValidateAlias applies MLflow's alias rules so users get a clear error before any request.
func ValidateAlias(alias string) error {
	switch {
	case alias == "":
		return errors.New("alias is empty")
	case len(alias) > 255:
		return fmt.Errorf("alias is %d characters, MLflow allows 255", len(alias))
	case !aliasRE.MatchString(alias):
		return fmt.Errorf("alias %q may contain only letters, digits, '_' and '-'", alias)
	case strings.EqualFold(alias, "latest"):
		return fmt.Errorf("alias %q is reserved by MLflow", alias)
	case reservedV.MatchString(alias):
		return fmt.Errorf("alias %q is reserved by MLflow (looks like a version)", alias)
	}
	return nil
}

// CanonicalStage returns MLflow's spelling of a stage name, case-insensitively.
func CanonicalStage(s string) (string, bool) {
	for _, st := range []string{mlflow.StageNone, mlflow.StageStaging, mlflow.StageProduction, mlflow.StageArchived} {
		if strings.EqualFold(s, st) {
			return st, true
		}
	}
	return "", false
}

// Validate checks a request before anything is sent.
func (r *Request) Validate() error {
	var errs []error
	if err := r.Dialect.ValidateModelName(r.Model); err != nil {
		errs = append(errs, err)
	}
	if r.Target.Alias == "" && r.Target.Stage == "" {
		errs = append(errs, invalidf("set target-alias or target-stage (or both)"))
	}
	if r.Target.Alias != "" {
		if err := ValidateAlias(r.Target.Alias); err != nil {
			errs = append(errs, invalidf("input target-alias: %v", err))
		}
	}
	if err := r.Dialect.ValidateTarget(r.Target); err != nil {
		errs = append(errs, err)
	} else if r.Target.Stage != "" {
		if _, ok := CanonicalStage(r.Target.Stage); !ok {
			errs = append(errs, invalidf("input target-stage: %q is not one of Staging, Production, Archived, None", r.Target.Stage))
		}
	}
	v := r.Version
	switch {
	case versionRE.MatchString(v) && strings.Trim(v, "0") == "":
		errs = append(errs, invalidf("input version: version numbers start at 1, got %q", v))
	case v == "" || v == "latest" || versionRE.MatchString(v):
	case strings.HasPrefix(v, "@"):
		if err := ValidateAlias(v[1:]); err != nil && !strings.EqualFold(v[1:], "latest") {
			errs = append(errs, invalidf("input version: %v", err))
		}
	default:
		errs = append(errs, invalidf("input version: want a version number, latest or @alias, got %q", v))
	}
	if e := r.ExpectedCurrent; versionRE.MatchString(e) && strings.Trim(e, "0") == "" {
		errs = append(errs, invalidf("input expected-current-version: version numbers start at 1 (none means unheld), got %q", e))
	} else if e != "" && e != "none" && !versionRE.MatchString(e) {
		errs = append(errs, invalidf("input expected-current-version: want a version number or none, got %q", e))
	}
	return errors.Join(errs...)
}

// Plan resolves the candidate and the holder of each target, evaluates the
// policy and returns the plan. It never changes the registry.
func (s *Service) Plan(ctx context.Context, req Request) (*Plan, error) {
	req.Dialect = s.Dialect
	if err := req.Validate(); err != nil {
		return nil, err
	}
	if req.Target.Stage != "" {
		req.Target.Stage, _ = CanonicalStage(req.Target.Stage)
	}

	// The candidate and the holder of each target are independent reads:
	// they go at once, and their errors are reported in this order.
	s.phase("resolve")
	var (
		cand, aliasMV               *mlflow.ModelVersion
		stageMVs                    []mlflow.ModelVersion
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
	if st := cand.Status; st != "" && st != mlflow.StatusReady {
		return nil, fmt.Errorf("%w: %s v%s is %s (%s); only READY versions can be promoted",
			ErrNotReady, req.Model, cand.Version, st, cand.StatusMessage)
	}

	plan := &Plan{Model: req.Model, Prompt: cand.IsPrompt(), Candidate: refOf(cand), req: req, candidate: cand}
	var champ, stageChamp *mlflow.ModelVersion
	if a := req.Target.Alias; a != "" {
		if aliasErr != nil {
			return nil, aliasErr
		}
		tp := TargetPlan{Kind: KindAlias, Name: a}
		if holder := aliasMV; holder != nil {
			tp.Current = holder.Version
			tp.InPlace = holder.Version == cand.Version
			champ = holder
		}
		plan.Targets = append(plan.Targets, tp)
	}
	if st := req.Target.Stage; st != "" {
		// A candidate in the stage holds it whatever the stage read answered.
		if cand.CurrentStage != st && stageErr != nil {
			return nil, stageErr
		}
		tp := TargetPlan{Kind: KindStage, Name: st}
		if holder := pickStageHolder(stageMVs, st, cand); holder != nil {
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

func (s *Service) evaluate(ctx context.Context, plan *Plan, cand, champ, stageChamp *mlflow.ModelVersion) error {
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
	}
	if loadChamp {
		ref := refOf(champ)
		plan.Champion = &ref
		in.Champion = champSubj
	}
	if stageChamp != nil && stageChamp.Version != cand.Version {
		if loadStage {
			in.StageChampion = stageSubj
		} else {
			in.StageChampion = in.Champion
		}
	}
	res, err := checks.Evaluate(ctx, rules, in)
	if err != nil {
		return err
	}
	for i := range res.Checks {
		c := &res.Checks[i]
		switch {
		case championIsCandidate && c.Kind == checks.KindVsChampion:
			// Comparing a version with itself says nothing: the candidate already
			// holds the target, so champion comparisons are skipped, not judged.
			c.Status, c.Reason = checks.StatusSkip, "the candidate already holds the target"
			c.Champion, c.Delta, c.ChampionNum = "", "", nil
		case req.Action == ActionRollback && c.Kind == checks.KindVsChampion:
			// A rollback returns to a version that was replaced for a reason; it
			// is expected to compare worse with the version it replaces.
			c.Status, c.Reason = checks.StatusSkip, "not re-checked on rollback"
		case req.Action == ActionRollback && c.Kind == checks.KindRunAge:
			c.Status, c.Reason = checks.StatusSkip, "not re-checked on rollback: the version's run is expected to be older"
		}
	}
	plan.Verdict = checks.VerdictPass
	for _, c := range res.Checks {
		if c.Status == checks.StatusFail {
			plan.Verdict = checks.VerdictFail
		}
	}
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

// resolveVersion turns a version input (number, latest, @alias) into a model version.
func (s *Service) resolveVersion(ctx context.Context, model, v string) (*mlflow.ModelVersion, error) {
	switch {
	case v == "" || v == "latest":
		mv, err := s.Reg.LatestVersion(ctx, model)
		if err != nil {
			return nil, fmt.Errorf("failed to resolve latest version of %q: %w", model, err)
		}
		return mv, nil
	case strings.HasPrefix(v, "@"):
		mv, err := s.Reg.GetModelVersionByAlias(ctx, model, v[1:])
		if errors.Is(err, mlflow.ErrAliasNotFound) {
			return nil, fmt.Errorf("failed to resolve version %s of %q: %w", v, model, err)
		}
		if err != nil {
			return nil, fmt.Errorf("failed to resolve version %s of %q: %w", v, model, err)
		}
		return mv, nil
	default:
		mv, err := s.Reg.GetModelVersion(ctx, model, v)
		if err != nil {
			return nil, fmt.Errorf("failed to get version %s of %q: %w", v, model, err)
		}
		return mv, nil
	}
}

func (s *Service) aliasHolder(ctx context.Context, model, alias string) (*mlflow.ModelVersion, error) {
	mv, err := s.Reg.GetModelVersionByAlias(ctx, model, alias)
	if errors.Is(err, mlflow.ErrAliasNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("failed to read alias @%s of %q: %w", alias, model, err)
	}
	return mv, nil
}

// stageHolder returns the version in the stage. When several share it, the
// highest version wins, as MLflow's get-latest-versions does; the candidate
// counts as the holder when it is among them.
func (s *Service) stageHolder(ctx context.Context, model, stage string, cand *mlflow.ModelVersion) (*mlflow.ModelVersion, error) {
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
func (s *Service) stageVersions(ctx context.Context, model, stage string) ([]mlflow.ModelVersion, error) {
	mvs, err := s.Reg.GetLatestVersions(ctx, model, []string{stage})
	if err != nil {
		return nil, fmt.Errorf("failed to read stage %s of %q: %w", stage, model, err)
	}
	return mvs, nil
}

// pickStageHolder is stageHolder's choice among the versions read.
func pickStageHolder(mvs []mlflow.ModelVersion, stage string, cand *mlflow.ModelVersion) *mlflow.ModelVersion {
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

func refOf(mv *mlflow.ModelVersion) VersionRef {
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
