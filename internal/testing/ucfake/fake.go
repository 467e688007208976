// Package ucfake is a local Databricks workspace for tests of the Unity
// Catalog model registry: it serves the UC registry REST service that
// MLflow's clients call (/api/2.0/mlflow/unity-catalog/...), checking every
// request against MLflow's own proto definitions (a trimmed copy under
// testdata/uc, see scripts/gen-uc-protos.sh) and answering in the proto's
// JSON mapping, and it forwards the tracking calls (runs, metric history,
// logged models, experiments) to a real MLflow server, so the metrics a
// promotion reads are real.
//
// What it enforces, as Unity Catalog does:
//   - requests: unknown fields, values of the wrong type and missing
//     required fields are 400 INVALID_PARAMETER_VALUE (and fail the test
//     unless Options.ExpectInvalid, since a client of ours sent them);
//   - names are three-level (catalog.schema.model), case-insensitive and
//     answered in lower case;
//   - tags: at most 50 per object, keys of at most 255 characters without
//     . , - = / : or surrounding spaces, values of at most 1,000 characters
//     (see internal/uc for the sources);
//   - aliases: one version each, set by moving, MLflow's alias name rules.
//
// What it cannot know, and so only approximates: the exact messages and
// codes of Databricks' errors for missing objects and denied permissions,
// the order of search results, and which fields a real search answer
// carries. internal/uc is written to depend on none of these.
package ucfake

import (
	"bytes"
	"cmp"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode"
	"unicode/utf8"
)

// Defaults for Options.
const (
	DefaultToken = "dapi-fake-token-for-tests"
	DefaultOwner = "owner@example.com"
	// WorkspaceID is what /.well-known/databricks-config reports; the
	// Databricks SDK then sends it as X-Databricks-Org-Id.
	WorkspaceID = "1234567890123456"
)

// UC's tag limits, as the fake enforces them (internal/uc documents the sources).
const (
	MaxTagsPerObject = 50
	MaxTagKeyChars   = 255
	MaxTagValueChars = 1000
	tagKeyForbidden  = ".,-=/:"
)

// Options configure a Server.
type Options struct {
	// TrackingURL is the real MLflow server that runs, metrics, logged
	// models and experiments are forwarded to.
	TrackingURL string
	// Token is the bearer token requests must carry; DefaultToken when empty.
	Token string
	// Owner is the owner (user_id) of the models the fake creates; DefaultOwner when empty.
	Owner string
	// ExpectInvalid lets requests that break the proto be answered with 400
	// without failing the test (for tests of the fake's own checks).
	ExpectInvalid bool
}

// Call is one request the fake received.
type Call struct {
	RPC    string // UC rpc name; "forward" for a tracking call; "" when unknown
	Method string
	Path   string
	Query  url.Values
	Body   []byte
	Status int
}

// Version seeds a model version (see CreateModelVersion).
type Version struct {
	Source      string
	RunID       string
	ModelID     string // the MLflow 3 logged model, served by the tracking server
	Status      string // a ModelVersionStatus name; READY when empty
	Description string
	Tags        map[string]string
}

// Fault is a canned error answer for an rpc.
type Fault struct {
	Status  int
	Code    string
	Message string
	Times   int // how many calls it answers; 0 = 1, negative = every call
}

// PermissionDenied is the answer to a caller who may not change a model's
// aliases (UC lets only its owner or a metastore admin). The wording of a
// real workspace's message is not known here; clients key on the code.
func PermissionDenied() Fault {
	return Fault{Status: http.StatusForbidden, Code: "PERMISSION_DENIED",
		Message: "User does not have MANAGE on Registered Model.", Times: -1}
}

type version struct {
	number                int64
	source, runID, modeID string
	status, description   string
	user                  string
	created, updated      int64
	tags                  *tagSet
}

type model struct {
	name             string
	description      string
	owner            string
	created, updated int64
	tags             *tagSet
	aliases          map[string]int64
	versions         map[int64]*version
}

// tagSet keeps tags in insertion order.
type tagSet struct {
	keys []string
	vals map[string]string
}

