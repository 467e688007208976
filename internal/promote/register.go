package promote

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/mlreg/mlreg-action/internal/registry"
)

// Lineage tag keys written on every registered version.
const (
	LineagePrefix      = "mlreg.lineage."
	TagLineageCommit   = LineagePrefix + "commit"
	TagLineageRepo     = LineagePrefix + "repository"
	TagLineageWorkflow = LineagePrefix + "workflow_run"
	TagLineageActor    = LineagePrefix + "actor"
	TagLineageRun      = LineagePrefix + "run_id"
	TagLineageDatasets = LineagePrefix + "datasets"
	TagLineageRunLink  = LineagePrefix + "run_link"
)

// Lineage is where a registration came from.
type Lineage struct {
	Commit, Repository, WorkflowRunURL, Actor string
}

// RegisterRequest asks for a new model version.
type RegisterRequest struct {
	Model        string
	RunID        string // with ArtifactPath: source runs:/<run>/<path>
	ArtifactPath string
	Source       string // instead of RunID+ArtifactPath: any model URI, e.g. models:/m-<id>
	Description  string
	Tags         map[string]string
	Lineage      Lineage
	// AllowUnfinishedRun registers from a run that is not FINISHED.
	AllowUnfinishedRun bool
	// RunLink returns the MLflow UI page of a run (for the version's run_link).
	RunLink func(experimentID, runID string) string
	// PollInterval is the first wait between READY checks (default 1s; it doubles up to 10s).
	PollInterval time.Duration
	Sleep        func(ctx context.Context, d time.Duration) error
	// Logf, when set, is told which source a runs:/ URI resolved to, and why.
	Logf func(format string, args ...any)
}

// Registered is the result of Register.
type Registered struct {
	Version *registry.ModelVersion
	// Reused is set when this workflow run had already registered the same
	// source: a rerun returns that version instead of a duplicate.
	Reused bool
	Polls  int
	// Requested is the runs:/ URI asked for, and Resolution which source it
	// resolved to and why; both "" for any other source.
	Requested, Resolution string
}

// Validate checks a register request before anything is sent, under the
// registry's rules, with the functions that check the action's inputs
// (registry.CheckModelName, CheckRegisterSource); the errors wrap ErrInvalid.
func (r *RegisterRequest) Validate(rules registry.Rules) error {
	var errs []error
	if err := registry.CheckModelName(rules, r.Model); err != nil {
		errs = append(errs, invalid(err))
	}
	if err := CheckRegisterSource(r.RunID, r.ArtifactPath, r.Source); err != nil {
		for _, e := range unjoin(err) {
			errs = append(errs, invalid(e))
		}
	}
	return errors.Join(errs...)
}

func unjoin(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		return j.Unwrap()
	}
	return []error{err}
}

// runsURI is a runs:/<run_id>/<artifact path> source.
type runsURI struct {
	source, runID, path string
}

// resolveSource returns the source as requested, its run, the logged model it
// names (models:/m-<id>), and its parts when it is a runs:/ URI.
func (r *RegisterRequest) resolveSource() (source, runID, modelID string, runs *runsURI) {
	source, runID = r.Source, r.RunID
	if source == "" {
		source = fmt.Sprintf("runs:/%s/%s", runID, strings.Trim(r.ArtifactPath, "/"))
	}
	if rest, ok := strings.CutPrefix(source, "runs:/"); ok {
		run, p, _ := strings.Cut(rest, "/")
		if runID == "" {
			runID = run
		}
		runs = &runsURI{source: source, runID: run, path: strings.Trim(p, "/")}
	}
	if rest, ok := strings.CutPrefix(source, "models:/"); ok && strings.HasPrefix(rest, "m-") && !strings.ContainsAny(rest, "/@") {
		modelID = rest
	}
	return source, runID, modelID, runs
}

