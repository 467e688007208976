package memregistry

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/mlreg/mlreg-action/internal/mlflow"
	"github.com/mlreg/mlreg-action/internal/registry"
	"github.com/mlreg/mlreg-action/internal/testing/mlflowtest"
)

// Fixtures makes the runs, logged models, models and versions of a test in
// the registry, with the methods (and the specs) of mlflowtest.Fixtures, so
// that one test body runs against the real server or this registry. Like
// the server, it counts no call: fixtures are not the product's requests.
type Fixtures struct {
	r   *Registry
	seq int
}

// Fixtures returns the registry's fixture maker.
func (r *Registry) Fixtures() *Fixtures { return &Fixtures{r: r} }

func (f *Fixtures) id(prefix string) string {
	f.r.mu.Lock()
	defer f.r.mu.Unlock()
	f.seq++
	return fmt.Sprintf("%s%032x", prefix, f.r.tick()*1000+int64(f.seq))
}

// CreateExperiment returns a new experiment id.
func (f *Fixtures) CreateExperiment(context.Context, string) (string, error) {
	f.r.mu.Lock()
	defer f.r.mu.Unlock()
	return fmt.Sprint(f.r.tick()), nil
}

// CreateRun adds a run as mlflowtest.Fixtures.CreateRun logs it: its
// metric histories at steps 0..n-1 a millisecond apart, then each metric
// once more (its latest value), its params, tags and dataset inputs, its
// final status and end time.
func (f *Fixtures) CreateRun(_ context.Context, experimentID string, spec mlflowtest.RunSpec) (string, error) {
	runID := f.id("")
	start := time.Now().Add(-time.Minute).UnixMilli()
	run := registry.Run{Info: registry.RunInfo{RunID: runID, RunName: spec.Name, ExperimentID: experimentID,
		Status: cmp.Or(spec.Status, registry.RunFinished), StartTime: start, LifecycleStage: "active",
		ArtifactURI: fmt.Sprintf("mlflow-artifacts:/%s/%s/artifacts", experimentID, runID)}}
	if run.Info.Status != registry.RunRunning && run.Info.Status != "SCHEDULED" {
		end := spec.EndTime
		if end.IsZero() {
			end = time.Now()
		}
		run.Info.EndTime = end.UnixMilli()
	}
	latest := map[string]registry.Metric{}
	for _, k := range slices.Sorted(maps.Keys(spec.History)) {
		var points []registry.Metric
		for i, v := range spec.History[k] {
			points = append(points, registry.Metric{Key: k, Value: registry.MetricValue(v), Timestamp: start + int64(i), Step: int64(i)})
		}
		if n, ok := spec.Metrics[k]; ok {
			points = append(points, registry.Metric{Key: k, Value: registry.MetricValue(n), Timestamp: start + int64(len(points)),
				Step: int64(len(points))})
		}
		f.r.SetMetricHistory(runID, k, points)
		latest[k] = points[len(points)-1]
	}
	for _, k := range slices.Sorted(maps.Keys(spec.Metrics)) {
		if _, ok := latest[k]; !ok {
			latest[k] = registry.Metric{Key: k, Value: registry.MetricValue(spec.Metrics[k]), Timestamp: start}
		}
	}
	for _, k := range slices.Sorted(maps.Keys(latest)) {
		run.Data.Metrics = append(run.Data.Metrics, latest[k])
	}
	for _, k := range slices.Sorted(maps.Keys(spec.Params)) {
		run.Data.Params = append(run.Data.Params, registry.Param{Key: k, Value: spec.Params[k]})
	}
	for _, k := range slices.Sorted(maps.Keys(spec.Tags)) {
		run.Data.Tags = append(run.Data.Tags, registry.Tag{Key: k, Value: spec.Tags[k]})
	}
	for _, d := range spec.Datasets {
		in := registry.DatasetInput{Dataset: registry.Dataset{Name: d.Name, Digest: cmp.Or(d.Digest, mlflowtest.DatasetDigest(d.Name)),
			SourceType: cmp.Or(d.SourceType, "local"), Source: cmp.Or(d.Source, `{"uri": "/data/`+d.Name+`"}`)}}
		if d.Context != "" {
			in.Tags = []registry.Tag{{Key: "mlflow.data.context", Value: d.Context}}
		}
		run.Inputs.DatasetInputs = append(run.Inputs.DatasetInputs, in)
	}
	f.r.AddRun(run)
	return runID, nil
}

