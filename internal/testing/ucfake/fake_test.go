package ucfake_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/mlreg/mlreg-action/internal/testing/mlflowtest"
	"github.com/mlreg/mlreg-action/internal/testing/testutil"
	"github.com/mlreg/mlreg-action/internal/testing/ucfake"
)

var srv *mlflowtest.Server

func TestMain(m *testing.M) { os.Exit(mlflowtest.Main(m, &srv)) }

const model = "main.ml.fraud"

func TestSpecHoldsExactlyTheRPCs(t *testing.T) {
	t.Parallel()
	spec, err := ucfake.LoadSpec()
	if err != nil {
		t.Fatal(err)
	}
	want := slices.Clone(ucfake.RPCs)
	slices.Sort(want)
	if diff := cmp.Diff(want, spec.RPCNames()); diff != "" {
		t.Errorf("rpcs in %s (-RPCs +description); run scripts/gen-uc-protos.sh:\n%s", ucfake.SpecPath, diff)
	}
	root, err := testutil.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	mk, err := os.ReadFile(filepath.Join(root, "Makefile"))
	if err != nil {
		t.Fatal(err)
	}
	pinned := regexp.MustCompile(`(?m)^MLFLOW_VERSION \?= (\S+)$`).FindSubmatch(mk)
	if pinned == nil {
		t.Fatal("no MLFLOW_VERSION in the Makefile")
	}
	if prefix := "mlflow==" + string(pinned[1]) + " "; !strings.HasPrefix(spec.Source, prefix) {
		t.Errorf("source = %q, want it to start with %q (the pinned wheel); run scripts/gen-uc-protos.sh", spec.Source, prefix)
	}
	for _, name := range spec.RPCNames() {
		if r := spec.RPCs[name]; !strings.HasPrefix(r.Path, "/api/2.0/mlflow/unity-catalog/") {
			t.Errorf("%s is bound to %s %s, outside the UC registry service", name, r.Method, r.Path)
		}
	}
}

// do sends one raw request to the fake and decodes the JSON answer.
func do(t *testing.T, f *ucfake.Server, method, path string, query url.Values, body string, header map[string]string) (int, map[string]any) {
	t.Helper()
	u := f.URL() + path
	if len(query) > 0 {
		u += "?" + query.Encode()
	}
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequestWithContext(t.Context(), method, u, rd)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+f.Token())
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var out map[string]any
	dec := json.NewDecoder(res.Body)
	dec.UseNumber()
	if err := dec.Decode(&out); err != nil {
		t.Fatalf("%s %s: answer is not JSON: %v", method, path, err)
	}
	return res.StatusCode, out
}

const uc = "/api/2.0/mlflow/unity-catalog"

