// Package memregistry is an in-memory model registry for tests: a
// registry.Backend (and registry.Registrar) that answers as MLflow's REST
// API does, through the errors internal/mlflow's client returns, under the
// rules it is given (mlflow.Rules, or uc.Rules for Unity Catalog's keys,
// limits and lock).
//
// What it keeps: registered models with their tags, aliases and versions
// (numbered from 1, max+1 per model, READY unless Pending says otherwise);
// runs with their metric histories; MLflow 3 logged models; run artifacts.
// What it does as MLflow does: tags are upserts, an alias points to one
// version and setting it moves it, an unset alias is exactly
// registry.ErrAliasNotFound, a name that exists cannot be created again
// (the lock relies on it), archive_existing archives the other versions of
// the stage, latest_versions lists the highest version of each stage, and
// searches and latest_versions carry no aliases. Under rules with a tag
// limit it refuses what that registry refuses: a key or value not in the
// registry's form, a tag past MaxTagsPerObject, any stage.
//
// internal/testing/registrytest runs the same cases against it, the real
// MLflow server and the Unity Catalog fake, so it cannot drift from them.
//
// Tests set state through the fixture methods (CreateModel, AddVersion,
// AddRun, ...), read it back (Model, Version, Alias, ...), see every call
// in order (Calls), and plan faults (Fail, LoseAnswer, Before).
package memregistry

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/mlreg/mlreg-action/internal/checks"
	"github.com/mlreg/mlreg-action/internal/mlflow"
	"github.com/mlreg/mlreg-action/internal/registry"
)

// Registry is the in-memory registry. It is safe for concurrent use.
type Registry struct {
	registry.Rules

	mu        sync.Mutex
	models    map[string]*model
	runs      map[string]*registry.Run
	history   map[string][]registry.Metric // runID + "/" + key
	logged    map[string]*registry.LoggedModel
	artifacts map[string][]registry.FileInfo // runID + "/" + path
	clock     int64                          // milliseconds; each write ticks
	calls     []Call
	faults    []*fault
	intercept func(Call) error

	// noLatest leaves latest_versions out of GetRegisteredModel's answer.
	noLatest bool

	// noLoggedModels answers the logged-models API as MLflow 2.x does (404).
	noLoggedModels bool
	// pendingPolls, finalStatus, finalMessage: see SetPending.
	pendingPolls int
	finalStatus  string
	finalMessage string
	pending      map[string]int // model + "/" + version → reads left pending
}

var _ registry.Registrar = (*Registry)(nil)

type model struct {
	name        string
	description string
	tags        []registry.Tag
	aliases     map[string]string
	versions    map[string]*registry.ModelVersion
	created     int64
}

// New returns an empty registry under rules (mlflow.Rules{} when nil).
func New(rules registry.Rules) *Registry {
	if rules == nil {
		rules = mlflow.Rules{}
	}
	return &Registry{
		Rules: rules, models: map[string]*model{}, runs: map[string]*registry.Run{},
		history: map[string][]registry.Metric{}, logged: map[string]*registry.LoggedModel{},
		artifacts: map[string][]registry.FileInfo{}, pending: map[string]int{}, clock: 1_700_000_000_000,
	}
}

// --- errors, as MLflow's server sends them and the client returns them ---

const apiPrefix = "/api/2.0/mlflow/"

func apiError(method, path string, status int, code, format string, args ...any) *mlflow.Error {
	return &mlflow.Error{Method: method, Path: apiPrefix + path, StatusCode: status, Code: code, Message: fmt.Sprintf(format, args...)}
}

func modelNotFound(method, path, name string) *mlflow.Error {
	return apiError(method, path, http.StatusNotFound, mlflow.CodeResourceDoesNotExist, "Registered Model with name=%s not found", name)
}

func versionNotFound(method, path, name, version string) *mlflow.Error {
	return apiError(method, path, http.StatusNotFound, mlflow.CodeResourceDoesNotExist, "Model Version (name=%s, version=%s) not found", name, version)
}

// --- fixtures ---

// CreateModel creates a registered model with tags (key, value pairs) and
// returns its name; an existing model keeps its versions and gets the tags.
func (r *Registry) CreateModel(name string, tags ...string) string {
	r.mu.Lock()
	defer r.mu.Unlock()
	m := r.models[name]
	if m == nil {
		m = r.newModel(name, "")
	}
	for i := 0; i+1 < len(tags); i += 2 {
		m.tags = upsertTag(m.tags, tags[i], tags[i+1])
	}
	return name
}

func (r *Registry) newModel(name, description string) *model {
	m := &model{name: name, description: description, aliases: map[string]string{},
		versions: map[string]*registry.ModelVersion{}, created: r.tick()}
	r.models[name] = m
	return m
}