// CreateLoggedModel adds an MLflow 3 logged model of the run, READY, with
// metrics on it (and on the run, as the server keeps them).
func (f *Fixtures) CreateLoggedModel(_ context.Context, experimentID, sourceRunID string, metrics []mlflowtest.LoggedMetric) (string, error) {
	if len(metrics) > 0 && sourceRunID == "" {
		return "", fmt.Errorf("failed to create logged model: metrics need a source run")
	}
	id := f.loggedModel(experimentID, sourceRunID, "")
	lm, _ := f.r.LoggedModel(id)
	now := time.Now().UnixMilli()
	for i, m := range metrics {
		mt := registry.Metric{Key: m.Key, Value: registry.MetricValue(m.Value), Timestamp: now + int64(i), Step: m.Step,
			ModelID: id, RunID: sourceRunID}
		if m.Dataset != "" {
			mt.DatasetName, mt.DatasetDigest = m.Dataset, mlflowtest.DatasetDigest(m.Dataset)
		}
		lm.Data.Metrics = append(lm.Data.Metrics, mt)
		run, _ := f.r.Run(sourceRunID)
		run.Data.Metrics = append(slices.DeleteFunc(run.Data.Metrics, func(o registry.Metric) bool { return o.Key == m.Key }), mt)
		f.r.AddRun(run)
		f.r.locked(func() { f.r.history[sourceRunID+"/"+m.Key] = append(f.r.history[sourceRunID+"/"+m.Key], mt) })
	}
	f.r.AddLoggedModel(lm)
	return id, nil
}

// CreateNamedLoggedModel adds a READY logged model called name of the run.
func (f *Fixtures) CreateNamedLoggedModel(_ context.Context, experimentID, sourceRunID, name string) (string, error) {
	return f.loggedModel(experimentID, sourceRunID, name), nil
}

func (f *Fixtures) loggedModel(experimentID, sourceRunID, name string) string {
	id := f.id("m-")
	f.r.AddLoggedModel(registry.LoggedModel{Info: registry.LoggedModelInfo{ModelID: id, ExperimentID: experimentID,
		Name: name, SourceRunID: sourceRunID, Status: "LOGGED_MODEL_READY", CreationTimestampMs: time.Now().UnixMilli(),
		ArtifactURI: fmt.Sprintf("mlflow-artifacts:/%s/models/%s/artifacts", experimentID, id)}})
	return id
}

// CreateRegisteredModel creates a registered model.
func (f *Fixtures) CreateRegisteredModel(_ context.Context, name string) error {
	f.r.CreateModel(name)
	return nil
}

var loggedModelSource = regexp.MustCompile(`^models:/(m-[0-9a-f]+)/?$`)

// CreateVersion registers the next version of model from source; for a
// logged model (models:/m-<id>) the version names it and, without runID,
// takes its source run, as the server does.
func (f *Fixtures) CreateVersion(_ context.Context, model, source, runID string, tags map[string]string) (string, error) {
	if _, ok := f.r.Model(model); !ok {
		return "", fmt.Errorf("failed to create version of %q: %w", model, fixtureErr(modelNotFound("POST", "model-versions/create", model)))
	}
	mv := registry.ModelVersion{Source: source, RunID: runID}
	if m := loggedModelSource.FindStringSubmatch(source); m != nil {
		if lm, ok := f.r.LoggedModel(m[1]); ok && runID == "" {
			mv.RunID = lm.Info.SourceRunID
		}
	}
	for _, k := range slices.Sorted(maps.Keys(tags)) {
		mv.Tags = append(mv.Tags, registry.Tag{Key: k, Value: tags[k]})
	}
	return f.r.AddVersion(model, mv), nil
}

// RunArtifactSource is the artifact URI of a path in the run's artifacts.
func (f *Fixtures) RunArtifactSource(_ context.Context, runID, subpath string) (string, error) {
	run, ok := f.r.Run(runID)
	if !ok {
		return "", fmt.Errorf("failed to get run %s: not found", runID)
	}
	return strings.TrimRight(run.Info.ArtifactURI, "/") + "/" + strings.TrimLeft(subpath, "/"), nil
}

// CreateRunVersion registers the model at "model" in the run's artifacts.
func (f *Fixtures) CreateRunVersion(ctx context.Context, model, runID string, tags map[string]string) (string, error) {
	src, err := f.RunArtifactSource(ctx, runID, "model")
	if err != nil {
		return "", err
	}
	return f.CreateVersion(ctx, model, src, runID, tags)
}

// HasModel reports whether a registered model of that name exists.
func (f *Fixtures) HasModel(_ context.Context, name string) (bool, error) {
	_, ok := f.r.Model(name)
	return ok, nil
}

