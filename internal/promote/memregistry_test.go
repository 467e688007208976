package promote

import (
	"cmp"
	"context"
	"fmt"
	"maps"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"

	"github.com/mlreg/mlreg-action/internal/mlflow"
	"github.com/mlreg/mlreg-action/internal/registry"
)

// memRegistry is an in-memory MLflow registry for the unit tests of promote:
// one registered model (model) with versions, aliases, stages and tags; other
// registered models (the promotion lock); runs with metric histories; MLflow 3
// logged models; version creation with the PENDING_REGISTRATION → READY or
// FAILED_REGISTRATION transition; and faults planned per method and call
// number. Integration tests in internal/action run against a real server.
//
// Every method takes mu, counts the call, and applies a planned fault (see
// fail). To support a new client method: add it with the same shape (lock,
// begin, fault.refused, change the state, fault.lost) and, where it matters,
// copy what it returns so callers never share the registry's slices.
type memRegistry struct {
	mlflow.Rules // MLflow's registry: its names, keys, history and lock

	mu       sync.Mutex
	model    string
	versions map[string]*mlflow.ModelVersion
	aliases  map[string]string
	runs     map[string]*mlflow.Run
	modelTag map[string]string
	calls    []string // "Method detail", in order

	// absent: the registered model does not exist (yet); CreateRegisteredModel creates it.
	absent bool
	// others are the registered models other than model, e.g. the lock mlreg-lock.<model>.
	others map[string]*mlflow.RegisteredModel
	logged map[string]*mlflow.LoggedModel
	// artifacts lists a run's artifacts by runID + "/" + path.
	artifacts map[string][]mlflow.FileInfo
	// mlflow2: the server has no logged-models API (MLflow 2.x).
	mlflow2 bool
	// metricHistory holds a run's metric series (runID + "/" + key); runs
	// without one answer with the run's latest values.
	metricHistory map[string][]mlflow.Metric
	// pendingPolls is how many GetModelVersion reads a created version
	// stays PENDING_REGISTRATION; it then becomes finalStatus (READY when
	// empty) with finalMessage.
	pendingPolls int
	finalStatus  string
	finalMessage string
	pending      map[string]int // version → reads left before it leaves PENDING_REGISTRATION

	faults []*fault
}

var _ registry.Registrar = (*memRegistry)(nil)

func newMem(model string, vers ...mlflow.ModelVersion) *memRegistry {
	m := &memRegistry{model: model, versions: map[string]*mlflow.ModelVersion{}, aliases: map[string]string{},
		runs: map[string]*mlflow.Run{}, modelTag: map[string]string{}, others: map[string]*mlflow.RegisteredModel{},
		logged: map[string]*mlflow.LoggedModel{}, metricHistory: map[string][]mlflow.Metric{}, pending: map[string]int{}}
	for i := range vers {
		v := vers[i]
		v.Name = model
		m.versions[v.Version] = &v
		if v.RunID != "" {
			m.runs[v.RunID] = &mlflow.Run{Info: mlflow.RunInfo{RunID: v.RunID, Status: "FINISHED", EndTime: 1}}
		}
	}
	return m
}

// Errors as the client returns them.
var (
	errNotFound = &mlflow.Error{StatusCode: 404, Code: "RESOURCE_DOES_NOT_EXIST", Message: "not found"}
	// errDenied is a refusal: a 4xx answer that retrying does not change.
	errDenied = &mlflow.Error{Method: "POST", StatusCode: 403, Code: mlflow.CodePermissionDenied, Message: "Permission denied"}
	// errUnavailable is what is left after the client's retries of a 503.
	errUnavailable = &mlflow.Error{Method: "POST", StatusCode: 503, Code: mlflow.CodeInternalError, Message: "Service Unavailable"}
	// errReset is a connection reset after the request went out: the server may have executed it.
	errReset = &net.OpError{Op: "read", Net: "tcp", Err: syscall.ECONNRESET}
	// errDial is a request that never left: the server did nothing.
	errDial = &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}
)

// fault is a planned failure of one call (or of every call) of a method.
type fault struct {
	method string // e.g. "SetModelVersionTag"
	match  string // only calls whose detail contains this count; "" = every call
	call   int    // which matching call (1-based) fails; 0 = each one
	err    error  // returned to the caller; nil with only a hook
	// executed: the registry carries the call out, then the answer is lost
	// (err is returned all the same).
	executed bool
	// hook, when set, runs on the state (mu held) before the call: another
	// writer getting in at exactly that moment.
	hook func(m *memRegistry)
	seen int
}