// AddVersion registers the next version of model (created when absent)
// with mv's source, run, tags, stage and status (READY and stage None when
// empty), and returns its number. A run id without a run adds a FINISHED
// run of that id.
func (r *Registry) AddVersion(modelName string, mv registry.ModelVersion) string {
	r.mu.Lock()
	defer r.mu.Unlock()
	m := r.models[modelName]
	if m == nil {
		m = r.newModel(modelName, "")
	}
	v := *mv.Clone()
	v.Name, v.Version = modelName, nextVersion(m)
	v.Status = cmp.Or(v.Status, registry.StatusReady)
	v.CurrentStage = cmp.Or(v.CurrentStage, registry.StageNone)
	v.Aliases = nil
	v.CreationTimestamp, v.LastUpdatedTimestamp = r.tick(), r.clock
	m.versions[v.Version] = &v
	if v.RunID != "" && r.runs[v.RunID] == nil {
		r.runs[v.RunID] = &registry.Run{Info: registry.RunInfo{RunID: v.RunID, Status: registry.RunFinished, EndTime: r.clock}}
	}
	return v.Version
}

// locked runs fn holding the registry's lock.
func (r *Registry) locked(fn func()) {
	r.mu.Lock()
	defer r.mu.Unlock()
	fn()
}

// edit runs fn on a model, when it exists, holding the registry's lock.
func (r *Registry) edit(modelName string, fn func(m *model)) {
	r.locked(func() {
		if m := r.models[modelName]; m != nil {
			fn(m)
		}
	})
}

// AddRun adds (or replaces) a run; its id is run.Info.RunID.
func (r *Registry) AddRun(run registry.Run) {
	r.locked(func() { r.runs[run.Info.RunID] = &run })
}

// SetMetricHistory sets the history of a run's metric; a run without one
// answers with the run's latest value of that key.
func (r *Registry) SetMetricHistory(runID, key string, points []registry.Metric) {
	r.locked(func() { r.history[runID+"/"+key] = slices.Clone(points) })
}

// AddLoggedModel adds (or replaces) an MLflow 3 logged model.
func (r *Registry) AddLoggedModel(lm registry.LoggedModel) {
	r.locked(func() { r.logged[lm.Info.ModelID] = &lm })
}

// SetArtifacts lists the artifacts of a run under path.
func (r *Registry) SetArtifacts(runID, path string, files []registry.FileInfo) {
	r.locked(func() { r.artifacts[runID+"/"+path] = slices.Clone(files) })
}

// SetAliasDirect points alias at version directly (a move by hand).
func (r *Registry) SetAliasDirect(modelName, alias, version string) {
	r.edit(modelName, func(m *model) { m.aliases[alias] = version })
}

// PutVersion adds (or replaces) a version under the number, stage and
// status mv gives, as they are; a run id without a run adds a FINISHED run
// of that id.
func (r *Registry) PutVersion(modelName string, mv registry.ModelVersion) {
	r.mu.Lock()
	defer r.mu.Unlock()
	m := r.models[modelName]
	if m == nil {
		m = r.newModel(modelName, "")
	}
	v := mv.Clone()
	v.Name, v.Aliases = modelName, nil
	m.versions[v.Version] = v
	if v.RunID != "" && r.runs[v.RunID] == nil {
		r.runs[v.RunID] = &registry.Run{Info: registry.RunInfo{RunID: v.RunID, Status: registry.RunFinished, EndTime: 1}}
	}
}

// DeleteVersionDirect deletes a version and the aliases that point to it.
func (r *Registry) DeleteVersionDirect(modelName, version string) {
	r.edit(modelName, func(m *model) {
		delete(m.versions, version)
		maps.DeleteFunc(m.aliases, func(_, v string) bool { return v == version })
	})
}

// DeleteModelDirect deletes a registered model (a lock released by hand).
func (r *Registry) DeleteModelDirect(name string) {
	r.locked(func() { delete(r.models, name) })
}

// DeleteAliasDirect unsets an alias directly.
func (r *Registry) DeleteAliasDirect(modelName, alias string) {
	r.edit(modelName, func(m *model) { delete(m.aliases, alias) })
}

// Run returns a copy of a run, without counting a call.
func (r *Registry) Run(runID string) (registry.Run, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	run := r.runs[runID]
	if run == nil {
		return registry.Run{}, false
	}
	return *run, true
}

// LoggedModel returns a copy of a logged model, without counting a call.
func (r *Registry) LoggedModel(id string) (registry.LoggedModel, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	lm := r.logged[id]
	if lm == nil {
		return registry.LoggedModel{}, false
	}
	return *lm, true
}

// ResetCalls forgets the calls made so far.
func (r *Registry) ResetCalls() { r.locked(func() { r.calls = nil }) }