func newTagSet() *tagSet { return &tagSet{vals: map[string]string{}} }

func (t *tagSet) set(k, v string) {
	if _, ok := t.vals[k]; !ok {
		t.keys = append(t.keys, k)
	}
	t.vals[k] = v
}

func (t *tagSet) del(k string) {
	if _, ok := t.vals[k]; !ok {
		return
	}
	delete(t.vals, k)
	t.keys = slices.DeleteFunc(t.keys, func(x string) bool { return x == k })
}

func (t *tagSet) list() []any {
	out := make([]any, 0, len(t.keys))
	for _, k := range t.keys {
		out = append(out, map[string]any{"key": k, "value": t.vals[k]})
	}
	return out
}

func (t *tagSet) copyMap() map[string]string {
	out := make(map[string]string, len(t.vals))
	for k, v := range t.vals {
		out[k] = v
	}
	return out
}

// Server is the fake.
type Server struct {
	t       testing.TB
	opts    Options
	spec    *Spec
	srv     *httptest.Server
	routes  map[string]string // "METHOD path" -> rpc
	forward http.Handler

	mu         sync.Mutex
	calls      []Call
	models     map[string]*model // by lower-case name
	faults     map[string][]*Fault
	violations []string
}

// New starts a fake for the test; it stops when the test ends.
func New(t testing.TB, opts Options) *Server {
	t.Helper()
	if opts.Token == "" {
		opts.Token = DefaultToken
	}
	if opts.Owner == "" {
		opts.Owner = DefaultOwner
	}
	spec, err := LoadSpec()
	if err != nil {
		t.Fatal(err)
	}
	s := &Server{t: t, opts: opts, spec: spec, routes: map[string]string{},
		models: map[string]*model{}, faults: map[string][]*Fault{}}
	for name, r := range spec.RPCs {
		s.routes[r.Method+" "+r.Path] = name
	}
	if opts.TrackingURL != "" {
		target, err := url.Parse(opts.TrackingURL)
		if err != nil {
			t.Fatalf("ucfake: bad tracking URL %q: %v", opts.TrackingURL, err)
		}
		s.forward = &httputil.ReverseProxy{Rewrite: func(r *httputil.ProxyRequest) {
			r.SetURL(target)
			r.Out.Header.Del("Authorization") // the harness server has no auth
		}}
	}
	s.srv = httptest.NewUnstartedServer(http.HandlerFunc(s.serve))
	s.srv.Start()
	t.Cleanup(s.srv.Close)
	return s
}

// URL is the workspace URL (DATABRICKS_HOST, or the tracking URI of internal/mlflow).
func (s *Server) URL() string { return s.srv.URL }

// Token is the token the fake accepts.
func (s *Server) Token() string { return s.opts.Token }

// Spec is the description the fake checks requests against.
func (s *Server) Spec() *Spec { return s.spec }

// Calls returns every request received, in order.
func (s *Server) Calls() []Call {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.calls)
}

// Count returns how many requests an rpc received.
func (s *Server) Count(rpc string) int {
	n := 0
	for _, c := range s.Calls() {
		if c.RPC == rpc {
			n++
		}
	}
	return n
}

// Violations lists the requests that broke the proto or reached no endpoint.
func (s *Server) Violations() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.violations)
}

// Fail makes the next calls of rpc answer with f.
func (s *Server) Fail(rpc string, f Fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if f.Times == 0 {
		f.Times = 1
	}
	s.faults[rpc] = append(s.faults[rpc], &f)
}