// Requests that break MLflow's proto, or UC's rules, are refused with 400
// INVALID_PARAMETER_VALUE and change nothing.
func TestRejectsWhatTheProtoOrUCRefuses(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("x", 1001)
	cases := []struct {
		name, method, path string
		query              url.Values
		body               string
		header             map[string]string
		wantMsg            string
	}{
		{name: "unknown body field", method: "POST", path: uc + "/registered-models/alias",
			body: `{"name":"main.ml.fraud","alias":"champion","version":"1","force":true}`, wantMsg: "force"},
		{name: "version as a number", method: "POST", path: uc + "/registered-models/alias",
			body: `{"name":"main.ml.fraud","alias":"champion","version":1}`, wantMsg: "version"},
		{name: "name as an object", method: "POST", path: uc + "/model-versions/set-tag",
			body: `{"name":{"a":1},"version":"1","key":"k","value":"v"}`, wantMsg: "name"},
		{name: "tags not an array", method: "POST", path: uc + "/registered-models/create",
			body: `{"name":"main.ml.other","tags":{"key":"a","value":"b"}}`, wantMsg: "tags"},
		{name: "unknown nested field", method: "POST", path: uc + "/registered-models/create",
			body: `{"name":"main.ml.other","tags":[{"key":"a","value":"b","color":"red"}]}`, wantMsg: "tags[0].color"},
		{name: "missing required field", method: "POST", path: uc + "/model-versions/set-tag",
			body: `{"name":"main.ml.fraud","key":"k","value":"v"}`, wantMsg: "Missing value for required parameter 'version'"},
		{name: "malformed JSON", method: "POST", path: uc + "/registered-models/set-tag",
			body: `{"name":"main.ml.fraud",`, wantMsg: "Malformed JSON"},
		{name: "unknown query parameter", method: "GET", path: uc + "/model-versions/get",
			query: url.Values{"name": {model}, "version": {"1"}, "stage": {"Production"}}, wantMsg: "stage"},
		{name: "query parameter given twice", method: "GET", path: uc + "/model-versions/get",
			query: url.Values{"name": {model, model}, "version": {"1"}}, wantMsg: "not repeated"},
		{name: "int64 query parameter not a number", method: "GET", path: uc + "/model-versions/search",
			query: url.Values{"filter": {"name='main.ml.fraud'"}, "max_results": {"ten"}}, wantMsg: "max_results"},
		{name: "GET with a body", method: "GET", path: uc + "/registered-models/get",
			body: `{"name":"main.ml.fraud"}`, wantMsg: "query string"},
		{name: "body without Content-Type", method: "POST", path: uc + "/registered-models/set-tag",
			body: `{"name":"main.ml.fraud","key":"k","value":"v"}`, header: map[string]string{"Content-Type": "text/plain"}, wantMsg: "Content-Type"},

		// UC's own rules.
		{name: "two-level name", method: "GET", path: uc + "/registered-models/get",
			query: url.Values{"name": {"ml.fraud"}}, wantMsg: "specify all three levels"},
		{name: "tag key with a dot", method: "POST", path: uc + "/registered-models/set-tag",
			body: `{"name":"main.ml.fraud","key":"mlreg.history.alias.champion","value":"[]"}`, wantMsg: "not allowed in tag keys"},
		{name: "tag key with a hyphen", method: "POST", path: uc + "/model-versions/set-tag",
			body: `{"name":"main.ml.fraud","version":"1","key":"prod-eu","value":"x"}`, wantMsg: "not allowed in tag keys"},
		{name: "tag value over 1000 characters", method: "POST", path: uc + "/model-versions/set-tag",
			body: `{"name":"main.ml.fraud","version":"1","key":"k","value":"` + long + `"}`, wantMsg: "at most 1000"},
		{name: "reserved alias", method: "POST", path: uc + "/registered-models/alias",
			body: `{"name":"main.ml.fraud","alias":"latest","version":"1"}`, wantMsg: "reserved"},
		{name: "version not a number", method: "POST", path: uc + "/registered-models/alias",
			body: `{"name":"main.ml.fraud","alias":"champion","version":"one"}`, wantMsg: "positive integer"},
		{name: "search filter UC does not take", method: "GET", path: uc + "/model-versions/search",
			query: url.Values{"filter": {"name='main.ml.fraud' AND tags.x='y'"}}, wantMsg: "one condition"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := ucfake.New(t, ucfake.Options{ExpectInvalid: true})
			f.CreateModelVersion(model, ucfake.Version{Source: "models:/m-0123"})
			before := snapshot(f)
			status, out := do(t, f, tc.method, tc.path, tc.query, tc.body, tc.header)
			if status != http.StatusBadRequest || out["error_code"] != "INVALID_PARAMETER_VALUE" {
				t.Fatalf("answer = %d %v, want 400 INVALID_PARAMETER_VALUE", status, out)
			}
			if msg, _ := out["message"].(string); !strings.Contains(msg, tc.wantMsg) {
				t.Errorf("message = %q, want it to mention %q", msg, tc.wantMsg)
			}
			if diff := cmp.Diff(before, snapshot(f)); diff != "" {
				t.Errorf("state changed (-before +after):\n%s", diff)
			}
		})
	}
}

func snapshot(f *ucfake.Server) map[string]any {
	return map[string]any{"aliases": f.Aliases(model), "model tags": f.ModelTags(model), "v1 tags": f.VersionTags(model, "1")}
}

// tb records the errors the fake reports instead of failing the test.
type tb struct {
	testing.TB
	mu   sync.Mutex
	errs []string
}

func (r *tb) Errorf(format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.errs = append(r.errs, fmt.Sprintf(format, args...))
}

