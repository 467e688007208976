package mlflow

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

const api = "/api/2.0/mlflow"

func TestRequestEncoding(t *testing.T) {
	t.Parallel()

	const mvJSON = `{"model_version": {"name": "m", "version": "3"}}`
	cases := []struct {
		name string
		call func(ctx context.Context, c *Client) error
		resp string
		want captured
	}{
		{
			name: "GetRegisteredModel",
			call: func(ctx context.Context, c *Client) error {
				_, err := c.GetRegisteredModel(ctx, "churn model")
				return err
			},
			resp: `{"registered_model": {"name": "churn model"}}`,
			want: captured{
				Method: "GET", Path: api + "/registered-models/get",
				Query: url.Values{"name": {"churn model"}},
			},
		},
		{
			name: "CreateRegisteredModel",
			call: func(ctx context.Context, c *Client) error {
				_, err := c.CreateRegisteredModel(ctx, "m", "desc", []Tag{{Key: "team", Value: "ml"}})
				return err
			},
			resp: `{"registered_model": {"name": "m"}}`,
			want: captured{
				Method: "POST", Path: api + "/registered-models/create", ContentType: "application/json",
				Body: map[string]any{
					"name": "m", "description": "desc",
					"tags": []any{map[string]any{"key": "team", "value": "ml"}},
				},
			},
		},
		{
			name: "SetRegisteredModelTag",
			call: func(ctx context.Context, c *Client) error { return c.SetRegisteredModelTag(ctx, "m", "k", "v") },
			resp: `{}`,
			want: captured{
				Method: "POST", Path: api + "/registered-models/set-tag", ContentType: "application/json",
				Body: map[string]any{"name": "m", "key": "k", "value": "v"},
			},
		},
		{
			name: "DeleteRegisteredModelTag",
			call: func(ctx context.Context, c *Client) error { return c.DeleteRegisteredModelTag(ctx, "m", "k") },
			resp: `{}`,
			want: captured{
				Method: "DELETE", Path: api + "/registered-models/delete-tag", ContentType: "application/json",
				Body: map[string]any{"name": "m", "key": "k"},
			},
		},
		{
			name: "DeleteRegisteredModel",
			call: func(ctx context.Context, c *Client) error { return c.DeleteRegisteredModel(ctx, "m") },
			resp: `{}`,
			want: captured{
				Method: "DELETE", Path: api + "/registered-models/delete", ContentType: "application/json",
				Body: map[string]any{"name": "m"},
			},
		},
		{
			name: "GetModelVersion",
			call: func(ctx context.Context, c *Client) error {
				_, err := c.GetModelVersion(ctx, "m", "3")
				return err
			},
			resp: mvJSON,
			want: captured{
				Method: "GET", Path: api + "/model-versions/get",
				Query: url.Values{"name": {"m"}, "version": {"3"}},
			},
		},
		{
			name: "CreateModelVersion",
			call: func(ctx context.Context, c *Client) error {
				_, err := c.CreateModelVersion(ctx, CreateModelVersionRequest{
					Name: "m", Source: "s3://b/m", RunID: "r1", Tags: []Tag{{Key: "k", Value: "v"}},
				})
				return err
			},
			resp: mvJSON,
			want: captured{
				Method: "POST", Path: api + "/model-versions/create", ContentType: "application/json",
				Body: map[string]any{
					"name": "m", "source": "s3://b/m", "run_id": "r1",
					"tags": []any{map[string]any{"key": "k", "value": "v"}},
				},
			},
		},
		{
			name: "SearchModelVersions",
			call: func(ctx context.Context, c *Client) error {
				_, err := c.SearchModelVersions(ctx, "name='m'", []string{"version_number DESC", "name ASC"}, 10)
				return err
			},
			resp: `{"model_versions": []}`,
			want: captured{
				Method: "GET", Path: api + "/model-versions/search",
				Query: url.Values{
					"filter":      {"name='m'"},
					"order_by":    {"version_number DESC", "name ASC"},
					"max_results": {"10"},
				},
			},
		},
		{
			name: "LatestVersion",
			call: func(ctx context.Context, c *Client) error {
				_, err := c.LatestVersion(ctx, "m")
				return err
			},
			resp: `{"model_versions": [{"name": "m", "version": "7"}]}`,
			want: captured{
				Method: "GET", Path: api + "/model-versions/search",
				Query: url.Values{
					"filter":      {"name='m'"},
					"order_by":    {"version_number DESC"},
					"max_results": {"1"},
				},
			},
		},
		{
			name: "GetModelVersionByAlias",
			call: func(ctx context.Context, c *Client) error {
				_, err := c.GetModelVersionByAlias(ctx, "m", "champion")
				return err
			},
			resp: mvJSON,
			want: captured{
				Method: "GET", Path: api + "/registered-models/alias",
				Query: url.Values{"name": {"m"}, "alias": {"champion"}},
			},
		},
		{
			name: "SetAlias",
			call: func(ctx context.Context, c *Client) error { return c.SetAlias(ctx, "m", "champion", "3") },
			resp: `{}`,
			want: captured{
				Method: "POST", Path: api + "/registered-models/alias", ContentType: "application/json",
				Body: map[string]any{"name": "m", "alias": "champion", "version": "3"},
			},
		},
		{
			name: "DeleteAlias",
			call: func(ctx context.Context, c *Client) error { return c.DeleteAlias(ctx, "m", "champion") },
			resp: `{}`,
			want: captured{
				Method: "DELETE", Path: api + "/registered-models/alias", ContentType: "application/json",
				Body: map[string]any{"name": "m", "alias": "champion"},
			},
		},
		{
			name: "TransitionStage archive",
			call: func(ctx context.Context, c *Client) error {
				_, err := c.TransitionStage(ctx, "m", "3", StageProduction, true)
				return err
			},
			resp: mvJSON,
			want: captured{
				Method: "POST", Path: api + "/model-versions/transition-stage", ContentType: "application/json",
				Body: map[string]any{
					"name": "m", "version": "3", "stage": "Production", "archive_existing_versions": true,
				},
			},
		},
		{
			name: "TransitionStage no archive sends false",
			call: func(ctx context.Context, c *Client) error {
				_, err := c.TransitionStage(ctx, "m", "3", StageStaging, false)
				return err
			},
			resp: mvJSON,
			want: captured{
				Method: "POST", Path: api + "/model-versions/transition-stage", ContentType: "application/json",
				Body: map[string]any{
					"name": "m", "version": "3", "stage": "Staging", "archive_existing_versions": false,
				},
			},
		},
		{
			name: "GetLatestVersions",
			call: func(ctx context.Context, c *Client) error {
				_, err := c.GetLatestVersions(ctx, "m", []string{StageStaging, StageProduction})
				return err
			},
			resp: `{"model_versions": []}`,
			want: captured{
				Method: "POST", Path: api + "/registered-models/get-latest-versions", ContentType: "application/json",
				Body: map[string]any{"name": "m", "stages": []any{"Staging", "Production"}},
			},
		},
		{
			name: "SetModelVersionTag",
			call: func(ctx context.Context, c *Client) error { return c.SetModelVersionTag(ctx, "m", "3", "k", "v") },
			resp: `{}`,
			want: captured{
				Method: "POST", Path: api + "/model-versions/set-tag", ContentType: "application/json",
				Body: map[string]any{"name": "m", "version": "3", "key": "k", "value": "v"},
			},
		},
		{
			name: "DeleteModelVersionTag",
			call: func(ctx context.Context, c *Client) error { return c.DeleteModelVersionTag(ctx, "m", "3", "k") },
			resp: `{}`,
			want: captured{
				Method: "DELETE", Path: api + "/model-versions/delete-tag", ContentType: "application/json",
				Body: map[string]any{"name": "m", "version": "3", "key": "k"},
			},
		},
		{
			name: "GetRun",
			call: func(ctx context.Context, c *Client) error {
				_, err := c.GetRun(ctx, "abc")
				return err
			},
			resp: `{"run": {"info": {"run_id": "abc"}}}`,
			want: captured{Method: "GET", Path: api + "/runs/get", Query: url.Values{"run_id": {"abc"}}},
		},
		{
			name: "MetricHistoryPages",
			call: func(ctx context.Context, c *Client) error {
				_, err := metricHistory(ctx, c, "abc", "val loss")
				return err
			},
			resp: `{"metrics": []}`,
			want: captured{
				Method: "GET", Path: api + "/metrics/get-history",
				Query: url.Values{"run_id": {"abc"}, "metric_key": {"val loss"}, "max_results": {"25000"}},
			},
		},
		{
			name: "GetLoggedModel escapes the id",
			call: func(ctx context.Context, c *Client) error {
				_, err := c.GetLoggedModel(ctx, "m-a/b c")
				return err
			},
			resp: `{"model": {"info": {"model_id": "m-a/b c"}}}`,
			want: captured{Method: "GET", Path: api + "/logged-models/m-a%2Fb%20c"},
		},
		{
			name: "ListArtifacts",
			call: func(ctx context.Context, c *Client) error {
				_, err := c.ListArtifacts(ctx, "abc", "model")
				return err
			},
			resp: `{"root_uri": "mlflow-artifacts:/1/abc/artifacts", "files": [{"path": "model/MLmodel", "file_size": 521}]}`,
			want: captured{Method: "GET", Path: api + "/artifacts/list", Query: url.Values{"run_id": {"abc"}, "path": {"model"}}},
		},
		{
			name: "SearchLoggedModels",
			call: func(ctx context.Context, c *Client) error {
				_, err := c.SearchLoggedModels(ctx, []string{"7"}, "name = 'model'")
				return err
			},
			resp: `{"models": []}`,
			want: captured{
				Method: "POST", Path: api + "/logged-models/search", ContentType: "application/json",
				Body: map[string]any{"experiment_ids": []any{"7"}, "filter": "name = 'model'", "max_results": float64(100)},
			},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var (
				mu  sync.Mutex
				got []captured
			)
			srv := newServer(t, func(w http.ResponseWriter, r *http.Request) {
				c := capture(t, r)
				mu.Lock()
				got = append(got, c)
				mu.Unlock()
				writeJSON(w, http.StatusOK, tc.resp)
			})
			c, _ := newTestClient(t, srv.URL+"/", nil)
			if err := tc.call(t.Context(), c); err != nil {
				t.Fatalf("call: %v", err)
			}
			mu.Lock()
			defer mu.Unlock()
			if diff := cmp.Diff([]captured{tc.want}, got, cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("request mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestPathPrefix(t *testing.T) {
	t.Parallel()
	srv := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/mlflow/api/2.0/mlflow/registered-models/alias" {
			writeJSON(w, http.StatusNotFound, "")
			return
		}
		writeJSON(w, http.StatusForbidden, `{"error_code": "PERMISSION_DENIED", "message": "Permission denied"}`)
	})
	c, _ := newTestClient(t, srv.URL+"/mlflow/", nil)
	if got, want := c.BaseURL(), srv.URL+"/mlflow"; got != want {
		t.Errorf("BaseURL() = %q, want %q", got, want)
	}
	err := c.SetAlias(t.Context(), "m", "champion", "3")
	want := `failed to set alias "champion" of registered model "m" to v3: ` +
		`POST /mlflow/api/2.0/mlflow/registered-models/alias: 403 PERMISSION_DENIED: Permission denied`
	if err == nil || err.Error() != want {
		t.Errorf("SetAlias() error = %v, want %s", err, want)
	}
}

func TestResponseDecoding(t *testing.T) {
	t.Parallel()
	srv := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case api + "/model-versions/get":
			writeJSON(w, http.StatusOK, `{"model_version": {
				"name": "m", "version": "3", "creation_timestamp": 1700000000000,
				"current_stage": "Staging", "source": "models:/m-0123", "run_id": "r1",
				"status": "READY", "tags": [{"key": "k", "value": "v"}], "aliases": ["champion"],
				"unknown_future_field": {"x": 1}}}`)
		case api + "/registered-models/get":
			writeJSON(w, http.StatusOK, `{"registered_model": {"name": "m",
				"aliases": [{"alias": "champion", "version": "3"}],
				"latest_versions": [{"name": "m", "version": "3", "current_stage": "Staging"}]}}`)
		case api + "/runs/get":
			writeJSON(w, http.StatusOK, `{"run": {"info": {"run_id": "r1", "status": "FINISHED"},
				"data": {"metrics": [{"key": "acc", "value": 0.91, "step": 2}], "params": [{"key": "a", "value": "1"}]}}}`)
		case api + "/logged-models/m-0123":
			writeJSON(w, http.StatusOK, `{"model": {"info": {"model_id": "m-0123", "source_run_id": "r1"},
				"data": {"metrics": [{"key": "acc", "value": 0.9, "dataset_name": "eval"}]}}}`)
		default:
			writeJSON(w, http.StatusNotFound, "")
		}
	})
	c, _ := newTestClient(t, srv.URL, nil)
	ctx := t.Context()

	mv, err := c.GetModelVersion(ctx, "m", "3")
	if err != nil {
		t.Fatal(err)
	}
	wantMV := &ModelVersion{
		Name: "m", Version: "3", CreationTimestamp: 1700000000000, CurrentStage: StageStaging,
		Source: "models:/m-0123", RunID: "r1", Status: StatusReady,
		Tags: []Tag{{Key: "k", Value: "v"}}, Aliases: []string{"champion"},
	}
	if diff := cmp.Diff(wantMV, mv); diff != "" {
		t.Errorf("GetModelVersion (-want +got):\n%s", diff)
	}

	rm, err := c.GetRegisteredModel(ctx, "m")
	if err != nil {
		t.Fatal(err)
	}
	wantRM := &RegisteredModel{
		Name:           "m",
		Aliases:        []AliasRef{{Alias: "champion", Version: "3"}},
		LatestVersions: []ModelVersion{{Name: "m", Version: "3", CurrentStage: StageStaging}},
	}
	if diff := cmp.Diff(wantRM, rm); diff != "" {
		t.Errorf("GetRegisteredModel (-want +got):\n%s", diff)
	}

	run, err := c.GetRun(ctx, "r1")
	if err != nil {
		t.Fatal(err)
	}
	wantRun := &Run{
		Info: RunInfo{RunID: "r1", Status: RunFinished},
		Data: RunData{Metrics: []Metric{{Key: "acc", Value: 0.91, Step: 2}}, Params: []Param{{Key: "a", Value: "1"}}},
	}
	if diff := cmp.Diff(wantRun, run); diff != "" {
		t.Errorf("GetRun (-want +got):\n%s", diff)
	}

	lm, err := c.GetLoggedModel(ctx, "m-0123")
	if err != nil {
		t.Fatal(err)
	}
	wantLM := &LoggedModel{
		Info: LoggedModelInfo{ModelID: "m-0123", SourceRunID: "r1"},
		Data: LoggedModelData{Metrics: []Metric{{Key: "acc", Value: 0.9, DatasetName: "eval"}}},
	}
	if diff := cmp.Diff(wantLM, lm); diff != "" {
		t.Errorf("GetLoggedModel (-want +got):\n%s", diff)
	}
}