// CreateModelVersion registers the next version of the three-level model
// name (creating the model when it does not exist) and returns its number.
// It is how tests seed UC, since registering is not part of the fake's API.
func (s *Server) CreateModelVersion(name string, v Version) string {
	s.t.Helper()
	if err := checkName(name); err != nil {
		s.t.Fatalf("ucfake: %v", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	now := time.Now().UnixMilli()
	m := s.models[strings.ToLower(name)]
	if m == nil {
		m = s.newModel(name, "", now)
	}
	n := int64(len(m.versions) + 1)
	for m.versions[n] != nil {
		n++
	}
	ver := &version{number: n, source: v.Source, runID: v.RunID, modeID: v.ModelID,
		status: cmp.Or(v.Status, "READY"), description: v.Description, user: s.opts.Owner,
		created: now, updated: now, tags: newTagSet()}
	keys := make([]string, 0, len(v.Tags))
	for k := range v.Tags {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		ver.tags.set(k, v.Tags[k])
	}
	m.versions[n] = ver
	m.updated = now
	return strconv.FormatInt(n, 10)
}

func (s *Server) newModel(name, description string, now int64) *model {
	m := &model{name: strings.ToLower(name), description: description, owner: s.opts.Owner,
		created: now, updated: now, tags: newTagSet(), aliases: map[string]int64{}, versions: map[int64]*version{}}
	s.models[m.name] = m
	return m
}

// Aliases returns the aliases of model name (alias → version).
func (s *Server) Aliases(name string) map[string]string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string]string{}
	if m := s.models[strings.ToLower(name)]; m != nil {
		for a, v := range m.aliases {
			out[a] = strconv.FormatInt(v, 10)
		}
	}
	return out
}

// ModelTags returns the tags of model name.
func (s *Server) ModelTags(name string) map[string]string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if m := s.models[strings.ToLower(name)]; m != nil {
		return m.tags.copyMap()
	}
	return nil
}

// VersionTags returns the tags of a version.
func (s *Server) VersionTags(name, ver string) map[string]string {
	s.mu.Lock()
	defer s.mu.Unlock()
	n, _ := strconv.ParseInt(ver, 10, 64)
	if m := s.models[strings.ToLower(name)]; m != nil && m.versions[n] != nil {
		return m.versions[n].tags.copyMap()
	}
	return nil
}

// LimitProblems checks registered model name and each of its versions
// against UC's tag limits as they stand (the fake refuses a write that
// breaks them; this looks at the result): at most MaxTagsPerObject tags per
// object, every tag within checkTag's rules, and mlreg's own values
// (keys mlreg_…) within MaxTagValueChars bytes, not only characters. It
// returns one line per problem, sorted.
func (s *Server) LimitProblems(name string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	m := s.models[strings.ToLower(name)]
	if m == nil {
		return nil
	}
	objects := map[string]*tagSet{name: m.tags}
	for n, v := range m.versions {
		objects[fmt.Sprintf("%s v%d", name, n)] = v.tags
	}
	var out []string
	for obj, tags := range objects {
		if len(tags.keys) > MaxTagsPerObject {
			out = append(out, fmt.Sprintf("%s has %d tags, UC allows %d", obj, len(tags.keys), MaxTagsPerObject))
		}
		for k, v := range tags.vals {
			if e := checkTag(k, v); e != nil {
				out = append(out, obj+": "+e.message)
			}
			if strings.HasPrefix(k, "mlreg_") && len(v) > MaxTagValueChars {
				out = append(out, fmt.Sprintf("%s: tag %s is %d bytes, more than %d", obj, k, len(v), MaxTagValueChars))
			}
		}
	}
	sort.Strings(out)
	return out
}

// HasModel reports whether the registered model exists.
func (s *Server) HasModel(name string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.models[strings.ToLower(name)] != nil
}

// apiError is an error answer in Databricks' shape.
type apiError struct {
	status        int
	code, message string
}

func errInvalid(format string, args ...any) *apiError {
	return &apiError{http.StatusBadRequest, "INVALID_PARAMETER_VALUE", fmt.Sprintf(format, args...)}
}

func errNotFound(format string, args ...any) *apiError {
	return &apiError{http.StatusNotFound, "RESOURCE_DOES_NOT_EXIST", fmt.Sprintf(format, args...)}
}

func (s *Server) violate(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	s.mu.Lock()
	s.violations = append(s.violations, msg)
	s.mu.Unlock()
	s.t.Errorf("ucfake: %s", msg)
}

func (s *Server) record(c Call) {
	s.mu.Lock()
	s.calls = append(s.calls, c)
	s.mu.Unlock()
}

