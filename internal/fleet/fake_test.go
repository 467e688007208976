package fleet_test

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/mlreg/mlreg-action/internal/checks"
	"github.com/mlreg/mlreg-action/internal/mlflow"
	"github.com/mlreg/mlreg-action/internal/promote"
	"github.com/mlreg/mlreg-action/internal/registry"
)

// fakeRegistry is an in-memory MLflow registry of many models, safe for
// concurrent use, answering as MLflow's REST API does (error codes, the
// highest version per stage in latest_versions). fail injects errors; hook
// acts on the registry at a call (e.g. a move by hand).
type fakeRegistry struct {
	mlflow.Rules // MLflow's registry: its names, keys, history and lock

	mu     sync.Mutex
	models map[string]*fakeModel
	runs   map[string]*mlflow.Run
	calls  []string // "op model", in call order
	// noLatest leaves latest_versions out of registered-models/get, as a
	// server that does not send them.
	noLatest bool
	// fail, when set, is asked before each call; a non-nil error is returned
	// without acting.
	fail func(op, model string, args ...string) error
	// hook, when set, runs before each call, outside the lock.
	hook func(op, model string, args ...string)
}

type fakeModel struct {
	tags     map[string]string
	aliases  map[string]string
	versions map[string]*mlflow.ModelVersion
}

var _ registry.Backend = (*fakeRegistry)(nil)

// metric decodes a metric as MLflow sends it.
func metric(key string, v float64) mlflow.Metric {
	var m mlflow.Metric
	if err := json.Unmarshal(fmt.Appendf(nil, `{"key":%q,"value":%v}`, key, v), &m); err != nil {
		panic(err)
	}
	return m
}

func newFake() *fakeRegistry {
	return &fakeRegistry{models: map[string]*fakeModel{}, runs: map[string]*mlflow.Run{}}
}

func notFound(msg string) error {
	return &mlflow.Error{Method: "GET", Path: "/api/2.0/mlflow/x", StatusCode: http.StatusNotFound,
		Code: mlflow.CodeResourceDoesNotExist, Message: msg}
}

// addModel creates model with versions 1..n, each READY with a finished run
// that logged val_auc = aucs[i] (0.80 when aucs is short).
func (f *fakeRegistry) addModel(model string, n int, aucs ...float64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	m := &fakeModel{tags: map[string]string{}, aliases: map[string]string{}, versions: map[string]*mlflow.ModelVersion{}}
	for i := 1; i <= n; i++ {
		v := strconv.Itoa(i)
		run := model + "-run-" + v
		auc := 0.80
		if i <= len(aucs) {
			auc = aucs[i-1]
		}
		f.runs[run] = &mlflow.Run{
			Info: mlflow.RunInfo{RunID: run, Status: mlflow.RunFinished, EndTime: 1},
			Data: mlflow.RunData{Metrics: []mlflow.Metric{metric("val_auc", auc)}},
		}
		m.versions[v] = &mlflow.ModelVersion{Name: model, Version: v, RunID: run, Status: mlflow.StatusReady,
			CurrentStage: mlflow.StageNone}
	}
	f.models[model] = m
}

func (f *fakeRegistry) setAlias(model, alias, v string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.models[model].aliases[alias] = v
}

func (f *fakeRegistry) setStage(model, v, stage string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.models[model].versions[v].CurrentStage = stage
}

func (f *fakeRegistry) setModelTag(model, key, value string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.models[model].tags[key] = value
}

func (f *fakeRegistry) setStatus(model, v, status string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.models[model].versions[v].Status = status
}

// alias returns the version holding alias ("" when unset).
func (f *fakeRegistry) alias(model, alias string) string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.models[model].aliases[alias]
}

func (f *fakeRegistry) modelTag(model, key string) string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.models[model].tags[key]
}

func (f *fakeRegistry) stageOf(model, v string) string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.models[model].versions[v].CurrentStage
}

// history returns the recorded history of a target.
func (f *fakeRegistry) history(model string, t checks.Target) []promote.Record {
	h, err := mlflow.Rules{}.ParseHistory(f.modelTag(model, promote.HistoryTagKey(t)))
	if err != nil {
		panic(err)
	}
	return h
}

// writes returns the calls that change the registry (the lock's excluded).
func (f *fakeRegistry) writes() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	for _, c := range f.calls {
		op, _, _ := strings.Cut(c, " ")
		switch op {
		case "SetAlias", "TransitionStage", "SetModelVersionTag", "SetRegisteredModelTag":
			out = append(out, c)
		}
	}
	return out
}