// A request that breaks the proto is a bug of the client that sent it: the
// fake fails the test (as well as answering 400), unless told to expect it.
func TestProtoViolationFailsTheTest(t *testing.T) {
	t.Parallel()
	rec := &tb{TB: t}
	f := ucfake.New(rec, ucfake.Options{})
	f.CreateModelVersion(model, ucfake.Version{})
	status, _ := do(t, f, "POST", uc+"/registered-models/alias", nil, `{"name":"main.ml.fraud","alias":"a","version":1}`, nil)
	if status != http.StatusBadRequest {
		t.Errorf("status = %d, want 400", status)
	}
	status, _ = do(t, f, "POST", "/api/2.0/mlflow/registered-models/alias", nil, `{"name":"main.ml.fraud","alias":"a","version":"1"}`, nil)
	if status != http.StatusNotFound {
		t.Errorf("workspace registry call: status = %d, want 404", status)
	}
	if len(rec.errs) != 2 || len(f.Violations()) != 2 {
		t.Fatalf("test errors = %q, violations = %q; want one each for the proto violation and the non-UC registry call", rec.errs, f.Violations())
	}
	if !strings.Contains(rec.errs[0], "SetRegisteredModelAlias") || !strings.Contains(rec.errs[1], "neither a UC rpc") {
		t.Errorf("errors = %q", rec.errs)
	}
	// A UC rule (not the proto) refusing a request is UC's answer, not a client bug.
	status, _ = do(t, f, "GET", uc+"/registered-models/get", url.Values{"name": {"fraud"}}, "", nil)
	if status != http.StatusBadRequest || len(rec.errs) != 2 {
		t.Errorf("two-level name: status = %d, errors = %q; want 400 and no new test error", status, rec.errs)
	}
}

// The fake answers in the proto's JSON mapping as MLflow writes it: proto
// field names, int64 as numbers, enums by name, a version's aliases as
// RegisteredModelAlias objects; and it keeps state across calls.
func TestAnswersInTheProtoJSONMapping(t *testing.T) {
	t.Parallel()
	f := ucfake.New(t, ucfake.Options{})
	v := f.CreateModelVersion(model, ucfake.Version{Source: "models:/m-abc", RunID: "r1", ModelID: "m-abc", Tags: map[string]string{"team": "risk"}})
	if v != "1" {
		t.Fatalf("version = %q, want 1", v)
	}
	if status, out := do(t, f, "POST", uc+"/registered-models/alias", nil, `{"name":"Main.ML.Fraud","alias":"champion","version":"1"}`, nil); status != 200 || len(out) != 0 {
		t.Fatalf("set alias: %d %v", status, out)
	}
	status, out := do(t, f, "GET", uc+"/model-versions/get", url.Values{"name": {model}, "version": {"1"}}, "", nil)
	if status != 200 {
		t.Fatalf("get: %d %v", status, out)
	}
	mv := out["model_version"].(map[string]any)
	if _, ok := mv["creation_timestamp"].(json.Number); !ok {
		t.Errorf("creation_timestamp = %#v, want a JSON number", mv["creation_timestamp"])
	}
	delete(mv, "creation_timestamp")
	delete(mv, "last_updated_timestamp")
	want := map[string]any{
		"name": model, "version": "1", "status": "READY", "source": "models:/m-abc", "run_id": "r1", "model_id": "m-abc",
		"user_id": ucfake.DefaultOwner,
		"aliases": []any{map[string]any{"alias": "champion", "version": "1"}},
		"tags":    []any{map[string]any{"key": "team", "value": "risk"}},
	}
	if diff := cmp.Diff(want, mv); diff != "" {
		t.Errorf("model_version (-want +got):\n%s", diff)
	}
	if got := f.Aliases(model); !cmp.Equal(got, map[string]string{"champion": "1"}) {
		t.Errorf("aliases = %v (names are case-insensitive in UC)", got)
	}
}

func TestTagLimitPerObject(t *testing.T) {
	t.Parallel()
	f := ucfake.New(t, ucfake.Options{})
	f.CreateModelVersion(model, ucfake.Version{})
	for i := range ucfake.MaxTagsPerObject {
		body := fmt.Sprintf(`{"name":%q,"key":"k%d","value":"v"}`, model, i)
		if status, out := do(t, f, "POST", uc+"/registered-models/set-tag", nil, body, nil); status != 200 {
			t.Fatalf("tag %d: %d %v", i, status, out)
		}
	}
	// Overwriting a tag is fine at the limit; a 51st is not.
	if status, out := do(t, f, "POST", uc+"/registered-models/set-tag", nil, `{"name":"main.ml.fraud","key":"k0","value":"w"}`, nil); status != 200 {
		t.Fatalf("overwrite: %d %v", status, out)
	}
	status, out := do(t, f, "POST", uc+"/registered-models/set-tag", nil, `{"name":"main.ml.fraud","key":"k50","value":"v"}`, nil)
	if status != 400 || !strings.Contains(fmt.Sprint(out["message"]), "at most 50 tags") {
		t.Errorf("51st tag: %d %v, want 400 naming the limit", status, out)
	}
	if n := len(f.ModelTags(model)); n != ucfake.MaxTagsPerObject {
		t.Errorf("%d tags, want %d", n, ucfake.MaxTagsPerObject)
	}
}