// forwarded are the tracking paths passed to the real MLflow server.
var forwarded = []string{
	"/api/2.0/mlflow/runs/",
	"/api/2.0/mlflow/metrics/",
	"/api/2.0/mlflow/logged-models",
	"/api/2.0/mlflow/experiments/",
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	call := Call{Method: r.Method, Path: r.URL.Path, Query: r.URL.Query(), Body: body}

	if r.Method == http.MethodGet && r.URL.Path == "/.well-known/databricks-config" {
		// Host metadata, which the Databricks SDK (and so MLflow's client)
		// asks for before its first call.
		call.RPC = "host-metadata"
		s.reply(w, &call, http.StatusOK, map[string]any{
			"oidc_endpoint": s.srv.URL + "/oidc", "workspace_id": WorkspaceID})
		return
	}
	if r.Header.Get("Authorization") != "Bearer "+s.opts.Token {
		s.fail(w, &call, &apiError{http.StatusUnauthorized, "UNAUTHENTICATED", "Invalid access token."})
		return
	}
	for _, p := range forwarded {
		if strings.HasPrefix(r.URL.Path, p) {
			call.RPC = "forward"
			if s.forward == nil {
				s.violate("%s %s is a tracking call, and the fake has no tracking server (Options.TrackingURL)", r.Method, r.URL.Path)
				s.fail(w, &call, &apiError{http.StatusNotFound, "ENDPOINT_NOT_FOUND", "No tracking server."})
				return
			}
			rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
			r.Body = io.NopCloser(bytes.NewReader(body))
			s.forward.ServeHTTP(rec, r)
			call.Status = rec.status
			s.record(call)
			return
		}
	}
	rpc, ok := s.routes[r.Method+" "+r.URL.Path]
	if !ok {
		s.violate("%s %s is neither a UC rpc of the trimmed description nor a forwarded tracking call: add the rpc to ucfake.RPCs and run scripts/gen-uc-protos.sh", r.Method, r.URL.Path)
		s.fail(w, &call, &apiError{http.StatusNotFound, "ENDPOINT_NOT_FOUND", "No API found for '" + r.Method + " " + r.URL.Path + "'"})
		return
	}
	call.RPC = rpc
	spec := s.spec.RPCs[rpc]

	var (
		req map[string]any
		err error
	)
	if r.Method == http.MethodGet {
		if len(bytes.TrimSpace(body)) > 0 {
			err = invalid("A GET request carries its parameters in the query string, not in a body")
		} else {
			req, err = s.spec.DecodeQuery(spec.Request, r.URL.Query())
		}
	} else {
		switch {
		case r.URL.RawQuery != "":
			err = invalid("A %s request carries its parameters in a JSON body, not in the query string", r.Method)
		case len(bytes.TrimSpace(body)) > 0 && !strings.HasPrefix(r.Header.Get("Content-Type"), "application/json"):
			err = invalid("Content-Type must be application/json, got %q", r.Header.Get("Content-Type"))
		default:
			req, err = s.spec.DecodeJSON(spec.Request, body)
		}
	}
	if err != nil {
		if !s.opts.ExpectInvalid {
			s.violate("%s %s (%s) does not match MLflow's proto %s: %v", r.Method, r.URL.Path, rpc, spec.Request, err)
		}
		s.fail(w, &call, errInvalid("%s", err.Error()))
		return
	}
	if f := s.takeFault(rpc); f != nil {
		s.fail(w, &call, &apiError{f.Status, f.Code, f.Message})
		return
	}
	var (
		out  map[string]any
		aerr *apiError
	)
	if rpc == "SearchModelVersions" {
		out, aerr = s.search(req)
	} else {
		out, aerr = s.handle(rpc, req)
	}
	if aerr != nil {
		s.fail(w, &call, aerr)
		return
	}
	if err := s.spec.CheckResponse(spec.Response, out); err != nil {
		s.violate("the fake's answer to %s does not match MLflow's proto %s: %v", rpc, spec.Response, err)
	}
	s.reply(w, &call, http.StatusOK, out)
}