// count returns how many calls were made, of op when op is not "".
func (f *fakeRegistry) count(op string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for _, c := range f.calls {
		if op == "" || strings.HasPrefix(c, op+" ") {
			n++
		}
	}
	return n
}

func (f *fakeRegistry) resetCalls() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = nil
}

// enter records a call and returns the model (nil when missing), or an injected error.
func (f *fakeRegistry) enter(op, model string, args ...string) (*fakeModel, error) {
	if f.hook != nil {
		f.hook(op, model, args...)
	}
	f.mu.Lock()
	f.calls = append(f.calls, strings.Join(append([]string{op, model}, args...), " "))
	if f.fail != nil {
		if err := f.fail(op, model, args...); err != nil {
			return nil, err
		}
	}
	return f.models[model], nil
}

// leave ends a call entered with enter (which left the lock held).
func (f *fakeRegistry) leave() { f.mu.Unlock() }

func (f *fakeRegistry) version(m *fakeModel, model, v string) (*mlflow.ModelVersion, error) {
	if m == nil {
		return nil, notFound(fmt.Sprintf("Registered Model with name=%s not found", model))
	}
	mv, ok := m.versions[v]
	if !ok {
		return nil, notFound(fmt.Sprintf("Model Version (name=%s, version=%s) not found", model, v))
	}
	c := *mv
	c.Tags = slices.Clone(mv.Tags)
	for _, a := range slices.Sorted(maps.Keys(m.aliases)) {
		if m.aliases[a] == v {
			c.Aliases = append(c.Aliases, a)
		}
	}
	return &c, nil
}

func (f *fakeRegistry) GetRegisteredModel(_ context.Context, name string) (*mlflow.RegisteredModel, error) {
	m, err := f.enter("GetRegisteredModel", name)
	defer f.leave()
	if err != nil {
		return nil, err
	}
	if m == nil {
		return nil, notFound(fmt.Sprintf("Registered Model with name=%s not found", name))
	}
	rm := &mlflow.RegisteredModel{Name: name}
	for _, k := range slices.Sorted(maps.Keys(m.tags)) {
		rm.Tags = append(rm.Tags, mlflow.Tag{Key: k, Value: m.tags[k]})
	}
	for _, a := range slices.Sorted(maps.Keys(m.aliases)) {
		rm.Aliases = append(rm.Aliases, mlflow.AliasRef{Alias: a, Version: m.aliases[a]})
	}
	if !f.noLatest {
		for _, st := range []string{mlflow.StageNone, mlflow.StageStaging, mlflow.StageProduction, mlflow.StageArchived} {
			if mv := highestIn(m, st); mv != nil {
				rm.LatestVersions = append(rm.LatestVersions, *mv)
			}
		}
	}
	return rm, nil
}

func highestIn(m *fakeModel, stage string) *mlflow.ModelVersion {
	var best *mlflow.ModelVersion
	for _, mv := range m.versions {
		if mv.CurrentStage != stage {
			continue
		}
		if n, _ := strconv.Atoi(mv.Version); best == nil || n > atoi(best.Version) {
			best = mv
		}
	}
	if best == nil {
		return nil
	}
	c := *best
	return &c
}

func atoi(s string) int { n, _ := strconv.Atoi(s); return n }

func (f *fakeRegistry) GetModelVersion(_ context.Context, name, version string) (*mlflow.ModelVersion, error) {
	m, err := f.enter("GetModelVersion", name, version)
	defer f.leave()
	if err != nil {
		return nil, err
	}
	return f.version(m, name, version)
}

func (f *fakeRegistry) LatestVersion(_ context.Context, name string) (*mlflow.ModelVersion, error) {
	m, err := f.enter("LatestVersion", name)
	defer f.leave()
	if err != nil {
		return nil, err
	}
	if m == nil {
		return nil, notFound("no model")
	}
	best := "0"
	for v := range m.versions {
		if atoi(v) > atoi(best) {
			best = v
		}
	}
	return f.version(m, name, best)
}

func (f *fakeRegistry) GetModelVersionByAlias(_ context.Context, name, alias string) (*mlflow.ModelVersion, error) {
	m, err := f.enter("GetModelVersionByAlias", name, alias)
	defer f.leave()
	if err != nil {
		return nil, err
	}
	if m == nil {
		return nil, notFound(fmt.Sprintf("Registered Model with name=%s not found", name))
	}
	v, ok := m.aliases[alias]
	if !ok {
		return nil, fmt.Errorf("alias %s of %s: %w", alias, name, mlflow.ErrAliasNotFound)
	}
	return f.version(m, name, v)
}