// ClearFaults drops every planned fault and hook.
func (r *Registry) ClearFaults() { r.locked(func() { r.faults = nil }) }

// editVersion runs fn on a version, when it exists, holding the lock.
func (r *Registry) editVersion(modelName, version string, fn func(mv *registry.ModelVersion)) {
	r.edit(modelName, func(m *model) {
		if mv := m.versions[version]; mv != nil {
			fn(mv)
		}
	})
}

// SetStage puts a version in a stage directly (a move by hand).
func (r *Registry) SetStage(modelName, version, stage string) {
	r.editVersion(modelName, version, func(mv *registry.ModelVersion) { mv.CurrentStage = stage })
}

// SetModelTagDirect sets a registered model tag directly, under the key given.
func (r *Registry) SetModelTagDirect(modelName, key, value string) {
	r.edit(modelName, func(m *model) { m.tags = upsertTag(m.tags, key, value) })
}

// SetVersionTagDirect sets a version tag directly, under the key given.
func (r *Registry) SetVersionTagDirect(modelName, version, key, value string) {
	r.editVersion(modelName, version, func(mv *registry.ModelVersion) { mv.Tags = upsertTag(mv.Tags, key, value) })
}

// SetNoLoggedModels makes the logged-models API answer as MLflow 2.x does.
func (r *Registry) SetNoLoggedModels() { r.locked(func() { r.noLoggedModels = true }) }

// SetPending makes each version CreateModelVersion creates stay
// PENDING_REGISTRATION for polls reads, then become status (READY when
// empty) with message.
func (r *Registry) SetPending(polls int, status, message string) {
	r.locked(func() { r.pendingPolls, r.finalStatus, r.finalMessage = polls, status, message })
}

// --- reading the state back ---

// Model returns the registered model as GetRegisteredModel does, without
// counting a call; false when it does not exist.
func (r *Registry) Model(name string) (*registry.RegisteredModel, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	m := r.models[name]
	if m == nil {
		return nil, false
	}
	return r.registeredModel(m), true
}

// Models lists the names of the registered models, sorted.
func (r *Registry) Models() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Sorted(maps.Keys(r.models))
}

// Version returns a version with its aliases, without counting a call.
func (r *Registry) Version(modelName, version string) (*registry.ModelVersion, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	m := r.models[modelName]
	if m == nil || m.versions[version] == nil {
		return nil, false
	}
	return withAliases(m, m.versions[version]), true
}

// Versions lists the version numbers of a model, in order.
func (r *Registry) Versions(modelName string) []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	m := r.models[modelName]
	if m == nil {
		return nil
	}
	out := slices.Collect(maps.Keys(m.versions))
	slices.SortFunc(out, func(a, b string) int { return number(a) - number(b) })
	return out
}

// Alias is the version alias points to, "" when unset.
func (r *Registry) Alias(modelName, alias string) string {
	r.mu.Lock()
	defer r.mu.Unlock()
	if m := r.models[modelName]; m != nil {
		return m.aliases[alias]
	}
	return ""
}

// ModelTag is a registered model's tag value under the key given, "" when unset.
func (r *Registry) ModelTag(modelName, key string) string {
	rm, ok := r.Model(modelName)
	if !ok {
		return ""
	}
	v, _ := rm.Tag(key)
	return v
}

// VersionTag is a version's tag value under the key given, "" when unset.
func (r *Registry) VersionTag(modelName, version, key string) string {
	mv, ok := r.Version(modelName, version)
	if !ok {
		return ""
	}
	v, _ := mv.Tag(key)
	return v
}

// Call is one call the registry served: its method, the model it is about
// ("" for a run or a logged model), and what within the model (the model
// itself for registered-model calls; the version, alias, key or run).
type Call struct {
	Method, Model, Detail string
}

// String is "Method Detail", as Calls lists it.
func (c Call) String() string { return strings.TrimSpace(c.Method + " " + c.Detail) }

// CallLog returns every call made so far, in order.
func (r *Registry) CallLog() []Call {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.calls)
}

// Calls returns every call made so far, in order, as "Method Detail".
func (r *Registry) Calls() []string {
	var out []string
	for _, c := range r.CallLog() {
		out = append(out, c.String())
	}
	return out
}

// Intercept has fn asked before each call (without the registry's lock); a
// non-nil error is returned without acting.
func (r *Registry) Intercept(fn func(Call) error) { r.locked(func() { r.intercept = fn }) }

// SetNoLatestVersions leaves latest_versions out of GetRegisteredModel's
// answer, as a server that does not send them.
func (r *Registry) SetNoLatestVersions() { r.locked(func() { r.noLatest = true }) }