// fail plans err for the call-th call of method whose detail contains match
// (call 0: every such call). The call does nothing.
func (m *memRegistry) fail(method, match string, call int, err error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.faults = append(m.faults, &fault{method: method, match: match, call: call, err: err})
}

// loseAnswer plans a call that the registry executes but whose answer is lost: err reaches the caller.
func (m *memRegistry) loseAnswer(method, match string, call int, err error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.faults = append(m.faults, &fault{method: method, match: match, call: call, err: err, executed: true})
}

// before runs hook on the state right before the call-th call of method.
func (m *memRegistry) before(method, match string, call int, hook func(m *memRegistry)) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.faults = append(m.faults, &fault{method: method, match: match, call: call, hook: hook})
}

// begin records a call and returns its planned fault, if any. mu must be held.
func (m *memRegistry) begin(method, detail string) *fault {
	m.calls = append(m.calls, strings.TrimSpace(method+" "+detail))
	var hit *fault
	for _, f := range m.faults {
		if f.method != method || !strings.Contains(detail, f.match) {
			continue
		}
		f.seen++
		if f.call != 0 && f.seen != f.call {
			continue
		}
		if f.hook != nil {
			f.hook(m)
		}
		if f.err != nil && hit == nil {
			hit = f
		}
	}
	return hit
}

// refused is the error of a call that must do nothing.
func (f *fault) refused() error {
	if f != nil && !f.executed {
		return f.err
	}
	return nil
}

// lost is the error of a call that was carried out.
func (f *fault) lost() error {
	if f != nil && f.executed {
		return f.err
	}
	return nil
}

// callsOf returns the recorded calls that start with prefix.
func (m *memRegistry) callsOf(prefix string) []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []string
	for _, c := range m.calls {
		if strings.HasPrefix(c, prefix) {
			out = append(out, c)
		}
	}
	return out
}

// writes returns the recorded calls that change the registry.
func (m *memRegistry) writes() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []string
	for _, c := range m.calls {
		for _, w := range []string{"Set", "Create", "Delete", "Transition"} {
			if strings.HasPrefix(c, w) {
				out = append(out, c)
				break
			}
		}
	}
	return out
}

// versionTag returns a version's tag value ("" when unset). mu must not be held.
func (m *memRegistry) versionTag(version, key string) string {
	m.mu.Lock()
	defer m.mu.Unlock()
	mv, ok := m.versions[version]
	if !ok {
		return ""
	}
	v, _ := mv.Tag(key)
	return v
}

func (m *memRegistry) copyVersion(mv *mlflow.ModelVersion, withAliases bool) *mlflow.ModelVersion {
	c := *mv
	c.Tags = slices.Clone(mv.Tags)
	c.Aliases = nil
	if withAliases {
		for a, v := range m.aliases {
			if v == mv.Version {
				c.Aliases = append(c.Aliases, a)
			}
		}
		slices.Sort(c.Aliases)
	}
	return &c
}

func (m *memRegistry) hasModel(name string) bool { return name == m.model && !m.absent }

func (m *memRegistry) GetRegisteredModel(_ context.Context, name string) (*mlflow.RegisteredModel, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	f := m.begin("GetRegisteredModel", name)
	if err := f.refused(); err != nil {
		return nil, err
	}
	if o, ok := m.others[name]; ok {
		c := *o
		c.Tags = slices.Clone(o.Tags)
		return &c, f.lost()
	}
	if !m.hasModel(name) {
		return nil, errNotFound
	}
	rm := &mlflow.RegisteredModel{Name: name}
	for a, v := range m.aliases {
		rm.Aliases = append(rm.Aliases, mlflow.AliasRef{Alias: a, Version: v})
	}
	for k, v := range m.modelTag {
		rm.Tags = append(rm.Tags, mlflow.Tag{Key: k, Value: v})
	}
	slices.SortFunc(rm.Aliases, func(a, b mlflow.AliasRef) int { return strings.Compare(a.Alias, b.Alias) })
	slices.SortFunc(rm.Tags, func(a, b mlflow.Tag) int { return strings.Compare(a.Key, b.Key) })
	return rm, f.lost()
}

