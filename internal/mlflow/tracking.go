package mlflow

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
)

// metricHistoryPageSize is what MLflow's own client always sends as
// max_results on metrics/get-history; omitting it yields empty pages.
const metricHistoryPageSize = 25000

type runResponse struct {
	Run *Run `json:"run"`
}

type metricHistoryResponse struct {
	Metrics       []Metric `json:"metrics"`
	NextPageToken string   `json:"next_page_token"`
}

type loggedModelResponse struct {
	Model *LoggedModel `json:"model"`
}

// GetRun returns the run runID.
func (c *Client) GetRun(ctx context.Context, runID string) (*Run, error) {
	var res runResponse
	if err := c.get(ctx, "/runs/get", url.Values{"run_id": {runID}}, &res); err != nil {
		return nil, fmt.Errorf("failed to get run %q: %w", runID, err)
	}
	if res.Run == nil {
		return nil, fmt.Errorf("failed to get run %q: %w", runID, errMissing("run"))
	}
	return res.Run, nil
}

// MetricHistoryPages calls fn with each page of the history of metric key in
// run runID, in the server's order, so a long history (MLflow pages hold at
// most 25,000 points) need not be held whole. fn must not keep the slice.
func (c *Client) MetricHistoryPages(ctx context.Context, runID, key string, fn func([]Metric) error) error {
	var token string
	for page := 0; ; page++ {
		q := url.Values{
			"run_id":      {runID},
			"metric_key":  {key},
			"max_results": {strconv.Itoa(metricHistoryPageSize)},
		}
		if token != "" {
			q.Set("page_token", token)
		}
		var res metricHistoryResponse
		if err := c.get(ctx, "/metrics/get-history", q, &res); err != nil {
			return fmt.Errorf("failed to get history of metric %q of run %q: %w", key, runID, err)
		}
		if err := fn(res.Metrics); err != nil {
			return err
		}
		if res.NextPageToken == "" {
			return nil
		}
		if res.NextPageToken == token || page+1 >= maxPages {
			return fmt.Errorf("failed to get history of metric %q of run %q: pagination does not advance", key, runID)
		}
		token = res.NextPageToken
	}
}

// GetLoggedModel returns the MLflow 3 logged model modelID (e.g. "m-<32 hex>").
func (c *Client) GetLoggedModel(ctx context.Context, modelID string) (*LoggedModel, error) {
	var res loggedModelResponse
	if err := c.get(ctx, "/logged-models/"+url.PathEscape(modelID), nil, &res); err != nil {
		return nil, fmt.Errorf("failed to get logged model %q: %w", modelID, err)
	}
	if res.Model == nil {
		return nil, fmt.Errorf("failed to get logged model %q: %w", modelID, errMissing("model"))
	}
	return res.Model, nil
}

type listArtifactsResponse struct {
	RootURI       string     `json:"root_uri"`
	Files         []FileInfo `json:"files"`
	NextPageToken string     `json:"next_page_token"`
}

// ListArtifacts returns the artifacts of run runID directly under path ("" for
// the root), as MLflow's artifacts/list lists them: each Path is relative to
// the run's artifact root ("model/MLmodel"). The server reads the run's
// artifact store for it.
func (c *Client) ListArtifacts(ctx context.Context, runID, path string) ([]FileInfo, error) {
	var (
		out   []FileInfo
		token string
	)
	for page := 0; ; page++ {
		q := url.Values{"run_id": {runID}}
		if path != "" {
			q.Set("path", path)
		}
		if token != "" {
			q.Set("page_token", token)
		}
		var res listArtifactsResponse
		if err := c.get(ctx, "/artifacts/list", q, &res); err != nil {
			return nil, fmt.Errorf("failed to list artifacts of run %q at %q: %w", runID, path, err)
		}
		out = append(out, res.Files...)
		if res.NextPageToken == "" {
			return out, nil
		}
		if res.NextPageToken == token || page+1 >= maxPages {
			return nil, fmt.Errorf("failed to list artifacts of run %q at %q: pagination does not advance", runID, path)
		}
		token = res.NextPageToken
	}
}

type searchLoggedModelsRequest struct {
	ExperimentIDs []string `json:"experiment_ids"`
	Filter        string   `json:"filter,omitempty"`
	MaxResults    int      `json:"max_results,omitempty"`
	PageToken     string   `json:"page_token,omitempty"`
}

type searchLoggedModelsResponse struct {
	Models        []LoggedModel `json:"models"`
	NextPageToken string        `json:"next_page_token"`
}

// loggedModelsPageSize is the page size of SearchLoggedModels (the proto's
// default is 50).
const loggedModelsPageSize = 100

// SearchLoggedModels returns the MLflow 3 logged models of the experiments
// that match filter (e.g. "name = 'model'"; see registry.QuoteFilterValue), in the
// server's order (newest first), following every page. A server without the
// logged-models API (MLflow 2.x) answers with an error for which
// IsEndpointNotFound is true.
func (c *Client) SearchLoggedModels(ctx context.Context, experimentIDs []string, filter string) ([]LoggedModel, error) {
	var (
		out   []LoggedModel
		token string
	)
	for page := 0; ; page++ {
		body := searchLoggedModelsRequest{ExperimentIDs: experimentIDs, Filter: filter,
			MaxResults: loggedModelsPageSize, PageToken: token}
		var res searchLoggedModelsResponse
		// A POST that changes nothing: retried like a read.
		err := c.do(ctx, call{method: http.MethodPost, path: "/logged-models/search", body: body, out: &res, policy: retryRead})
		if err != nil {
			return nil, fmt.Errorf("failed to search logged models (filter %q): %w", filter, err)
		}
		out = append(out, res.Models...)
		if res.NextPageToken == "" {
			return out, nil
		}
		if res.NextPageToken == token || page+1 >= maxPages {
			return nil, fmt.Errorf("failed to search logged models (filter %q): pagination does not advance", filter)
		}
		token = res.NextPageToken
	}
}