// CallsOf returns the calls whose text starts with prefix.
func (r *Registry) CallsOf(prefix string) []string {
	var out []string
	for _, c := range r.Calls() {
		if strings.HasPrefix(c, prefix) {
			out = append(out, c)
		}
	}
	return out
}

// Writes returns the calls that change the registry, as Calls lists them.
func (r *Registry) Writes() []string {
	var out []string
	for _, c := range r.CallLog() {
		if c.Write() {
			out = append(out, c.String())
		}
	}
	return out
}

// Write reports whether the call changes the registry.
func (c Call) Write() bool {
	for _, w := range []string{"Set", "Create", "Delete", "Transition"} {
		if strings.HasPrefix(c.Method, w) {
			return true
		}
	}
	return false
}

// --- faults ---

// fault is a planned failure of one call (or of every call) of a method.
type fault struct {
	method string // e.g. "SetModelVersionTag"
	match  string // only calls whose detail contains this count; "" = every call
	call   int    // which matching call (1-based) fails; 0 = each one
	err    error  // returned to the caller; nil with only a hook
	// executed: the registry carries the call out, then the answer is lost.
	executed bool
	// hook, when set, runs before the call, without the registry's lock:
	// another writer getting in at exactly that moment.
	hook func()
	seen int
}

// Fail plans err for the call-th call of method whose detail contains
// match (call 0: every such call). The call does nothing.
func (r *Registry) Fail(method, match string, call int, err error) {
	r.plan(&fault{method: method, match: match, call: call, err: err})
}

// LoseAnswer plans a call that the registry carries out but whose answer
// is lost: err reaches the caller.
func (r *Registry) LoseAnswer(method, match string, call int, err error) {
	r.plan(&fault{method: method, match: match, call: call, err: err, executed: true})
}

// Before runs hook right before the call-th call of method whose detail
// contains match (call 0: before each one).
func (r *Registry) Before(method, match string, call int, hook func()) {
	r.plan(&fault{method: method, match: match, call: call, hook: hook})
}

func (r *Registry) plan(f *fault) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.faults = append(r.faults, f)
}

// outcome is a call's planned fault, if any.
type outcome struct{ f *fault }

// refused is the error of a call that must do nothing.
func (o outcome) refused() error {
	if o.f != nil && !o.f.executed {
		return o.f.err
	}
	return nil
}

// lost is the error of a call that was carried out.
func (o outcome) lost() error {
	if o.f != nil && o.f.executed {
		return o.f.err
	}
	return nil
}

// begin records a call, runs the hooks planned for it and returns its
// planned fault; it takes the lock itself and returns without it.
func (r *Registry) begin(c Call) (outcome, error) {
	method, detail := c.Method, c.Detail
	r.mu.Lock()
	r.calls = append(r.calls, c)
	intercept := r.intercept
	var hit *fault
	var hooks []func()
	for _, f := range r.faults {
		if f.method != method || !strings.Contains(detail, f.match) {
			continue
		}
		f.seen++
		if f.call != 0 && f.seen != f.call {
			continue
		}
		if f.hook != nil {
			hooks = append(hooks, f.hook)
		}
		if f.err != nil && hit == nil {
			hit = f
		}
	}
	r.mu.Unlock()
	for _, h := range hooks {
		h()
	}
	if intercept != nil {
		if err := intercept(c); err != nil {
			return outcome{}, err
		}
	}
	return outcome{hit}, nil
}

// --- the calls ---

func (r *Registry) tick() int64 {
	r.clock++
	return r.clock
}

func nextVersion(m *model) string {
	n := 0
	for v := range m.versions {
		n = max(n, number(v))
	}
	return strconv.Itoa(n + 1)
}

func number(v string) int {
	n, _ := strconv.Atoi(v)
	return n
}

func upsertTag(tags []registry.Tag, key, value string) []registry.Tag {
	for i := range tags {
		if tags[i].Key == key {
			tags[i].Value = value
			return tags
		}
	}
	return append(tags, registry.Tag{Key: key, Value: value})
}

// withAliases is a copy of mv with the aliases that point to it, sorted.
func withAliases(m *model, mv *registry.ModelVersion) *registry.ModelVersion {
	c := mv.Clone()
	c.Aliases = nil
	for a, v := range m.aliases {
		if v == mv.Version {
			c.Aliases = append(c.Aliases, a)
		}
	}
	slices.Sort(c.Aliases)
	return c
}

// bare is a copy of mv without aliases, as searches and latest_versions send it.
func bare(mv *registry.ModelVersion) *registry.ModelVersion {
	c := mv.Clone()
	c.Aliases = nil
	return c
}