func (f *fakeRegistry) GetLatestVersions(_ context.Context, name string, stages []string) ([]mlflow.ModelVersion, error) {
	m, err := f.enter("GetLatestVersions", name, stages...)
	defer f.leave()
	if err != nil {
		return nil, err
	}
	if m == nil {
		return nil, notFound("no model")
	}
	var out []mlflow.ModelVersion
	for _, st := range stages {
		if mv := highestIn(m, st); mv != nil {
			out = append(out, *mv)
		}
	}
	return out, nil
}

func (f *fakeRegistry) SetAlias(_ context.Context, name, alias, version string) error {
	m, err := f.enter("SetAlias", name, alias, version)
	defer f.leave()
	if err != nil {
		return err
	}
	if _, err := f.version(m, name, version); err != nil {
		return err
	}
	m.aliases[alias] = version
	return nil
}

func (f *fakeRegistry) TransitionStage(_ context.Context, name, version, stage string, archive bool) (*mlflow.ModelVersion, error) {
	m, err := f.enter("TransitionStage", name, version, stage)
	defer f.leave()
	if err != nil {
		return nil, err
	}
	mv, err := f.version(m, name, version)
	if err != nil {
		return nil, err
	}
	if archive {
		for _, o := range m.versions {
			if o.CurrentStage == stage && o.Version != version {
				o.CurrentStage = mlflow.StageArchived
			}
		}
	}
	m.versions[version].CurrentStage = stage
	mv.CurrentStage = stage
	return mv, nil
}

func (f *fakeRegistry) SetModelVersionTag(_ context.Context, name, version, key, value string) error {
	m, err := f.enter("SetModelVersionTag", name, version, key)
	defer f.leave()
	if err != nil {
		return err
	}
	if _, err := f.version(m, name, version); err != nil {
		return err
	}
	mv := m.versions[version]
	mv.Tags = slices.DeleteFunc(slices.Clone(mv.Tags), func(t mlflow.Tag) bool { return t.Key == key })
	mv.Tags = append(mv.Tags, mlflow.Tag{Key: key, Value: value})
	return nil
}

func (f *fakeRegistry) SetRegisteredModelTag(_ context.Context, name, key, value string) error {
	m, err := f.enter("SetRegisteredModelTag", name, key)
	defer f.leave()
	if err != nil {
		return err
	}
	if m == nil {
		return notFound("no model")
	}
	m.tags[key] = value
	return nil
}

func (f *fakeRegistry) GetRun(_ context.Context, runID string) (*mlflow.Run, error) {
	_, err := f.enter("GetRun", runID)
	defer f.leave()
	if err != nil {
		return nil, err
	}
	r, ok := f.runs[runID]
	if !ok {
		return nil, notFound("run " + runID)
	}
	c := *r
	return &c, nil
}

func (f *fakeRegistry) MetricHistoryPages(context.Context, string, string, func([]mlflow.Metric) error) error {
	return nil
}

func (f *fakeRegistry) GetLoggedModel(_ context.Context, id string) (*mlflow.LoggedModel, error) {
	return nil, notFound("logged model " + id)
}

// The promotion lock: a registered model named mlreg-lock.<model>.

func (f *fakeRegistry) CreateRegisteredModel(_ context.Context, name, _ string, tags []mlflow.Tag) (*mlflow.RegisteredModel, error) {
	m, err := f.enter("CreateRegisteredModel", name)
	defer f.leave()
	if err != nil {
		return nil, err
	}
	if m != nil {
		return nil, &mlflow.Error{StatusCode: http.StatusBadRequest, Code: mlflow.CodeResourceAlreadyExists, Message: "exists"}
	}
	nm := &fakeModel{tags: map[string]string{}, aliases: map[string]string{}, versions: map[string]*mlflow.ModelVersion{}}
	for _, t := range tags {
		nm.tags[t.Key] = t.Value
	}
	f.models[name] = nm
	return &mlflow.RegisteredModel{Name: name, Tags: tags}, nil
}

func (f *fakeRegistry) DeleteRegisteredModel(_ context.Context, name string) error {
	m, err := f.enter("DeleteRegisteredModel", name)
	defer f.leave()
	if err != nil {
		return err
	}
	if m == nil {
		return notFound("no model")
	}
	delete(f.models, name)
	return nil
}

// locks returns the lock models left in the registry.
func (f *fakeRegistry) locks() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	for name := range f.models {
		if strings.HasPrefix(name, mlflow.LockPrefix) {
			out = append(out, name)
		}
	}
	return out
}