func TestBadSuccessResponses(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name    string
		body    string
		wantErr string
	}{
		{name: "HTML login page", body: "<html><body>Sign in</body></html>", wantErr: `failed to decode response of GET /api/2.0/mlflow/model-versions/get (body starts "<html>`},
		{name: "empty body", body: "", wantErr: "failed to decode response"},
		{name: "JSON without the entity", body: `{}`, wantErr: `response has no "model_version" field`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			srv := newServer(t, func(w http.ResponseWriter, r *http.Request) {
				w.WriteHeader(http.StatusOK)
				_, _ = w.Write([]byte(tc.body))
			})
			c, s := newTestClient(t, srv.URL, nil)
			_, err := c.GetModelVersion(t.Context(), "m", "1")
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("GetModelVersion() error = %v, want it to contain %q", err, tc.wantErr)
			}
			if got := c.Requests(); got != 1 {
				t.Errorf("Requests() = %d, want 1 (no retry)", got)
			}
			if got := s.got(); len(got) != 0 {
				t.Errorf("slept %v, want no sleep", got)
			}
		})
	}
}

// pagedServer serves items in pages of at most pageCap, using the offset as
// page token, and records every query.
func pagedServer(t *testing.T, path, field string, items []string, pageCap int) (*Client, func() []url.Values) {
	t.Helper()
	var (
		mu      sync.Mutex
		queries []url.Values
	)
	srv := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet || r.URL.Path != path {
			t.Errorf("unexpected request %s %s", r.Method, r.URL.Path)
			writeJSON(w, http.StatusNotFound, "")
			return
		}
		q := r.URL.Query()
		mu.Lock()
		queries = append(queries, q)
		mu.Unlock()
		maxResults, err := strconv.Atoi(q.Get("max_results"))
		if err != nil || maxResults <= 0 {
			// What the real get-history does without max_results: an empty page.
			writeJSON(w, http.StatusOK, `{}`)
			return
		}
		off := 0
		if tok := q.Get("page_token"); tok != "" {
			off, _ = strconv.Atoi(tok)
		}
		end := min(off+min(maxResults, pageCap), len(items))
		next := ""
		if end < len(items) {
			next = strconv.Itoa(end)
		}
		writeJSON(w, http.StatusOK, fmt.Sprintf(`{%q: [%s], "next_page_token": %q}`,
			field, strings.Join(items[off:end], ","), next))
	})
	c, _ := newTestClient(t, srv.URL, nil)
	return c, func() []url.Values {
		mu.Lock()
		defer mu.Unlock()
		return queries
	}
}