func (r *Registry) registeredModel(m *model) *registry.RegisteredModel {
	rm := &registry.RegisteredModel{Name: m.name, Description: m.description, CreationTimestamp: m.created,
		LastUpdatedTimestamp: m.created, Tags: slices.Clone(m.tags)}
	for _, a := range slices.Sorted(maps.Keys(m.aliases)) {
		rm.Aliases = append(rm.Aliases, registry.AliasRef{Alias: a, Version: m.aliases[a]})
	}
	if r.hasStages() && !r.noLatest {
		for _, st := range []string{registry.StageNone, registry.StageStaging, registry.StageProduction, registry.StageArchived} {
			if best := highestIn(m, st); best != nil {
				rm.LatestVersions = append(rm.LatestVersions, *bare(best))
			}
		}
	}
	return rm
}

func (r *Registry) hasStages() bool {
	return r.ValidateTarget(checks.StageTarget(registry.StageProduction)) == nil
}

func highestIn(m *model, stage string) *registry.ModelVersion {
	var best *registry.ModelVersion
	for _, mv := range m.versions {
		if mv.CurrentStage == stage && (best == nil || number(mv.Version) > number(best.Version)) {
			best = mv
		}
	}
	return best
}

// checkTag refuses a tag the rules would not write as it is (a key or value
// not in the registry's form), or one past the registry's limit of tags.
func (r *Registry) checkTag(method, path string, tags []registry.Tag, key, value string) error {
	if r.TagKey(key) != key || r.TagValue(value) != value {
		return fmt.Errorf("%w: tag %q is not in the registry's form (%q)", registry.ErrTagLimit, key, r.TagKey(key))
	}
	limit := r.MaxTagsPerObject()
	if limit > 0 && len(tags) >= limit && !slices.ContainsFunc(tags, func(t registry.Tag) bool { return t.Key == key }) {
		return apiError(method, path, http.StatusBadRequest, mlflow.CodeInvalidParameterValue,
			"the object has %d tags, at most %d tags per object", len(tags), limit)
	}
	return nil
}

// call runs one call: it records it, runs the hooks planned for it, returns
// a planned refusal without acting, and otherwise runs fn holding the
// registry's lock and returns fn's error or, when fn succeeded, a planned
// lost answer. Every error but the bare registry.ErrAliasNotFound reads as
// internal/mlflow's client says it: "failed to <what>: <answer>".
func (r *Registry) call(method, model, detail, what string, fn func() error) error {
	err := r.serve(Call{Method: method, Model: model, Detail: detail}, fn)
	if err == nil || err == registry.ErrAliasNotFound { //nolint:errorlint // the contract is the bare sentinel
		return err
	}
	return fmt.Errorf("failed to %s: %w", what, err)
}

func (r *Registry) serve(c Call, fn func() error) error {
	o, err := r.begin(c)
	if err != nil {
		return err
	}
	if err := o.refused(); err != nil {
		return err
	}
	r.mu.Lock()
	err = fn()
	r.mu.Unlock()
	if err != nil {
		return err
	}
	return o.lost()
}

// model returns the model name, or MLflow's not-found error for the call.
func (r *Registry) model(method, path, name string) (*model, error) {
	if m := r.models[name]; m != nil {
		return m, nil
	}
	return nil, modelNotFound(method, path, name)
}

// version returns a version, or MLflow's not-found error for the call.
func (r *Registry) version(method, path, name, version string) (*model, *registry.ModelVersion, error) {
	m := r.models[name]
	if m == nil || m.versions[version] == nil {
		return nil, nil, versionNotFound(method, path, name, version)
	}
	return m, m.versions[version], nil
}

// GetRegisteredModel returns a registered model with its aliases, tags and
// latest versions per stage.
func (r *Registry) GetRegisteredModel(_ context.Context, name string) (rm *registry.RegisteredModel, err error) {
	err = r.call("GetRegisteredModel", name, name, fmt.Sprintf("get registered model %q", name), func() error {
		m, err := r.model(http.MethodGet, "registered-models/get", name)
		if err == nil {
			rm = r.registeredModel(m)
		}
		return err
	})
	return rm, err
}

// CreateRegisteredModel creates a registered model; a name that exists is
// RESOURCE_ALREADY_EXISTS (400), as MLflow answers.
func (r *Registry) CreateRegisteredModel(_ context.Context, name, description string, tags []registry.Tag) (rm *registry.RegisteredModel, err error) {
	const path = "registered-models/create"
	err = r.call("CreateRegisteredModel", name, name, fmt.Sprintf("create registered model %q", name), func() error {
		if r.models[name] != nil {
			return apiError(http.MethodPost, path, http.StatusBadRequest, mlflow.CodeResourceAlreadyExists,
				"Registered Model (name=%s) already exists.", name)
		}
		var kept []registry.Tag
		for _, t := range tags {
			if err := r.checkTag(http.MethodPost, path, kept, t.Key, t.Value); err != nil {
				return err
			}
			kept = upsertTag(kept, t.Key, t.Value)
		}
		m := r.newModel(name, description)
		m.tags = kept
		rm = r.registeredModel(m)
		return nil
	})
	return rm, err
}