func (m *memRegistry) CreateRegisteredModel(_ context.Context, name, description string, tags []mlflow.Tag) (*mlflow.RegisteredModel, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	f := m.begin("CreateRegisteredModel", name)
	if err := f.refused(); err != nil {
		return nil, err
	}
	exists := &mlflow.Error{Method: "POST", StatusCode: 400, Code: mlflow.CodeResourceAlreadyExists,
		Message: fmt.Sprintf("Registered Model (name=%s) already exists.", name)}
	if name == m.model {
		if !m.absent {
			return nil, exists
		}
		m.absent = false
		for k, v := range tagMap(tags) {
			m.modelTag[k] = v
		}
		return &mlflow.RegisteredModel{Name: name, Description: description, Tags: slices.Clone(tags)}, f.lost()
	}
	if _, ok := m.others[name]; ok {
		return nil, exists
	}
	rm := &mlflow.RegisteredModel{Name: name, Description: description, Tags: slices.Clone(tags)}
	m.others[name] = rm
	c := *rm
	return &c, f.lost()
}

func (m *memRegistry) DeleteRegisteredModel(_ context.Context, name string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	f := m.begin("DeleteRegisteredModel", name)
	if err := f.refused(); err != nil {
		return err
	}
	if _, ok := m.others[name]; !ok {
		return errNotFound
	}
	delete(m.others, name)
	return f.lost()
}

func tagMap(tags []mlflow.Tag) map[string]string {
	out := map[string]string{}
	for _, t := range tags {
		out[t.Key] = t.Value
	}
	return out
}

// tick moves a pending version on by one read. mu must be held.
func (m *memRegistry) tick(mv *mlflow.ModelVersion) {
	if mv.Status != mlflow.StatusPending {
		return
	}
	left, ok := m.pending[mv.Version]
	if !ok {
		return // created pending by the test: stays so
	}
	if left--; left > 0 {
		m.pending[mv.Version] = left
		return
	}
	delete(m.pending, mv.Version)
	mv.Status = cmp.Or(m.finalStatus, mlflow.StatusReady)
	mv.StatusMessage = m.finalMessage
}

func (m *memRegistry) GetModelVersion(_ context.Context, name, version string) (*mlflow.ModelVersion, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	f := m.begin("GetModelVersion", version)
	if err := f.refused(); err != nil {
		return nil, err
	}
	mv, ok := m.versions[version]
	if !ok || !m.hasModel(name) {
		return nil, errNotFound
	}
	m.tick(mv)
	return m.copyVersion(mv, true), f.lost()
}

// LatestVersion answers as the client's does: the highest version number,
// without aliases (it comes from a search).
func (m *memRegistry) LatestVersion(_ context.Context, name string) (*mlflow.ModelVersion, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	f := m.begin("LatestVersion", name)
	if err := f.refused(); err != nil {
		return nil, err
	}
	best := 0
	for v := range m.versions {
		if n, _ := strconv.Atoi(v); n > best {
			best = n
		}
	}
	if best == 0 || !m.hasModel(name) {
		return nil, errNotFound
	}
	return m.copyVersion(m.versions[strconv.Itoa(best)], false), f.lost()
}

func (m *memRegistry) GetModelVersionByAlias(_ context.Context, name, alias string) (*mlflow.ModelVersion, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	f := m.begin("GetModelVersionByAlias", alias)
	if err := f.refused(); err != nil {
		return nil, err
	}
	if !m.hasModel(name) {
		return nil, errNotFound
	}
	v, ok := m.aliases[alias]
	if !ok {
		return nil, fmt.Errorf("alias %s: %w", alias, mlflow.ErrAliasNotFound)
	}
	return m.copyVersion(m.versions[v], true), f.lost()
}

// GetLatestVersions returns the highest version in each requested stage.
func (m *memRegistry) GetLatestVersions(_ context.Context, name string, stages []string) ([]mlflow.ModelVersion, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	f := m.begin("GetLatestVersions", strings.Join(stages, ","))
	if err := f.refused(); err != nil {
		return nil, err
	}
	if !m.hasModel(name) {
		return nil, errNotFound
	}
	var out []mlflow.ModelVersion
	for _, st := range stages {
		var best *mlflow.ModelVersion
		for _, mv := range m.versions {
			if mv.CurrentStage == st && (best == nil || versionNumber(mv.Version) > versionNumber(best.Version)) {
				best = mv
			}
		}
		if best != nil {
			out = append(out, *m.copyVersion(best, true))
		}
	}
	return out, f.lost()
}