// Register creates a model version with lineage tags and waits until it is READY.
func (s *Service) Register(ctx context.Context, reg registry.Registrar, req RegisterRequest) (*Registered, error) {
	if err := req.Validate(reg); err != nil {
		return nil, err
	}
	s.phase("resolve")
	source, runID, modelID, runs := req.resolveSource()
	if runID != "" {
		// Searched for by run id later (the rerun's lookup): refuse what cannot
		// be quoted before anything is read.
		if _, err := registry.QuoteFilterValue(runID); err != nil {
			return nil, invalidf("input run-id: %v", err)
		}
	}
	if modelID != "" {
		lm, err := reg.GetLoggedModel(ctx, modelID)
		if err != nil {
			return nil, err // it names the logged model
		}
		if runID == "" {
			runID = lm.Info.SourceRunID
		}
	}
	tags := map[string]string{}
	for k, v := range map[string]string{
		TagLineageCommit:   req.Lineage.Commit,
		TagLineageRepo:     req.Lineage.Repository,
		TagLineageWorkflow: req.Lineage.WorkflowRunURL,
		TagLineageActor:    req.Lineage.Actor,
	} {
		if v != "" {
			tags[k] = v
		}
	}
	runLink, requested, resolution := "", "", ""
	if runID != "" {
		run, err := reg.GetRun(ctx, runID)
		if err != nil {
			return nil, err // it names the run
		}
		if st := run.Info.Status; st != registry.RunFinished && !req.AllowUnfinishedRun {
			return nil, invalidf("run %s is %s, not FINISHED; set input allow-unfinished-run: true to register it anyway", runID, st)
		}
		if runs != nil {
			res, err := resolveRunsURI(ctx, reg, run, runs)
			if err != nil {
				return nil, err
			}
			requested, source, modelID, resolution = runs.source, res.source, res.modelID, res.why
			if req.Logf != nil {
				req.Logf("source %s: %s", runs.source, resolution)
			}
		}
		tags[TagLineageRun] = runID
		if ds := datasetsJSON(run); ds != "" {
			tags[TagLineageDatasets] = ds
		}
		if req.RunLink != nil {
			runLink = req.RunLink(run.Info.ExperimentID, runID)
			tags[TagLineageRunLink] = runLink
		}
	}
	for k, v := range req.Tags {
		tags[k] = v // user tags win over lineage tags of the same key
	}

	s.phase("apply")
	if mv, err := s.findRegistered(ctx, reg, req.Model, source, runID, req.Lineage.WorkflowRunURL); err != nil {
		return nil, err
	} else if mv != nil {
		return s.awaitReady(ctx, reg, mv, req, true, requested, resolution)
	}
	if _, err := reg.CreateRegisteredModel(ctx, req.Model, "", nil); err != nil && !registry.IsAlreadyExists(err) {
		return nil, err // it names the model
	}
	mv, err := reg.CreateModelVersion(ctx, registry.CreateModelVersionRequest{
		Name:        req.Model,
		Source:      source,
		RunID:       runID,
		Tags:        sortedTags(tags),
		RunLink:     runLink,
		Description: req.Description,
		ModelID:     modelID,
	})
	if err != nil {
		// The error names the model and the source.
		switch {
		case !createMayHaveRun(err):
		case req.Lineage.WorkflowRunURL != "" && runID != "":
			err = fmt.Errorf("%w; the server may have registered the version all the same: "+
				"a rerun of this workflow run finds it by its lineage tags and reuses it", err)
		default:
			err = fmt.Errorf("%w; the server may have registered the version all the same: "+
				"look for a version of %q from %s before registering again", err, req.Model, source)
		}
		return nil, err
	}
	return s.awaitReady(ctx, reg, mv, req, false, requested, resolution)
}

// findRegistered returns a version this workflow run already registered from
// the same source, so that a rerun after a failure half-way creates no duplicate.
func (s *Service) findRegistered(ctx context.Context, reg registry.Registrar, model, source, runID, workflowRun string) (*registry.ModelVersion, error) {
	if workflowRun == "" || runID == "" {
		return nil, nil
	}
	qm, err := registry.QuoteFilterValue(model)
	if err != nil {
		return nil, invalidf("input model-name: %v", err)
	}
	qr, err := registry.QuoteFilterValue(runID)
	if err != nil {
		return nil, invalidf("input run-id: %v", err)
	}
	mvs, err := reg.SearchModelVersions(ctx, "name="+qm+" AND run_id="+qr, nil, 0)
	if err != nil {
		if registry.IsNotFound(err) {
			return nil, nil
		}
		return nil, err // it names the search
	}
	for i := range mvs {
		mv := &mvs[i]
		if w, _ := mv.Tag(TagLineageWorkflow); mv.Source == source && w == workflowRun {
			return mv, nil
		}
	}
	return nil, nil
}

func (s *Service) awaitReady(ctx context.Context, reg registry.Registrar, mv *registry.ModelVersion, req RegisterRequest,
	reused bool, requested, resolution string) (*Registered, error) {
	s.phase("record")
	out := &Registered{Version: mv, Reused: reused, Requested: requested, Resolution: resolution}
	wait := req.PollInterval
	if wait <= 0 {
		wait = time.Second
	}
	sleep := req.Sleep
	if sleep == nil {
		sleep = registry.SleepContext
	}
	for {
		switch mv.Status {
		case "", registry.StatusReady:
			out.Version = mv
			return out, nil
		case registry.StatusFailedRegistration:
			return nil, fmt.Errorf("%w: %s v%s failed to register: %s", ErrNotReady, mv.Name, mv.Version, mv.StatusMessage)
		}
		if err := sleep(ctx, wait); err != nil {
			return nil, fmt.Errorf("failed to wait for %s v%s to be READY (still %s): %w", mv.Name, mv.Version, mv.Status, err)
		}
		wait = min(wait*2, 10*time.Second)
		next, err := reg.GetModelVersion(ctx, mv.Name, mv.Version)
		if err != nil {
			return nil, fmt.Errorf("failed to poll %s v%s: %w", mv.Name, mv.Version, err)
		}
		out.Polls++
		mv = next
	}
}

// datasetsJSON summarises a run's dataset inputs for the lineage tag.
func datasetsJSON(run *registry.Run) string {
	type ds struct {
		Name       string `json:"name"`
		Digest     string `json:"digest,omitempty"`
		SourceType string `json:"source_type,omitempty"`
		Source     string `json:"source,omitempty"`
		Context    string `json:"context,omitempty"`
	}
	var out []ds
	for _, in := range run.Inputs.DatasetInputs {
		d := ds{Name: in.Dataset.Name, Digest: in.Dataset.Digest, SourceType: in.Dataset.SourceType, Source: in.Dataset.Source}
		for _, t := range in.Tags {
			if t.Key == "mlflow.data.context" {
				d.Context = t.Value
			}
		}
		out = append(out, d)
	}
	if len(out) == 0 {
		return ""
	}
	// Keep the tag valid JSON and bounded: drop trailing datasets until it fits.
	for ; len(out) > 0; out = out[:len(out)-1] {
		if b, err := json.Marshal(out); err == nil && len(b) <= 5000 {
			return string(b)
		}
	}
	return ""
}

func sortedTags(m map[string]string) []registry.Tag {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	out := make([]registry.Tag, 0, len(keys))
	for _, k := range keys {
		out = append(out, registry.Tag{Key: k, Value: m[k]})
	}
	return out
}