// DeleteRegisteredModel deletes a registered model with its versions.
func (r *Registry) DeleteRegisteredModel(_ context.Context, name string) error {
	return r.call("DeleteRegisteredModel", name, name, fmt.Sprintf("delete registered model %q", name), func() error {
		if _, err := r.model(http.MethodDelete, "registered-models/delete", name); err != nil {
			return err
		}
		delete(r.models, name)
		return nil
	})
}

// tickPending moves a pending version on by one read. mu must be held.
func (r *Registry) tickPending(mv *registry.ModelVersion) {
	key := mv.Name + "/" + mv.Version
	left, ok := r.pending[key]
	if !ok || mv.Status != registry.StatusPending {
		return
	}
	if left--; left > 0 {
		r.pending[key] = left
		return
	}
	delete(r.pending, key)
	mv.Status = cmp.Or(r.finalStatus, registry.StatusReady)
	mv.StatusMessage = r.finalMessage
}

// GetModelVersion returns a version with its aliases.
func (r *Registry) GetModelVersion(_ context.Context, name, version string) (mv *registry.ModelVersion, err error) {
	err = r.call("GetModelVersion", name, version, fmt.Sprintf("get model version %q v%s", name, version), func() error {
		m, v, err := r.version(http.MethodGet, "model-versions/get", name, version)
		if err == nil {
			r.tickPending(v)
			mv = withAliases(m, v)
		}
		return err
	})
	return mv, err
}

// LatestVersion returns the version with the highest number, without
// aliases (it comes from a search).
func (r *Registry) LatestVersion(_ context.Context, name string) (mv *registry.ModelVersion, err error) {
	err = r.call("LatestVersion", name, name, fmt.Sprintf("find latest version of registered model %q", name), func() error {
		var best *registry.ModelVersion
		if m := r.models[name]; m != nil {
			for _, v := range m.versions {
				if best == nil || number(v.Version) > number(best.Version) {
					best = v
				}
			}
		}
		if best == nil {
			return apiError(http.MethodGet, "model-versions/search", http.StatusNotFound, mlflow.CodeResourceDoesNotExist,
				"no versions of registered model %q found", name)
		}
		mv = bare(best)
		return nil
	})
	return mv, err
}

// GetModelVersionByAlias returns the version alias points to, or exactly
// registry.ErrAliasNotFound when the model exists and the alias is unset.
func (r *Registry) GetModelVersionByAlias(_ context.Context, name, alias string) (mv *registry.ModelVersion, err error) {
	err = r.call("GetModelVersionByAlias", name, alias, fmt.Sprintf("get alias %q of registered model %q", alias, name), func() error {
		m, err := r.model(http.MethodGet, "registered-models/alias", name)
		if err != nil {
			return err
		}
		v, ok := m.aliases[alias]
		if !ok || m.versions[v] == nil {
			return registry.ErrAliasNotFound
		}
		mv = withAliases(m, m.versions[v])
		return nil
	})
	return mv, err
}

// errNoStages refuses a stage call on a registry without stages.
func errNoStages() error { return errors.New("the registry has no stages") }

// GetLatestVersions returns the highest version in each stage asked for;
// a registry without stages refuses.
func (r *Registry) GetLatestVersions(_ context.Context, name string, stages []string) (out []registry.ModelVersion, err error) {
	err = r.call("GetLatestVersions", name, strings.Join(stages, ","), fmt.Sprintf("get latest versions of registered model %q in stages %v", name, stages), func() error {
		if !r.hasStages() {
			return errNoStages()
		}
		m, err := r.model(http.MethodPost, "registered-models/get-latest-versions", name)
		if err != nil {
			return err
		}
		for _, st := range stages {
			if best := highestIn(m, st); best != nil {
				out = append(out, *withAliases(m, best))
			}
		}
		return nil
	})
	return out, err
}

// SetAlias points alias at version, moving it when set elsewhere.
func (r *Registry) SetAlias(_ context.Context, name, alias, version string) error {
	return r.call("SetAlias", name, alias+"="+version, fmt.Sprintf("set alias %q of registered model %q to v%s", alias, name, version), func() error {
		const path = "registered-models/alias"
		if _, err := r.model(http.MethodPost, path, name); err != nil {
			return err
		}
		m, _, err := r.version(http.MethodPost, path, name, version)
		if err == nil {
			m.aliases[alias] = version
			r.tick()
		}
		return err
	})
}