type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (r *statusRecorder) WriteHeader(code int) {
	r.status = code
	r.ResponseWriter.WriteHeader(code)
}

func (s *Server) takeFault(rpc string) *Fault {
	s.mu.Lock()
	defer s.mu.Unlock()
	q := s.faults[rpc]
	if len(q) == 0 {
		return nil
	}
	f := q[0]
	if f.Times > 0 {
		f.Times--
		if f.Times == 0 {
			s.faults[rpc] = q[1:]
		}
	}
	return f
}

func (s *Server) fail(w http.ResponseWriter, c *Call, e *apiError) {
	s.reply(w, c, e.status, map[string]any{"error_code": e.code, "message": e.message})
}

func (s *Server) reply(w http.ResponseWriter, c *Call, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		s.t.Errorf("ucfake: failed to encode answer: %v", err)
		status, b = http.StatusInternalServerError, []byte(`{"error_code":"INTERNAL_ERROR","message":"encode"}`)
	}
	c.Status = status
	s.record(*c)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

func (s *Server) handle(rpc string, req map[string]any) (map[string]any, *apiError) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := time.Now().UnixMilli()
	str := func(k string) string { v, _ := req[k].(string); return v }
	name := str("name")
	if name != "" {
		if err := checkName(name); err != nil {
			return nil, errInvalid("%v", err)
		}
	}

	if rpc == "CreateRegisteredModel" {
		if s.models[strings.ToLower(name)] != nil {
			return nil, &apiError{http.StatusConflict, "RESOURCE_ALREADY_EXISTS",
				fmt.Sprintf("Registered model '%s' already exists.", strings.ToLower(name))}
		}
		tags := newTagSet()
		for _, t := range asList(req["tags"]) {
			tm := t.(map[string]any)
			k, _ := tm["key"].(string)
			v, _ := tm["value"].(string)
			if err := checkTag(k, v); err != nil {
				return nil, err
			}
			tags.set(k, v)
		}
		if len(tags.keys) > MaxTagsPerObject {
			return nil, errInvalid("A registered model can have at most %d tags.", MaxTagsPerObject)
		}
		m := s.newModel(name, str("description"), now)
		m.tags = tags
		return map[string]any{"registered_model": s.modelJSON(m)}, nil
	}

	m := s.models[strings.ToLower(name)]
	if m == nil {
		return nil, errNotFound("Routine or Model '%s' does not exist.", strings.ToLower(name))
	}
	ver := func() (*version, *apiError) {
		n, err := strconv.ParseInt(str("version"), 10, 64)
		if err != nil || n < 1 {
			return nil, errInvalid("Invalid version '%s': a model version is a positive integer.", str("version"))
		}
		v := m.versions[n]
		if v == nil {
			return nil, errNotFound("Model version '%s' of '%s' does not exist.", str("version"), m.name)
		}
		return v, nil
	}

	switch rpc {
	case "GetRegisteredModel":
		return map[string]any{"registered_model": s.modelJSON(m)}, nil

	case "DeleteRegisteredModel":
		delete(s.models, m.name)
		return map[string]any{}, nil

	case "GetModelVersion":
		v, err := ver()
		if err != nil {
			return nil, err
		}
		return map[string]any{"model_version": versionJSON(m, v, true)}, nil

	case "GetModelVersionByAlias":
		n, ok := m.aliases[str("alias")]
		if !ok {
			return nil, errNotFound("Alias '%s' does not exist on registered model '%s'.", str("alias"), m.name)
		}
		return map[string]any{"model_version": versionJSON(m, m.versions[n], true)}, nil

	case "SetRegisteredModelAlias":
		if err := checkAlias(str("alias")); err != nil {
			return nil, err
		}
		v, err := ver()
		if err != nil {
			return nil, err
		}
		m.aliases[str("alias")] = v.number
		m.updated = now
		return map[string]any{}, nil

	case "DeleteRegisteredModelAlias":
		delete(m.aliases, str("alias"))
		m.updated = now
		return map[string]any{}, nil

	case "SetRegisteredModelTag", "SetModelVersionTag":
		if err := checkTag(str("key"), str("value")); err != nil {
			return nil, err
		}
		tags, what := m.tags, "registered model"
		if rpc == "SetModelVersionTag" {
			v, err := ver()
			if err != nil {
				return nil, err
			}
			tags, what = v.tags, "model version"
			v.updated = now
		}
		if _, exists := tags.vals[str("key")]; !exists && len(tags.keys) >= MaxTagsPerObject {
			return nil, errInvalid("A %s can have at most %d tags.", what, MaxTagsPerObject)
		}
		tags.set(str("key"), str("value"))
		m.updated = now
		return map[string]any{}, nil

	case "DeleteRegisteredModelTag":
		m.tags.del(str("key"))
		m.updated = now
		return map[string]any{}, nil

	case "DeleteModelVersionTag":
		v, err := ver()
		if err != nil {
			return nil, err
		}
		v.tags.del(str("key"))
		v.updated = now
		return map[string]any{}, nil
	}
	return nil, &apiError{http.StatusNotImplemented, "NOT_IMPLEMENTED", "The fake has no handler for " + rpc}
}