func TestSearchModelVersionsPagination(t *testing.T) {
	t.Parallel()
	var items []string
	for i := 1; i <= 5; i++ {
		items = append(items, fmt.Sprintf(`{"name": "m", "version": "%d"}`, i))
	}
	q := func(maxResults, token string) url.Values {
		v := url.Values{"filter": {"name='m'"}, "order_by": {"version_number ASC"}, "max_results": {maxResults}}
		if token != "" {
			v.Set("page_token", token)
		}
		return v
	}
	cases := []struct {
		name         string
		maxResults   int
		wantVersions []string
		wantQueries  []url.Values
	}{
		{
			name:         "all",
			maxResults:   0,
			wantVersions: []string{"1", "2", "3", "4", "5"},
			wantQueries:  []url.Values{q("1000", ""), q("1000", "2"), q("1000", "4")},
		},
		{
			name:         "limit across pages",
			maxResults:   3,
			wantVersions: []string{"1", "2", "3"},
			wantQueries:  []url.Values{q("3", ""), q("3", "2")},
		},
		{
			name:         "limit within first page",
			maxResults:   1,
			wantVersions: []string{"1"},
			wantQueries:  []url.Values{q("1", "")},
		},
		{
			name:         "page size capped at 1000",
			maxResults:   5000,
			wantVersions: []string{"1", "2", "3", "4", "5"},
			wantQueries:  []url.Values{q("1000", ""), q("1000", "2"), q("1000", "4")},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c, queries := pagedServer(t, api+"/model-versions/search", "model_versions", items, 2)
			got, err := c.SearchModelVersions(t.Context(), "name='m'", []string{"version_number ASC"}, tc.maxResults)
			if err != nil {
				t.Fatal(err)
			}
			var versions []string
			for _, v := range got {
				versions = append(versions, v.Version)
			}
			if diff := cmp.Diff(tc.wantVersions, versions); diff != "" {
				t.Errorf("versions (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tc.wantQueries, queries()); diff != "" {
				t.Errorf("queries (-want +got):\n%s", diff)
			}
		})
	}
}