func versionNumber(v string) int {
	n, _ := strconv.Atoi(v)
	return n
}

func (m *memRegistry) SetAlias(_ context.Context, name, alias, version string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	f := m.begin("SetAlias", alias+"="+version)
	if err := f.refused(); err != nil {
		return err
	}
	if _, ok := m.versions[version]; !ok || !m.hasModel(name) {
		return errNotFound
	}
	m.aliases[alias] = version
	return f.lost()
}

// TransitionStage moves version to stage; with archiveExisting, the other
// versions in that stage go to Archived, as MLflow does.
func (m *memRegistry) TransitionStage(_ context.Context, name, version, stage string, archiveExisting bool) (*mlflow.ModelVersion, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	f := m.begin("TransitionStage", fmt.Sprintf("%s %s archive=%t", version, stage, archiveExisting))
	if err := f.refused(); err != nil {
		return nil, err
	}
	mv, ok := m.versions[version]
	if !ok || !m.hasModel(name) {
		return nil, errNotFound
	}
	if archiveExisting {
		for _, o := range m.versions {
			if o != mv && o.CurrentStage == stage {
				o.CurrentStage = mlflow.StageArchived
			}
		}
	}
	mv.CurrentStage = stage
	return m.copyVersion(mv, true), f.lost()
}

func upsertTag(tags []mlflow.Tag, key, value string) []mlflow.Tag {
	for i := range tags {
		if tags[i].Key == key {
			tags[i].Value = value
			return tags
		}
	}
	return append(tags, mlflow.Tag{Key: key, Value: value})
}

func (m *memRegistry) SetModelVersionTag(_ context.Context, name, version, key, value string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	f := m.begin("SetModelVersionTag", version+" "+key)
	if err := f.refused(); err != nil {
		return err
	}
	mv, ok := m.versions[version]
	if !ok || !m.hasModel(name) {
		return errNotFound
	}
	mv.Tags = upsertTag(mv.Tags, key, value)
	return f.lost()
}

func (m *memRegistry) SetRegisteredModelTag(_ context.Context, name, key, value string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	f := m.begin("SetRegisteredModelTag", key)
	if err := f.refused(); err != nil {
		return err
	}
	if !m.hasModel(name) {
		return errNotFound
	}
	m.modelTag[key] = value
	return f.lost()
}

// CreateModelVersion registers the next version number. It is
// PENDING_REGISTRATION for pendingPolls reads, then finalStatus.
func (m *memRegistry) CreateModelVersion(_ context.Context, req mlflow.CreateModelVersionRequest) (*mlflow.ModelVersion, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	f := m.begin("CreateModelVersion", req.Source)
	if err := f.refused(); err != nil {
		return nil, err
	}
	if !m.hasModel(req.Name) {
		return nil, errNotFound
	}
	next := 1
	for v := range m.versions {
		next = max(next, versionNumber(v)+1)
	}
	mv := &mlflow.ModelVersion{
		Name: req.Name, Version: strconv.Itoa(next), Source: req.Source, RunID: req.RunID, RunLink: req.RunLink,
		Description: req.Description, ModelID: req.ModelID, Tags: slices.Clone(req.Tags), CurrentStage: mlflow.StageNone,
		Status: cmp.Or(m.finalStatus, mlflow.StatusReady), StatusMessage: m.finalMessage,
	}
	if m.pendingPolls > 0 {
		mv.Status, mv.StatusMessage = mlflow.StatusPending, ""
		m.pending[mv.Version] = m.pendingPolls
	}
	m.versions[mv.Version] = mv
	return m.copyVersion(mv, false), f.lost()
}