// search answers SearchModelVersions, which names no model in its request.
func (s *Server) search(req map[string]any) (map[string]any, *apiError) {
	filter, _ := req["filter"].(string)
	field, value, err := parseFilter(filter)
	if err != nil {
		return nil, err
	}
	limit := int64(10000) // the proto's default
	if v, ok := req["max_results"].(int64); ok {
		if v < 1 {
			return nil, errInvalid("max_results must be positive, got %d.", v)
		}
		limit = min(v, 10000)
	}
	offset := int64(0)
	if tok, _ := req["page_token"].(string); tok != "" {
		b, err := base64.RawURLEncoding.DecodeString(tok)
		n, perr := strconv.ParseInt(string(b), 10, 64)
		if err != nil || perr != nil || n < 0 {
			return nil, errInvalid("Invalid page_token.")
		}
		offset = n
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var all []any
	names := make([]string, 0, len(s.models))
	for n := range s.models {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		m := s.models[n]
		if field == "name" && m.name != strings.ToLower(value) {
			continue
		}
		nums := make([]int64, 0, len(m.versions))
		for k := range m.versions {
			nums = append(nums, k)
		}
		slices.Sort(nums)
		for _, k := range nums {
			v := m.versions[k]
			if field == "run_id" && v.runID != value {
				continue
			}
			all = append(all, versionJSON(m, v, false))
		}
	}
	out := map[string]any{}
	if offset < int64(len(all)) {
		end := min(offset+limit, int64(len(all)))
		out["model_versions"] = all[offset:end]
		if end < int64(len(all)) {
			out["next_page_token"] = base64.RawURLEncoding.EncodeToString([]byte(strconv.FormatInt(end, 10)))
		}
	}
	return out, nil
}

var filterRE = regexp.MustCompile(`^\s*(name|run_id)\s*=\s*(?:'([^']*)'|"([^"]*)")\s*$`)

// parseFilter accepts the one condition UC's search takes, per MLflow's
// client: name = '...' or run_id = '...'.
func parseFilter(f string) (field, value string, _ *apiError) {
	m := filterRE.FindStringSubmatch(f)
	if m == nil {
		return "", "", errInvalid("Unsupported filter %q: search model versions takes one condition, name = '<model>' or run_id = '<run>'.", f)
	}
	return m[1], m[2] + m[3], nil
}

func (s *Server) modelJSON(m *model) map[string]any {
	out := map[string]any{
		"name": m.name, "creation_timestamp": m.created, "last_updated_timestamp": m.updated,
		"user_id": m.owner,
	}
	if m.description != "" {
		out["description"] = m.description
	}
	if len(m.aliases) > 0 {
		names := make([]string, 0, len(m.aliases))
		for a := range m.aliases {
			names = append(names, a)
		}
		sort.Strings(names)
		var list []any
		for _, a := range names {
			list = append(list, map[string]any{"alias": a, "version": strconv.FormatInt(m.aliases[a], 10)})
		}
		out["aliases"] = list
	}
	if tags := m.tags.list(); len(tags) > 0 {
		out["tags"] = tags
	}
	return out
}

// versionJSON renders v; full adds its aliases and tags (search answers
// leave them out, and MLflow's client drops them there anyway).
func versionJSON(m *model, v *version, full bool) map[string]any {
	out := map[string]any{
		"name": m.name, "version": strconv.FormatInt(v.number, 10),
		"creation_timestamp": v.created, "last_updated_timestamp": v.updated,
		"user_id": v.user, "status": v.status,
	}
	for k, x := range map[string]string{"source": v.source, "run_id": v.runID, "model_id": v.modeID, "description": v.description} {
		if x != "" {
			out[k] = x
		}
	}
	if !full {
		return out
	}
	var aliases []string
	for a, n := range m.aliases {
		if n == v.number {
			aliases = append(aliases, a)
		}
	}
	sort.Strings(aliases)
	if len(aliases) > 0 {
		list := make([]any, 0, len(aliases))
		for _, a := range aliases {
			list = append(list, map[string]any{"alias": a, "version": out["version"]})
		}
		out["aliases"] = list
	}
	if tags := v.tags.list(); len(tags) > 0 {
		out["tags"] = tags
	}
	return out
}

func asList(v any) []any {
	l, _ := v.([]any)
	return l
}

// checkName requires a three-level name. The message carries the words
// MLflow's client looks for to explain a two-level name
// (mlflow/store/_unity_catalog/registry/rest_store.py: "specify all three levels").
func checkName(name string) error {
	parts := strings.Split(name, ".")
	if len(parts) != 3 || slices.Contains(parts, "") {
		return fmt.Errorf("Invalid name '%s': specify all three levels of the model name (catalog.schema.model).", name) //nolint:staticcheck // ST1005: the service's wording, answered to clients
	}
	for _, p := range parts {
		if utf8.RuneCountInString(p) > 255 || strings.ContainsAny(p, "/ \t\n") {
			return fmt.Errorf("Invalid name '%s': each level is at most 255 characters, without spaces or '/'.", name) //nolint:staticcheck // ST1005: as above
		}
	}
	return nil
}

// checkTag applies UC's limits on one tag.
func checkTag(key, value string) *apiError {
	switch {
	case key == "":
		return errInvalid("A tag key must not be empty.")
	case utf8.RuneCountInString(key) > MaxTagKeyChars:
		return errInvalid("Tag key '%.40s…' is longer than %d characters.", key, MaxTagKeyChars)
	case strings.ContainsAny(key, tagKeyForbidden):
		return errInvalid("Tag key '%s' contains a character that is not allowed in tag keys (%s).", key, strings.Join(strings.Split(tagKeyForbidden, ""), " "))
	case strings.TrimFunc(key, unicode.IsSpace) != key:
		return errInvalid("Tag key '%s' has leading or trailing spaces.", key)
	case utf8.RuneCountInString(value) > MaxTagValueChars:
		return errInvalid("The value of tag '%s' is %d characters long; at most %d are allowed.", key, utf8.RuneCountInString(value), MaxTagValueChars)
	case strings.TrimFunc(value, unicode.IsSpace) != value:
		return errInvalid("The value of tag '%s' has leading or trailing spaces.", key)
	}
	return nil
}

var aliasRE = regexp.MustCompile(`^[\p{L}\p{N}_-]+$`)
var reservedAlias = regexp.MustCompile(`^[vV]\d+$`)

// checkAlias applies MLflow's alias rules (mlflow/utils/validation.py).
func checkAlias(a string) *apiError {
	switch {
	case utf8.RuneCountInString(a) > 255 || !aliasRE.MatchString(a):
		return errInvalid("Invalid alias name '%s': use 1 to 255 letters, digits, '_' or '-'.", a)
	case strings.EqualFold(a, "latest"):
		return errInvalid("'latest' alias name (case insensitive) is reserved.")
	case reservedAlias.MatchString(a):
		return errInvalid("Version alias name '%s' is reserved.", a)
	}
	return nil
}
