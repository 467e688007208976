package mlflow

import (
	"context"
	"fmt"
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