// SearchModelVersions understands the filters promote writes: clauses
// key=<quoted value> joined by AND, on name and run_id. Anything else is a
// 400, so a new filter shows up here first.
func (m *memRegistry) SearchModelVersions(_ context.Context, filter string, _ []string, maxResults int) ([]mlflow.ModelVersion, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	f := m.begin("SearchModelVersions", filter)
	if err := f.refused(); err != nil {
		return nil, err
	}
	want := map[string]string{}
	for _, clause := range strings.Split(filter, " AND ") {
		k, v, ok := strings.Cut(clause, "=")
		if !ok || len(v) < 2 || (v[0] != '\'' && v[0] != '"') || v[len(v)-1] != v[0] || (k != "name" && k != "run_id") {
			return nil, &mlflow.Error{Method: "GET", StatusCode: 400, Code: mlflow.CodeInvalidParameterValue,
				Message: fmt.Sprintf("memRegistry does not understand the filter %q", filter)}
		}
		want[k] = v[1 : len(v)-1]
	}
	var out []mlflow.ModelVersion
	for _, mv := range m.versions {
		if n, ok := want["name"]; ok && (n != m.model || m.absent) {
			continue
		}
		if r, ok := want["run_id"]; ok && r != mv.RunID {
			continue
		}
		out = append(out, *m.copyVersion(mv, true))
	}
	slices.SortFunc(out, func(a, b mlflow.ModelVersion) int { return versionNumber(b.Version) - versionNumber(a.Version) })
	if maxResults > 0 && len(out) > maxResults {
		out = out[:maxResults]
	}
	return out, f.lost()
}

func (m *memRegistry) GetRun(_ context.Context, id string) (*mlflow.Run, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	f := m.begin("GetRun", id)
	if err := f.refused(); err != nil {
		return nil, err
	}
	r, ok := m.runs[id]
	if !ok {
		return nil, errNotFound
	}
	c := *r
	return &c, f.lost()
}

// MetricHistoryPages serves the series two points a page, so that paging is exercised.
func (m *memRegistry) MetricHistoryPages(_ context.Context, runID, key string, fn func([]mlflow.Metric) error) error {
	m.mu.Lock()
	f := m.begin("MetricHistoryPages", runID+" "+key)
	if err := f.refused(); err != nil {
		m.mu.Unlock()
		return err
	}
	r, ok := m.runs[runID]
	if !ok {
		m.mu.Unlock()
		return errNotFound
	}
	series, ok := m.metricHistory[runID+"/"+key]
	if !ok {
		for _, mt := range r.Data.Metrics {
			if mt.Key == key {
				series = append(series, mt)
			}
		}
	}
	series = slices.Clone(series)
	m.mu.Unlock()
	for page := range slices.Chunk(series, 2) {
		if err := fn(page); err != nil {
			return err
		}
	}
	return f.lost()
}

func (m *memRegistry) GetLoggedModel(_ context.Context, id string) (*mlflow.LoggedModel, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	f := m.begin("GetLoggedModel", id)
	if err := f.refused(); err != nil {
		return nil, err
	}
	lm, ok := m.logged[id]
	if !ok {
		return nil, errNotFound
	}
	c := *lm
	return &c, f.lost()
}

// ListArtifacts lists artifacts[runID + "/" + path]: empty unless a test
// puts a model logged the MLflow 2 way (with its MLmodel) there.
func (m *memRegistry) ListArtifacts(_ context.Context, runID, path string) ([]mlflow.FileInfo, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	f := m.begin("ListArtifacts", runID+" "+path)
	if err := f.refused(); err != nil {
		return nil, err
	}
	if _, ok := m.runs[runID]; !ok {
		return nil, errNotFound
	}
	return slices.Clone(m.artifacts[runID+"/"+path]), f.lost()
}

// SearchLoggedModels answers the one filter register sends, name = '<name>',
// over the logged models of the experiments given (a logged model without an
// experiment matches any); without the logged-models API (mlflow2) it
// answers as MLflow 2.x does.
func (m *memRegistry) SearchLoggedModels(_ context.Context, experimentIDs []string, filter string) ([]mlflow.LoggedModel, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	f := m.begin("SearchLoggedModels", filter)
	if err := f.refused(); err != nil {
		return nil, err
	}
	if m.mlflow2 {
		return nil, &mlflow.Error{StatusCode: 404, Code: mlflow.CodeEndpointNotFound, Message: "not found"}
	}
	name, ok := strings.CutPrefix(filter, "name = ")
	if !ok {
		return nil, fmt.Errorf("memRegistry: unsupported logged-model filter %q", filter)
	}
	name = strings.Trim(name, "'\"")
	var out []mlflow.LoggedModel
	for _, id := range slices.Sorted(maps.Keys(m.logged)) {
		lm := m.logged[id]
		if lm.Info.Name == name && (lm.Info.ExperimentID == "" || slices.Contains(experimentIDs, lm.Info.ExperimentID)) {
			out = append(out, *lm)
		}
	}
	return out, f.lost()
}
