package mlflow

import (
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestRunOutputsDecoding(t *testing.T) {
	t.Parallel()
	// As MLflow 3.17.2 answers runs/get for a run that logged three models.
	srv := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, `{"run": {"info": {"run_id": "r1", "experiment_id": "11",
			"artifact_uri": "mlflow-artifacts:/11/r1/artifacts"}, "data": {}, "inputs": {},
			"outputs": {"model_outputs": [{"model_id": "m-b", "step": 5}, {"model_id": "m-a", "step": 0}, {"model_id": "m-c"}]}}}`)
	})
	c, _ := newTestClient(t, srv.URL, nil)
	run, err := c.GetRun(t.Context(), "r1")
	if err != nil {
		t.Fatal(err)
	}
	want := []ModelOutput{{ModelID: "m-b", Step: 5}, {ModelID: "m-a"}, {ModelID: "m-c"}}
	if diff := cmp.Diff(want, run.Outputs.ModelOutputs); diff != "" {
		t.Errorf("model outputs (-want +got):\n%s", diff)
	}
}

func TestListArtifactsPages(t *testing.T) {
	t.Parallel()
	var (
		mu     sync.Mutex
		tokens []string
	)
	pages := map[string]string{
		"":   `{"root_uri": "mlflow-artifacts:/1/r/artifacts", "files": [{"path": "model/MLmodel", "file_size": 521}], "next_page_token": "p2"}`,
		"p2": `{"root_uri": "mlflow-artifacts:/1/r/artifacts", "files": [{"path": "model/data", "is_dir": true}]}`,
	}
	srv := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		if r.URL.Path != api+"/artifacts/list" || q.Get("run_id") != "r" || q.Get("path") != "model" {
			t.Errorf("unexpected request %s %s", r.Method, r.URL)
		}
		mu.Lock()
		tokens = append(tokens, q.Get("page_token"))
		mu.Unlock()
		writeJSON(w, http.StatusOK, pages[q.Get("page_token")])
	})
	c, _ := newTestClient(t, srv.URL, nil)
	got, err := c.ListArtifacts(t.Context(), "r", "model")
	if err != nil {
		t.Fatal(err)
	}
	want := []FileInfo{{Path: "model/MLmodel", FileSize: 521}, {Path: "model/data", IsDir: true}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("files (-want +got):\n%s", diff)
	}
	mu.Lock()
	defer mu.Unlock()
	if diff := cmp.Diff([]string{"", "p2"}, tokens); diff != "" {
		t.Errorf("page tokens (-want +got):\n%s", diff)
	}
}

func TestSearchLoggedModelsPages(t *testing.T) {
	t.Parallel()
	var (
		mu     sync.Mutex
		bodies []map[string]any
	)
	srv := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		c := capture(t, r)
		if c.Method != http.MethodPost || c.Path != api+"/logged-models/search" {
			t.Errorf("unexpected request %s %s", c.Method, c.Path)
		}
		mu.Lock()
		bodies = append(bodies, c.Body)
		mu.Unlock()
		tok, _ := c.Body["page_token"].(string)
		switch tok {
		case "":
			writeJSON(w, http.StatusOK, `{"models": [{"info": {"model_id": "m-2", "name": "model", "source_run_id": "r",
				"creation_timestamp_ms": 1796230601787}}], "next_page_token": "t2"}`)
		default:
			writeJSON(w, http.StatusOK, `{"models": [{"info": {"model_id": "m-1", "name": "model", "source_run_id": "other"}}]}`)
		}
	})
	c, _ := newTestClient(t, srv.URL, nil)
	got, err := c.SearchLoggedModels(t.Context(), []string{"7"}, "name = 'model'")
	if err != nil {
		t.Fatal(err)
	}
	want := []LoggedModel{
		{Info: LoggedModelInfo{ModelID: "m-2", Name: "model", SourceRunID: "r", CreationTimestampMs: 1796230601787}},
		{Info: LoggedModelInfo{ModelID: "m-1", Name: "model", SourceRunID: "other"}},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("models (-want +got):\n%s", diff)
	}
	page := func(tok string) map[string]any {
		b := map[string]any{"experiment_ids": []any{"7"}, "filter": "name = 'model'", "max_results": float64(loggedModelsPageSize)}
		if tok != "" {
			b["page_token"] = tok
		}
		return b
	}
	mu.Lock()
	defer mu.Unlock()
	if diff := cmp.Diff([]map[string]any{page(""), page("t2")}, bodies); diff != "" {
		t.Errorf("request bodies (-want +got):\n%s", diff)
	}
}

// An MLflow 2.x server has no logged-models API: Flask answers the unknown
// route with an HTML 404, which reads as ENDPOINT_NOT_FOUND and is not retried.
func TestSearchLoggedModelsOnMLflow2(t *testing.T) {
	t.Parallel()
	srv := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.WriteHeader(http.StatusNotFound)
		fmt.Fprint(w, "<!doctype html>\n<html lang=en>\n<title>404 Not Found</title>\n<h1>Not Found</h1>\n"+
			"<p>The requested URL was not found on the server. If you entered the URL manually please check your spelling and try again.</p>\n")
	})
	c, _ := newTestClient(t, srv.URL, nil)
	_, err := c.SearchLoggedModels(t.Context(), []string{"1"}, "name = 'model'")
	if !IsEndpointNotFound(err) {
		t.Fatalf("error = %v, want ENDPOINT_NOT_FOUND", err)
	}
	if got := c.Requests(); got != 1 {
		t.Errorf("Requests() = %d, want 1 (no retry)", got)
	}
}

func TestArtifactPaginationMustAdvance(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		call func(c *Client) error
		body string
	}{
		{
			name: "list artifacts",
			call: func(c *Client) error { _, err := c.ListArtifacts(t.Context(), "r", ""); return err },
			body: `{"files": [{"path": "MLmodel"}], "next_page_token": "same"}`,
		},
		{
			name: "search logged models",
			call: func(c *Client) error { _, err := c.SearchLoggedModels(t.Context(), []string{"1"}, ""); return err },
			body: `{"models": [{"info": {"model_id": "m-1"}}], "next_page_token": "same"}`,
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			srv := newServer(t, func(w http.ResponseWriter, r *http.Request) { writeJSON(w, http.StatusOK, tc.body) })
			c, _ := newTestClient(t, srv.URL, nil)
			err := tc.call(c)
			if err == nil || !strings.Contains(err.Error(), "pagination does not advance") {
				t.Fatalf("error = %v, want pagination error", err)
			}
			if got := c.Requests(); got != 2 {
				t.Errorf("Requests() = %d, want 2", got)
			}
		})
	}
}

func TestIsPrompt(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		tags []Tag
		want bool
	}{
		{"no tag", nil, false},
		{"true", []Tag{{Key: PromptTagKey, Value: "true"}}, true},
		{"any case", []Tag{{Key: PromptTagKey, Value: "True"}}, true},
		{"false", []Tag{{Key: PromptTagKey, Value: "false"}}, false},
		{"last value wins, as in MLflow", []Tag{{Key: PromptTagKey, Value: "true"}, {Key: PromptTagKey, Value: "false"}}, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			mv := &ModelVersion{Tags: tc.tags}
			rm := &RegisteredModel{Tags: tc.tags}
			if got := mv.IsPrompt(); got != tc.want {
				t.Errorf("ModelVersion.IsPrompt() = %v, want %v", got, tc.want)
			}
			if got := rm.IsPrompt(); got != tc.want {
				t.Errorf("RegisteredModel.IsPrompt() = %v, want %v", got, tc.want)
			}
		})
	}
}