// metricHistory collects every page of a metric's history.
func metricHistory(ctx context.Context, c *Client, runID, key string) ([]Metric, error) {
	var out []Metric
	err := c.MetricHistoryPages(ctx, runID, key, func(page []Metric) error {
		out = append(out, page...)
		return nil
	})
	return out, err
}

func TestMetricHistoryPagination(t *testing.T) {
	t.Parallel()
	var items []string
	for i := range 5 {
		items = append(items, fmt.Sprintf(`{"key": "loss", "value": %d.5, "step": %d}`, i, i))
	}
	c, queries := pagedServer(t, api+"/metrics/get-history", "metrics", items, 2)
	got, err := metricHistory(t.Context(), c, "r1", "loss")
	if err != nil {
		t.Fatal(err)
	}
	var want []Metric
	for i := range 5 {
		want = append(want, Metric{Key: "loss", Value: MetricValue(float64(i) + 0.5), Step: int64(i)})
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("metrics (-want +got):\n%s", diff)
	}
	q := func(token string) url.Values {
		v := url.Values{"run_id": {"r1"}, "metric_key": {"loss"}, "max_results": {"25000"}}
		if token != "" {
			v.Set("page_token", token)
		}
		return v
	}
	if diff := cmp.Diff([]url.Values{q(""), q("2"), q("4")}, queries()); diff != "" {
		t.Errorf("queries (-want +got):\n%s", diff)
	}
}