// TransitionStage moves version to stage; with archiveExisting the other
// versions in that stage go to Archived, as MLflow does.
func (r *Registry) TransitionStage(_ context.Context, name, version, stage string, archiveExisting bool) (out *registry.ModelVersion, err error) {
	err = r.call("TransitionStage", name, fmt.Sprintf("%s %s archive=%t", version, stage, archiveExisting),
		fmt.Sprintf("transition model version %q v%s to stage %q", name, version, stage), func() error {
			if !r.hasStages() {
				return errNoStages()
			}
			m, mv, err := r.version(http.MethodPost, "model-versions/transition-stage", name, version)
			if err != nil {
				return err
			}
			for _, other := range m.versions {
				if archiveExisting && other != mv && other.CurrentStage == stage {
					other.CurrentStage = registry.StageArchived
				}
			}
			mv.CurrentStage, mv.LastUpdatedTimestamp = stage, r.tick()
			out = withAliases(m, mv)
			return nil
		})
	return out, err
}

// SetModelVersionTag upserts a version tag.
func (r *Registry) SetModelVersionTag(_ context.Context, name, version, key, value string) error {
	return r.call("SetModelVersionTag", name, version+" "+key, fmt.Sprintf("set tag %q on model version %q v%s", key, name, version), func() error {
		const path = "model-versions/set-tag"
		_, mv, err := r.version(http.MethodPost, path, name, version)
		if err == nil {
			err = r.checkTag(http.MethodPost, path, mv.Tags, key, value)
		}
		if err == nil {
			mv.Tags = upsertTag(mv.Tags, key, value)
		}
		return err
	})
}

// SetRegisteredModelTag upserts a registered model tag.
func (r *Registry) SetRegisteredModelTag(_ context.Context, name, key, value string) error {
	return r.call("SetRegisteredModelTag", name, key, fmt.Sprintf("set tag %q on registered model %q", key, name), func() error {
		const path = "registered-models/set-tag"
		m, err := r.model(http.MethodPost, path, name)
		if err == nil {
			err = r.checkTag(http.MethodPost, path, m.tags, key, value)
		}
		if err == nil {
			m.tags = upsertTag(m.tags, key, value)
		}
		return err
	})
}

func runNotFound(path, runID string) error {
	return apiError(http.MethodGet, path, http.StatusNotFound, mlflow.CodeResourceDoesNotExist, "Run with id=%s not found", runID)
}

// GetRun returns a run.
func (r *Registry) GetRun(_ context.Context, runID string) (run *registry.Run, err error) {
	err = r.call("GetRun", "", runID, fmt.Sprintf("get run %q", runID), func() error {
		stored := r.runs[runID]
		if stored == nil {
			return runNotFound("runs/get", runID)
		}
		c := *stored
		c.Data.Tags, c.Data.Metrics = slices.Clone(stored.Data.Tags), slices.Clone(stored.Data.Metrics)
		run = &c
		return nil
	})
	return run, err
}

// MetricHistoryPages serves a metric's history two points a page, so that
// paging is exercised.
func (r *Registry) MetricHistoryPages(_ context.Context, runID, key string, fn func([]registry.Metric) error) error {
	var series []registry.Metric
	err := r.call("MetricHistoryPages", "", runID+" "+key, fmt.Sprintf("get history of metric %q of run %q", key, runID), func() error {
		run := r.runs[runID]
		if run == nil {
			return runNotFound("metrics/get-history", runID)
		}
		var ok bool
		if series, ok = r.history[runID+"/"+key]; !ok {
			for _, mt := range run.Data.Metrics {
				if mt.Key == key {
					series = append(series, mt)
				}
			}
		}
		series = slices.Clone(series)
		return nil
	})
	if err != nil && series == nil {
		return err
	}
	for page := range slices.Chunk(series, 2) {
		if err := fn(page); err != nil {
			return err
		}
	}
	return err // a lost answer, after the pages
}

// GetLoggedModel returns an MLflow 3 logged model.
func (r *Registry) GetLoggedModel(_ context.Context, modelID string) (lm *registry.LoggedModel, err error) {
	err = r.call("GetLoggedModel", "", modelID, fmt.Sprintf("get logged model %q", modelID), func() error {
		stored := r.logged[modelID]
		if stored == nil || r.noLoggedModels {
			return apiError(http.MethodGet, "logged-models/"+modelID, http.StatusNotFound, mlflow.CodeResourceDoesNotExist,
				"Logged model with ID '%s' not found.", modelID)
		}
		c := *stored
		c.Data.Metrics = slices.Clone(stored.Data.Metrics)
		lm = &c
		return nil
	})
	return lm, err
}