func TestAuthAndUnknownPaths(t *testing.T) {
	t.Parallel()
	f := ucfake.New(t, ucfake.Options{})
	status, out := do(t, f, "GET", uc+"/registered-models/get", url.Values{"name": {model}}, "", map[string]string{"Authorization": "Bearer wrong"})
	if status != http.StatusUnauthorized || out["error_code"] != "UNAUTHENTICATED" {
		t.Errorf("wrong token: %d %v", status, out)
	}
	status, out = do(t, f, "GET", uc+"/registered-models/get", url.Values{"name": {model}}, "", nil)
	if status != http.StatusNotFound || out["error_code"] != "RESOURCE_DOES_NOT_EXIST" {
		t.Errorf("missing model: %d %v", status, out)
	}
	status, out = do(t, f, "GET", "/.well-known/databricks-config", nil, "", map[string]string{"Authorization": ""})
	if status != http.StatusOK || out["workspace_id"] != ucfake.WorkspaceID {
		t.Errorf("host metadata: %d %v", status, out)
	}
}

func TestSearchPagesAndFilters(t *testing.T) {
	t.Parallel()
	f := ucfake.New(t, ucfake.Options{})
	for i := range 5 {
		f.CreateModelVersion(model, ucfake.Version{RunID: fmt.Sprintf("run%d", i%2)})
	}
	f.CreateModelVersion("main.ml.other", ucfake.Version{RunID: "run0"})
	var got []string
	token := ""
	for page := 0; page < 10; page++ {
		q := url.Values{"filter": {"name = 'main.ml.fraud'"}, "max_results": {"2"}}
		if token != "" {
			q.Set("page_token", token)
		}
		status, out := do(t, f, "GET", uc+"/model-versions/search", q, "", nil)
		if status != 200 {
			t.Fatalf("search: %d %v", status, out)
		}
		for _, v := range out["model_versions"].([]any) {
			got = append(got, v.(map[string]any)["version"].(string))
		}
		token, _ = out["next_page_token"].(string)
		if token == "" {
			break
		}
	}
	if diff := cmp.Diff([]string{"1", "2", "3", "4", "5"}, got); diff != "" {
		t.Errorf("versions (-want +got):\n%s", diff)
	}
	_, out := do(t, f, "GET", uc+"/model-versions/search", url.Values{"filter": {`run_id="run0"`}}, "", nil)
	var names []string
	for _, v := range out["model_versions"].([]any) {
		m := v.(map[string]any)
		names = append(names, m["name"].(string)+"/"+m["version"].(string))
	}
	if diff := cmp.Diff([]string{"main.ml.fraud/1", "main.ml.fraud/3", "main.ml.fraud/5", "main.ml.other/1"}, names); diff != "" {
		t.Errorf("run_id search (-want +got):\n%s", diff)
	}
}

// LimitProblems reports what a seeded object holds beyond UC's limits (the
// fake's own writes refuse it; seeding does not check).
func TestLimitProblems(t *testing.T) {
	t.Parallel()
	f := ucfake.New(t, ucfake.Options{})
	ok := map[string]string{"mlreg_promotion_alias_champion": strings.Repeat("é", 400)} // 800 bytes
	f.CreateModelVersion("main.ml.ok", ucfake.Version{Tags: ok})
	if got := f.LimitProblems("main.ml.ok"); len(got) != 0 {
		t.Errorf("problems of a model within the limits: %q", got)
	}
	many := map[string]string{"mlreg.dotted": "x", "mlreg_history_alias_champion": strings.Repeat("é", 600)} // 1,200 bytes
	for i := range ucfake.MaxTagsPerObject {
		many[fmt.Sprintf("t%02d", i)] = "v"
	}
	f.CreateModelVersion("main.ml.bad", ucfake.Version{Tags: many})
	got := f.LimitProblems("main.ml.bad")
	want := []string{"has 52 tags", "'mlreg.dotted' contains a character", "mlreg_history_alias_champion is 1200 bytes"}
	if len(got) != len(want) {
		t.Fatalf("problems = %q, want %d", got, len(want))
	}
	for _, w := range want {
		if !strings.Contains(strings.Join(got, "\n"), w) {
			t.Errorf("problems %q do not say %q", got, w)
		}
	}
}