func TestPaginationMustAdvance(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		call func(ctx context.Context, c *Client) error
		body string
	}{
		{
			name: "search",
			call: func(ctx context.Context, c *Client) error {
				_, err := c.SearchModelVersions(ctx, "", nil, 0)
				return err
			},
			body: `{"model_versions": [{"version": "1"}], "next_page_token": "same"}`,
		},
		{
			name: "metric history",
			call: func(ctx context.Context, c *Client) error {
				_, err := metricHistory(ctx, c, "r", "k")
				return err
			},
			body: `{"metrics": [{"key": "k", "value": 1}], "next_page_token": "same"}`,
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			srv := newServer(t, func(w http.ResponseWriter, r *http.Request) { writeJSON(w, http.StatusOK, tc.body) })
			c, _ := newTestClient(t, srv.URL, nil)
			err := tc.call(t.Context(), c)
			if err == nil || !strings.Contains(err.Error(), "pagination does not advance") {
				t.Fatalf("error = %v, want pagination error", err)
			}
			if got := c.Requests(); got != 2 {
				t.Errorf("Requests() = %d, want 2", got)
			}
		})
	}
}

func TestLatestVersion(t *testing.T) {
	t.Parallel()
	const promptFilter = " AND tags.`mlflow.prompt.is_prompt` = 'true'"
	cases := []struct {
		name         string
		model        string
		resp         map[string]string // filter → answer; any other filter gets {}
		wantFilters  []string
		wantVersion  string
		wantNotFound bool
		wantErr      string
	}{
		{
			name: "found", model: "m", resp: map[string]string{"name='m'": `{"model_versions": [{"name": "m", "version": "12"}]}`},
			wantFilters: []string{"name='m'"}, wantVersion: "12",
		},
		{
			name: "quote in name", model: "bob's", resp: map[string]string{`name="bob's"`: `{"model_versions": [{"name": "bob's", "version": "2"}]}`},
			wantFilters: []string{`name="bob's"`}, wantVersion: "2",
		},
		{
			// MLflow's search leaves prompt versions out unless the filter names the prompt tag.
			name: "prompt", model: "support", resp: map[string]string{"name='support'" + promptFilter: `{"model_versions": [{"name": "support", "version": "4"}]}`},
			wantFilters: []string{"name='support'", "name='support'" + promptFilter}, wantVersion: "4",
		},
		{
			name: "no versions", model: "m",
			wantFilters: []string{"name='m'", "name='m'" + promptFilter}, wantNotFound: true, wantErr: `failed to find latest version of registered model "m"`,
		},
		{name: "unquotable name", model: `a'b"c`, wantErr: "both quote characters"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var (
				mu      sync.Mutex
				filters []string
			)
			srv := newServer(t, func(w http.ResponseWriter, r *http.Request) {
				f := r.URL.Query().Get("filter")
				mu.Lock()
				filters = append(filters, f)
				mu.Unlock()
				resp, ok := tc.resp[f]
				if !ok {
					resp = `{}`
				}
				writeJSON(w, http.StatusOK, resp)
			})
			c, _ := newTestClient(t, srv.URL, nil)
			mv, err := c.LatestVersion(t.Context(), tc.model)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("LatestVersion() error = %v, want %q", err, tc.wantErr)
				}
				if got := IsNotFound(err); got != tc.wantNotFound {
					t.Errorf("IsNotFound() = %v, want %v", got, tc.wantNotFound)
				}
			} else {
				if err != nil {
					t.Fatalf("LatestVersion(): %v", err)
				}
				if mv.Version != tc.wantVersion {
					t.Errorf("Version = %q, want %q", mv.Version, tc.wantVersion)
				}
			}
			mu.Lock()
			defer mu.Unlock()
			if diff := cmp.Diff(tc.wantFilters, filters); diff != "" {
				t.Errorf("filters (-want +got):\n%s", diff)
			}
		})
	}
}