// SetAlias points alias at version.
func (f *Fixtures) SetAlias(_ context.Context, model, alias, version string) error {
	if _, ok := f.r.Version(model, version); !ok {
		return fmt.Errorf("failed to set alias %q of %q to %s: %w", alias, model, version,
			fixtureErr(versionNotFound("POST", "registered-models/alias", model, version)))
	}
	f.r.SetAliasDirect(model, alias, version)
	return nil
}

// DeleteAlias removes alias (a missing alias is not an error).
func (f *Fixtures) DeleteAlias(_ context.Context, model, alias string) error {
	f.r.DeleteAliasDirect(model, alias)
	return nil
}

// Transition moves version to stage without archiving other versions.
func (f *Fixtures) Transition(_ context.Context, model, version, stage string) error {
	f.r.SetStage(model, version, stage)
	return nil
}

// TransitionArchiving moves version to stage and archives the other versions in it.
func (f *Fixtures) TransitionArchiving(_ context.Context, model, version, stage string) error {
	for _, v := range f.r.Versions(model) {
		if mv, _ := f.r.Version(model, v); v != version && mv.CurrentStage == stage {
			f.r.SetStage(model, v, registry.StageArchived)
		}
	}
	f.r.SetStage(model, version, stage)
	return nil
}

// GetVersion returns the version as the server's JSON decodes (with its aliases).
func (f *Fixtures) GetVersion(_ context.Context, model, version string) (map[string]any, error) {
	mv, ok := f.r.Version(model, version)
	if !ok {
		return nil, fmt.Errorf("failed to get %q version %s: %w", model, version, fixtureErr(versionNotFound("GET", "model-versions/get", model, version)))
	}
	b, err := json.Marshal(mv)
	if err != nil {
		return nil, fmt.Errorf("failed to encode version: %w", err)
	}
	var out map[string]any
	if err := json.Unmarshal(b, &out); err != nil {
		return nil, fmt.Errorf("failed to decode version: %w", err)
	}
	return out, nil
}

// AliasVersion returns the version alias points at, or "" when it is not set.
func (f *Fixtures) AliasVersion(_ context.Context, model, alias string) (string, error) {
	if _, ok := f.r.Model(model); !ok {
		return "", fmt.Errorf("failed to get alias %q of %q: %w", alias, model, fixtureErr(modelNotFound("GET", "registered-models/alias", model)))
	}
	return f.r.Alias(model, alias), nil
}

// Aliases returns the model's alias → version map.
func (f *Fixtures) Aliases(_ context.Context, model string) (map[string]string, error) {
	rm, ok := f.r.Model(model)
	if !ok {
		return nil, fmt.Errorf("failed to get registered model %q: %w", model, fixtureErr(modelNotFound("GET", "registered-models/get", model)))
	}
	out := map[string]string{}
	for _, a := range rm.Aliases {
		out[a.Alias] = a.Version
	}
	return out, nil
}

// ModelTags returns the registered model's tags.
func (f *Fixtures) ModelTags(_ context.Context, model string) (map[string]string, error) {
	rm, ok := f.r.Model(model)
	if !ok {
		return nil, fmt.Errorf("failed to get registered model %q: %w", model, fixtureErr(modelNotFound("GET", "registered-models/get", model)))
	}
	return tagMap(rm.Tags), nil
}

// VersionTags returns the version's tags.
func (f *Fixtures) VersionTags(_ context.Context, model, version string) (map[string]string, error) {
	mv, ok := f.r.Version(model, version)
	if !ok {
		return nil, fmt.Errorf("failed to get %q version %s: %w", model, version, fixtureErr(versionNotFound("GET", "model-versions/get", model, version)))
	}
	return tagMap(mv.Tags), nil
}

// SetModelTag sets a tag on the registered model.
func (f *Fixtures) SetModelTag(_ context.Context, model, key, value string) error {
	f.r.SetModelTagDirect(model, key, value)
	return nil
}

// SetVersionTag sets a tag on a model version.
func (f *Fixtures) SetVersionTag(_ context.Context, model, version, key, value string) error {
	f.r.SetVersionTagDirect(model, version, key, value)
	return nil
}

// fixtureErr is e as mlflowtest.Fixtures reports an answer of the server.
func fixtureErr(e *mlflow.Error) error {
	return &mlflowtest.APIError{Method: e.Method, Path: e.Path, StatusCode: e.StatusCode, ErrorCode: e.Code, Message: e.Message}
}

func tagMap(tags []registry.Tag) map[string]string {
	out := make(map[string]string, len(tags))
	for _, t := range tags {
		out[t.Key] = t.Value
	}
	return out
}