// CreateModelVersion registers the next version of req.Name. It is
// PENDING_REGISTRATION for the reads SetPending says, then READY (or the
// status SetPending gave).
func (r *Registry) CreateModelVersion(_ context.Context, req registry.CreateModelVersionRequest) (out *registry.ModelVersion, err error) {
	err = r.call("CreateModelVersion", req.Name, req.Source, fmt.Sprintf("create model version of %q from %s", req.Name, req.Source), func() error {
		m, err := r.model(http.MethodPost, "model-versions/create", req.Name)
		if err != nil {
			return err
		}
		mv := &registry.ModelVersion{
			Name: req.Name, Version: nextVersion(m), Source: req.Source, RunID: req.RunID, RunLink: req.RunLink,
			Description: req.Description, ModelID: req.ModelID, Tags: slices.Clone(req.Tags), CurrentStage: registry.StageNone,
			Status: cmp.Or(r.finalStatus, registry.StatusReady), StatusMessage: r.finalMessage,
			CreationTimestamp: r.tick(), LastUpdatedTimestamp: r.clock,
		}
		if r.pendingPolls > 0 {
			mv.Status, mv.StatusMessage = registry.StatusPending, ""
			r.pending[mv.Name+"/"+mv.Version] = r.pendingPolls
		}
		m.versions[mv.Version] = mv
		out = bare(mv)
		return nil
	})
	return out, err
}

// unknownFilter is the answer to a filter memregistry does not understand:
// a new filter shows up here first.
func unknownFilter(path, filter string) error {
	return apiError(http.MethodGet, path, http.StatusBadRequest, mlflow.CodeInvalidParameterValue,
		"memregistry does not understand the filter %q", filter)
}

// SearchModelVersions understands the filters mlreg writes: clauses
// key=<quoted value> joined by AND, on name and run_id. Results carry no
// aliases, by model, the highest version first.
func (r *Registry) SearchModelVersions(_ context.Context, filter string, _ []string, maxResults int) (out []registry.ModelVersion, err error) {
	err = r.call("SearchModelVersions", "", filter, fmt.Sprintf("search model versions (filter %q)", filter), func() error {
		want := map[string]string{}
		for _, clause := range strings.Split(filter, " AND ") {
			k, v, ok := strings.Cut(clause, "=")
			if !ok || len(v) < 2 || (v[0] != '\'' && v[0] != '"') || v[len(v)-1] != v[0] || (k != "name" && k != "run_id") {
				return unknownFilter("model-versions/search", filter)
			}
			want[k] = v[1 : len(v)-1]
		}
		for _, m := range r.models {
			for _, mv := range m.versions {
				if n, ok := want["name"]; ok && n != m.name {
					continue
				}
				if id, ok := want["run_id"]; ok && id != mv.RunID {
					continue
				}
				out = append(out, *bare(mv))
			}
		}
		slices.SortFunc(out, func(a, b registry.ModelVersion) int {
			return cmp.Or(strings.Compare(a.Name, b.Name), number(b.Version)-number(a.Version))
		})
		if maxResults > 0 && len(out) > maxResults {
			out = out[:maxResults]
		}
		return nil
	})
	return out, err
}

// ListArtifacts lists the artifacts SetArtifacts put under path.
func (r *Registry) ListArtifacts(_ context.Context, runID, path string) (out []registry.FileInfo, err error) {
	err = r.call("ListArtifacts", "", runID+" "+path, fmt.Sprintf("list artifacts of run %q at %q", runID, path), func() error {
		if r.runs[runID] == nil {
			return runNotFound("artifacts/list", runID)
		}
		out = slices.Clone(r.artifacts[runID+"/"+path])
		return nil
	})
	return out, err
}

// SearchLoggedModels answers the one filter register sends, name = '<name>',
// over the logged models of the experiments given (a logged model without
// an experiment matches any); without the logged-models API it answers as
// MLflow 2.x does (ENDPOINT_NOT_FOUND).
func (r *Registry) SearchLoggedModels(_ context.Context, experimentIDs []string, filter string) (out []registry.LoggedModel, err error) {
	err = r.call("SearchLoggedModels", "", filter, fmt.Sprintf("search logged models (filter %q)", filter), func() error {
		const path = "logged-models/search"
		if r.noLoggedModels {
			return apiError(http.MethodPost, path, http.StatusNotFound, mlflow.CodeEndpointNotFound, "Not Found")
		}
		name, ok := strings.CutPrefix(filter, "name = ")
		if !ok {
			return unknownFilter(path, filter)
		}
		name = strings.Trim(name, `'"`)
		for _, id := range slices.Sorted(maps.Keys(r.logged)) {
			lm := r.logged[id]
			if lm.Info.Name == name && (lm.Info.ExperimentID == "" || slices.Contains(experimentIDs, lm.Info.ExperimentID)) {
				out = append(out, *lm)
			}
		}
		return nil
	})
	return out, err
}