func TestGetModelVersionByAlias(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name          string
		status        int
		body          string
		wantVersion   string
		wantAliasNF   bool
		wantNotFound  bool
		wantErrSubstr string
	}{
		{name: "set", status: 200, body: `{"model_version": {"name": "m", "version": "4", "aliases": ["champion"]}}`, wantVersion: "4"},
		{
			name: "alias unset", status: 400, wantAliasNF: true,
			body: `{"error_code": "INVALID_PARAMETER_VALUE", "message": "Registered model alias champion not found."}`,
		},
		{
			name: "alias unset reported as 404", status: 404, wantAliasNF: true,
			body: `{"error_code": "RESOURCE_DOES_NOT_EXIST", "message": "Alias champion not found"}`,
		},
		{
			name: "model missing", status: 404, wantNotFound: true,
			body:          `{"error_code": "RESOURCE_DOES_NOT_EXIST", "message": "Registered Model with name=m not found"}`,
			wantErrSubstr: `failed to get alias "champion" of registered model "m": GET /api/2.0/mlflow/registered-models/alias: 404 RESOURCE_DOES_NOT_EXIST`,
		},
		{
			name: "other invalid parameter", status: 400,
			body:          `{"error_code": "INVALID_PARAMETER_VALUE", "message": "Invalid alias name: '!'"}`,
			wantErrSubstr: "400 INVALID_PARAMETER_VALUE: Invalid alias name",
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			srv := newServer(t, func(w http.ResponseWriter, r *http.Request) { writeJSON(w, tc.status, tc.body) })
			c, _ := newTestClient(t, srv.URL, nil)
			mv, err := c.GetModelVersionByAlias(t.Context(), "m", "champion")
			switch {
			case tc.wantAliasNF:
				if err != ErrAliasNotFound { //nolint:errorlint // The contract is the bare sentinel.
					t.Fatalf("error = %v, want exactly ErrAliasNotFound", err)
				}
				if mv != nil {
					t.Errorf("model version = %+v, want nil", mv)
				}
			case tc.wantErrSubstr != "":
				if err == nil || !strings.Contains(err.Error(), tc.wantErrSubstr) {
					t.Fatalf("error = %v, want it to contain %q", err, tc.wantErrSubstr)
				}
				if errors.Is(err, ErrAliasNotFound) {
					t.Errorf("error %v must not be ErrAliasNotFound", err)
				}
				if got := IsNotFound(err); got != tc.wantNotFound {
					t.Errorf("IsNotFound() = %v, want %v", got, tc.wantNotFound)
				}
			default:
				if err != nil {
					t.Fatal(err)
				}
				if mv.Version != tc.wantVersion {
					t.Errorf("Version = %q, want %q", mv.Version, tc.wantVersion)
				}
			}
		})
	}
}
