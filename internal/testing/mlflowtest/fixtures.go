package mlflowtest

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"sort"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mlreg/mlreg-action/internal/registry"
)

// Fixtures creates and reads MLflow entities through the REST API (never the database). It is a small
// self-contained client meant for arranging and asserting in tests, not a model of the product's client.
type Fixtures struct {
	// URL is the tracking URI, e.g. http://127.0.0.1:5000.
	URL string
	// HTTP is the client used for every request; nil means a client with a 30 s timeout.
	HTTP *http.Client
}

// Fixtures returns a fixture helper for s.
func (s *Server) Fixtures() *Fixtures {
	return &Fixtures{URL: s.URL, HTTP: newHTTPClient()}
}

// newHTTPClient is a client with a 30 s timeout and a connection pool of its
// own: a parallel test's httptest.Server.Close closes http.DefaultTransport's
// idle connections, which could break a fixture request that took one.
func newHTTPClient() *http.Client {
	c := &http.Client{Timeout: 30 * time.Second}
	if dt, ok := http.DefaultTransport.(*http.Transport); ok {
		c.Transport = dt.Clone()
	}
	return c
}

// APIError is a non-2xx answer from the server.
type APIError struct {
	Method, Path string
	StatusCode   int
	// ErrorCode is the body's error_code (e.g. RESOURCE_DOES_NOT_EXIST), "" when the body was not MLflow JSON.
	ErrorCode string
	Message   string
}

func (e *APIError) Error() string {
	if e.ErrorCode == "" {
		return fmt.Sprintf("%s %s: HTTP %d: %s", e.Method, e.Path, e.StatusCode, e.Message)
	}
	return fmt.Sprintf("%s %s: HTTP %d %s: %s", e.Method, e.Path, e.StatusCode, e.ErrorCode, e.Message)
}

// IsErrorCode reports whether err is an *APIError with the given MLflow error_code.
func IsErrorCode(err error, code string) bool {
	var apiErr *APIError
	return errors.As(err, &apiErr) && apiErr.ErrorCode == code
}

// Do calls <URL>/api/2.0/mlflow/<path>. A non-nil body is sent as JSON (GET takes query only); a non-nil out
// receives the decoded JSON answer. Non-2xx answers are returned as *APIError.
func (f *Fixtures) Do(ctx context.Context, method, path string, query url.Values, body, out any) error {
	u := strings.TrimRight(f.URL, "/") + "/api/2.0/mlflow/" + strings.TrimLeft(path, "/")
	if len(query) > 0 {
		u += "?" + query.Encode()
	}
	var rdr io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return fmt.Errorf("failed to encode request body: %w", err)
		}
		rdr = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, u, rdr)
	if err != nil {
		return fmt.Errorf("failed to build request: %w", err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Accept", "application/json")

	client := f.HTTP
	if client == nil {
		client = newHTTPClient()
	}
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("failed to call %s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 32<<20))
	if err != nil {
		return fmt.Errorf("failed to read %s %s response: %w", method, path, err)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		apiErr := &APIError{Method: method, Path: path, StatusCode: resp.StatusCode}
		var eb struct {
			ErrorCode string `json:"error_code"`
			Message   string `json:"message"`
		}
		if json.Unmarshal(data, &eb) == nil && eb.ErrorCode != "" {
			apiErr.ErrorCode, apiErr.Message = eb.ErrorCode, eb.Message
		} else {
			apiErr.Message = registry.Truncate(strings.TrimSpace(string(data)), 501)
		}
		return apiErr
	}
	if out == nil || len(bytes.TrimSpace(data)) == 0 {
		return nil
	}
	if err := json.Unmarshal(data, out); err != nil {
		return fmt.Errorf("failed to decode %s %s response: %w", method, path, err)
	}
	return nil
}

// ServerVersion returns the server's version string from GET /version (e.g. "3.17.2").
func (f *Fixtures) ServerVersion(ctx context.Context) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimRight(f.URL, "/")+"/version", nil)
	if err != nil {
		return "", fmt.Errorf("failed to build request: %w", err)
	}
	client := f.HTTP
	if client == nil {
		client = http.DefaultClient
	}
	resp, err := client.Do(req)
	if err != nil {
		return "", fmt.Errorf("failed to get server version: %w", err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<10))
	if err != nil {
		return "", fmt.Errorf("failed to read server version: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("failed to get server version: HTTP %d", resp.StatusCode)
	}
	return strings.TrimSpace(string(b)), nil
}

type keyValue struct {
	Key   string `json:"key"`
	Value string `json:"value"`
}

func keyValues(m map[string]string) []keyValue {
	if len(m) == 0 {
		return nil
	}
	out := make([]keyValue, 0, len(m))
	for _, k := range sortedKeys(m) {
		out = append(out, keyValue{Key: k, Value: m[k]})
	}
	return out
}

func tagMap(tags []keyValue) map[string]string {
	m := make(map[string]string, len(tags))
	for _, t := range tags {
		m[t.Key] = t.Value
	}
	return m
}

// CreateExperiment creates an experiment and returns its id.
func (f *Fixtures) CreateExperiment(ctx context.Context, name string) (string, error) {
	var out struct {
		ExperimentID string `json:"experiment_id"`
	}
	if err := f.Do(ctx, http.MethodPost, "experiments/create", nil, map[string]any{"name": name}, &out); err != nil {
		return "", fmt.Errorf("failed to create experiment %q: %w", name, err)
	}
	return out.ExperimentID, nil
}

// RunSpec describes a run for CreateRun.
type RunSpec struct {
	// Name is the run name; "" lets the server pick one.
	Name string
	// Metrics are logged once each. A key that is also in History is logged after its history (at step
	// len(History[key])), so it is the run's latest value.
	Metrics map[string]float64
	// History maps a metric key to its values at steps 0..n-1 (timestamps one millisecond apart).
	History map[string][]float64
	Params  map[string]string
	Tags    map[string]string
	// Status is the final status (FINISHED, FAILED, KILLED, RUNNING, SCHEDULED); default FINISHED.
	// RUNNING leaves the run open (no end_time).
	Status string
	// EndTime is the run's end_time; zero means now.
	EndTime time.Time
	// Datasets are logged as run inputs (runs/log-inputs).
	Datasets []DatasetSpec
}

// DatasetSpec is a dataset input of a run.
type DatasetSpec struct {
	Name string
	// Digest defaults to DatasetDigest(Name), which CreateLoggedModel also uses for metrics on that dataset.
	Digest string
	// Context is the mlflow.data.context input tag (e.g. "training", "eval"); "" omits it.
	Context string
	// SourceType defaults to "local"; Source (a JSON string) defaults to {"uri": "/data/<name>"}.
	SourceType, Source string
}

// DatasetDigest is the digest the fixtures give a dataset by default: the first 8 hex digits of its name's SHA-256.
func DatasetDigest(name string) string {
	sum := sha256.Sum256([]byte(name))
	return hex.EncodeToString(sum[:4])
}

// Limits of one runs/log-batch request (mlflow/utils/validation.py).
const (
	maxBatchMetrics = 1000
	maxBatchParams  = 100
	maxBatchTags    = 100
)

type metricJSON struct {
	Key           string  `json:"key"`
	Value         float64 `json:"value"`
	Timestamp     int64   `json:"timestamp"`
	Step          int64   `json:"step"`
	ModelID       string  `json:"model_id,omitempty"`
	DatasetName   string  `json:"dataset_name,omitempty"`
	DatasetDigest string  `json:"dataset_digest,omitempty"`
}

// CreateRun creates a run in the experiment, logs its metrics (with history), params, tags and dataset
// inputs, then sets its final status and end time. It returns the run id.
func (f *Fixtures) CreateRun(ctx context.Context, experimentID string, r RunSpec) (string, error) {
	start := time.Now().Add(-time.Minute)
	startMS := start.UnixMilli()
	create := map[string]any{"experiment_id": experimentID, "start_time": startMS}
	if r.Name != "" {
		create["run_name"] = r.Name
	}
	var created struct {
		Run struct {
			Info struct {
				RunID string `json:"run_id"`
			} `json:"info"`
		} `json:"run"`
	}
	if err := f.Do(ctx, http.MethodPost, "runs/create", nil, create, &created); err != nil {
		return "", fmt.Errorf("failed to create run: %w", err)
	}
	runID := created.Run.Info.RunID

	var metrics []metricJSON
	for _, k := range sortedKeys(r.History) {
		for i, v := range r.History[k] {
			metrics = append(metrics, metricJSON{Key: k, Value: v, Timestamp: startMS + int64(i), Step: int64(i)})
		}
	}
	for _, k := range sortedKeys(r.Metrics) {
		n := int64(len(r.History[k]))
		metrics = append(metrics, metricJSON{Key: k, Value: r.Metrics[k], Timestamp: startMS + n, Step: n})
	}
	if err := f.logBatch(ctx, runID, metrics, keyValues(r.Params), keyValues(r.Tags)); err != nil {
		return "", err
	}

	if len(r.Datasets) > 0 {
		if err := f.logInputs(ctx, runID, r.Datasets); err != nil {
			return "", err
		}
	}

	status := r.Status
	if status == "" {
		status = "FINISHED"
	}
	update := map[string]any{"run_id": runID, "status": status}
	if status != "RUNNING" && status != "SCHEDULED" {
		end := r.EndTime
		if end.IsZero() {
			end = time.Now()
		}
		update["end_time"] = end.UnixMilli()
	}
	if err := f.Do(ctx, http.MethodPost, "runs/update", nil, update, nil); err != nil {
		return "", fmt.Errorf("failed to update run %s: %w", runID, err)
	}
	return runID, nil
}

// logBatch sends metrics, params and tags in as many runs/log-batch requests as the server's limits need.
func (f *Fixtures) logBatch(ctx context.Context, runID string, metrics []metricJSON, params, tags []keyValue) error {
	for len(metrics) > 0 || len(params) > 0 || len(tags) > 0 {
		body := map[string]any{"run_id": runID}
		if n := min(len(metrics), maxBatchMetrics-maxBatchParams-maxBatchTags); n > 0 {
			body["metrics"], metrics = metrics[:n], metrics[n:]
		}
		if n := min(len(params), maxBatchParams); n > 0 {
			body["params"], params = params[:n], params[n:]
		}
		if n := min(len(tags), maxBatchTags); n > 0 {
			body["tags"], tags = tags[:n], tags[n:]
		}
		if err := f.Do(ctx, http.MethodPost, "runs/log-batch", nil, body, nil); err != nil {
			return fmt.Errorf("failed to log batch to run %s: %w", runID, err)
		}
	}
	return nil
}

func (f *Fixtures) logInputs(ctx context.Context, runID string, datasets []DatasetSpec) error {
	inputs := make([]map[string]any, 0, len(datasets))
	for _, d := range datasets {
		digest := d.Digest
		if digest == "" {
			digest = DatasetDigest(d.Name)
		}
		sourceType := d.SourceType
		if sourceType == "" {
			sourceType = "local"
		}
		source := d.Source
		if source == "" {
			b, err := json.Marshal(map[string]string{"uri": "/data/" + d.Name})
			if err != nil {
				return fmt.Errorf("failed to encode dataset source: %w", err)
			}
			source = string(b)
		}
		in := map[string]any{
			"dataset": map[string]any{"name": d.Name, "digest": digest, "source_type": sourceType, "source": source},
		}
		if d.Context != "" {
			in["tags"] = []keyValue{{Key: "mlflow.data.context", Value: d.Context}}
		}
		inputs = append(inputs, in)
	}
	body := map[string]any{"run_id": runID, "datasets": inputs}
	if err := f.Do(ctx, http.MethodPost, "runs/log-inputs", nil, body, nil); err != nil {
		return fmt.Errorf("failed to log inputs to run %s: %w", runID, err)
	}
	return nil
}

// GetRun returns the raw decoded run ({info, data, inputs, outputs}).
func (f *Fixtures) GetRun(ctx context.Context, runID string) (map[string]any, error) {
	var out struct {
		Run map[string]any `json:"run"`
	}
	if err := f.Do(ctx, http.MethodGet, "runs/get", url.Values{"run_id": {runID}}, nil, &out); err != nil {
		return nil, fmt.Errorf("failed to get run %s: %w", runID, err)
	}
	return out.Run, nil
}

// RunArtifactSource returns "<run artifact_uri>/<subpath>", e.g. mlflow-artifacts:/1/<run>/artifacts/model: a
// model version source the server accepts with that run_id (it must lie inside the run's artifact root).
func (f *Fixtures) RunArtifactSource(ctx context.Context, runID, subpath string) (string, error) {
	var out struct {
		Run struct {
			Info struct {
				ArtifactURI string `json:"artifact_uri"`
			} `json:"info"`
		} `json:"run"`
	}
	if err := f.Do(ctx, http.MethodGet, "runs/get", url.Values{"run_id": {runID}}, nil, &out); err != nil {
		return "", fmt.Errorf("failed to get run %s: %w", runID, err)
	}
	if out.Run.Info.ArtifactURI == "" {
		return "", fmt.Errorf("failed to get artifact uri of run %s: empty", runID)
	}
	return strings.TrimRight(out.Run.Info.ArtifactURI, "/") + "/" + strings.TrimLeft(subpath, "/"), nil
}

// MetricHistory returns every value of the run's metric key, in step order (one page of up to 25000).
func (f *Fixtures) MetricHistory(ctx context.Context, runID, key string) ([]float64, error) {
	var out struct {
		Metrics []metricJSON `json:"metrics"`
	}
	q := url.Values{"run_id": {runID}, "metric_key": {key}, "max_results": {"25000"}}
	if err := f.Do(ctx, http.MethodGet, "metrics/get-history", q, nil, &out); err != nil {
		return nil, fmt.Errorf("failed to get metric history %s of run %s: %w", key, runID, err)
	}
	sort.SliceStable(out.Metrics, func(i, j int) bool { return out.Metrics[i].Step < out.Metrics[j].Step })
	values := make([]float64, len(out.Metrics))
	for i, m := range out.Metrics {
		values[i] = m.Value
	}
	return values, nil
}

// LoggedMetric is a metric attached to a logged model, optionally evaluated on a named dataset.
type LoggedMetric struct {
	Key   string
	Value float64
	// Dataset is the dataset name ("" for none); its digest is DatasetDigest(Dataset).
	Dataset string
	Step    int64
}

// CreateLoggedModel creates an MLflow 3 logged model in the experiment, linked to sourceRunID, logs metrics
// attached to it (runs/log-batch with model_id, dataset_name and dataset_digest on each metric; the metrics are
// stored on the run too), and finalizes it to LOGGED_MODEL_READY. It returns the model id (m-<32 hex>).
// Metrics need a source run: the server stores a logged model's metrics by run.
func (f *Fixtures) CreateLoggedModel(ctx context.Context, experimentID, sourceRunID string, metrics []LoggedMetric) (string, error) {
	if len(metrics) > 0 && sourceRunID == "" {
		return "", fmt.Errorf("failed to create logged model: metrics need a source run")
	}
	body := map[string]any{"experiment_id": experimentID}
	if sourceRunID != "" {
		body["source_run_id"] = sourceRunID
	}
	var created struct {
		Model struct {
			Info struct {
				ModelID string `json:"model_id"`
			} `json:"info"`
		} `json:"model"`
	}
	if err := f.Do(ctx, http.MethodPost, "logged-models", nil, body, &created); err != nil {
		return "", fmt.Errorf("failed to create logged model: %w", err)
	}
	modelID := created.Model.Info.ModelID

	if len(metrics) > 0 {
		// The server keys logged_model_metrics by (model_id, key, timestamp, step, run_id), not by dataset:
		// the same key on two datasets at one step needs distinct timestamps.
		now := time.Now().UnixMilli()
		ms := make([]metricJSON, 0, len(metrics))
		for i, m := range metrics {
			mj := metricJSON{Key: m.Key, Value: m.Value, Timestamp: now + int64(i), Step: m.Step, ModelID: modelID}
			if m.Dataset != "" {
				mj.DatasetName, mj.DatasetDigest = m.Dataset, DatasetDigest(m.Dataset)
			}
			ms = append(ms, mj)
		}
		if err := f.logBatch(ctx, sourceRunID, ms, nil, nil); err != nil {
			return "", fmt.Errorf("failed to log metrics of logged model %s: %w", modelID, err)
		}
	}

	final := map[string]any{"model_id": modelID, "status": "LOGGED_MODEL_READY"}
	if err := f.Do(ctx, http.MethodPatch, "logged-models/"+url.PathEscape(modelID), nil, final, nil); err != nil {
		return "", fmt.Errorf("failed to finalize logged model %s: %w", modelID, err)
	}
	return modelID, nil
}

// GetLoggedModel returns the raw decoded logged model ({info, data}).
func (f *Fixtures) GetLoggedModel(ctx context.Context, modelID string) (map[string]any, error) {
	var out struct {
		Model map[string]any `json:"model"`
	}
	if err := f.Do(ctx, http.MethodGet, "logged-models/"+url.PathEscape(modelID), nil, nil, &out); err != nil {
		return nil, fmt.Errorf("failed to get logged model %s: %w", modelID, err)
	}
	return out.Model, nil
}

// CreateRegisteredModel creates a registered model.
func (f *Fixtures) CreateRegisteredModel(ctx context.Context, name string) error {
	if err := f.Do(ctx, http.MethodPost, "registered-models/create", nil, map[string]any{"name": name}, nil); err != nil {
		return fmt.Errorf("failed to create registered model %q: %w", name, err)
	}
	return nil
}

var loggedModelSource = regexp.MustCompile(`^models:/(m-[0-9a-f]+)/?$`)

// CreateVersion registers a new version of model and returns its number. source is a URI the server accepts:
//   - mlflow-artifacts:/<exp>/<run>/artifacts/... inside runID's artifact root (see RunArtifactSource);
//   - models:/m-<id> (a logged model; model_id is sent for it and the server fills run_id from the logged
//     model's source run when runID is "");
//   - s3://... or another remote URI (not checked against the run).
//
// Local paths are rejected by the server.
func (f *Fixtures) CreateVersion(ctx context.Context, model, source, runID string, tags map[string]string) (string, error) {
	body := map[string]any{"name": model, "source": source}
	if runID != "" {
		body["run_id"] = runID
	}
	if m := loggedModelSource.FindStringSubmatch(source); m != nil {
		body["model_id"] = m[1]
	}
	if kv := keyValues(tags); kv != nil {
		body["tags"] = kv
	}
	var out struct {
		ModelVersion struct {
			Version string `json:"version"`
		} `json:"model_version"`
	}
	if err := f.Do(ctx, http.MethodPost, "model-versions/create", nil, body, &out); err != nil {
		return "", fmt.Errorf("failed to create version of %q: %w", model, err)
	}
	return out.ModelVersion.Version, nil
}

// CreateRunVersion registers the model logged at "model" in runID's artifacts
// as a new version of model (source RunArtifactSource(runID, "model")).
func (f *Fixtures) CreateRunVersion(ctx context.Context, model, runID string, tags map[string]string) (string, error) {
	src, err := f.RunArtifactSource(ctx, runID, "model")
	if err != nil {
		return "", err
	}
	return f.CreateVersion(ctx, model, src, runID, tags)
}

// CreateModelWithVersions creates an experiment and a registered model,
// both named name, and n versions of it (1 to n), each from a run of its own
// that logged metrics.
func (f *Fixtures) CreateModelWithVersions(ctx context.Context, name string, n int, metrics map[string]float64) error {
	exp, err := f.CreateExperiment(ctx, name)
	if err != nil {
		return err
	}
	if err := f.CreateRegisteredModel(ctx, name); err != nil {
		return err
	}
	for range n {
		run, err := f.CreateRun(ctx, exp, RunSpec{Metrics: metrics})
		if err != nil {
			return err
		}
		if _, err := f.CreateRunVersion(ctx, name, run, nil); err != nil {
			return err
		}
	}
	return nil
}

// SetAlias points alias at version (moving it if it is set).
func (f *Fixtures) SetAlias(ctx context.Context, model, alias, version string) error {
	body := map[string]any{"name": model, "alias": alias, "version": version}
	if err := f.Do(ctx, http.MethodPost, "registered-models/alias", nil, body, nil); err != nil {
		return fmt.Errorf("failed to set alias %q of %q to %s: %w", alias, model, version, err)
	}
	return nil
}

// DeleteAlias removes alias from model (a missing alias is not an error).
func (f *Fixtures) DeleteAlias(ctx context.Context, model, alias string) error {
	body := map[string]any{"name": model, "alias": alias}
	if err := f.Do(ctx, http.MethodDelete, "registered-models/alias", nil, body, nil); err != nil {
		return fmt.Errorf("failed to delete alias %q of %q: %w", alias, model, err)
	}
	return nil
}

// Transition moves version to stage (None, Staging, Production, Archived) without archiving other versions.
func (f *Fixtures) Transition(ctx context.Context, model, version, stage string) error {
	body := map[string]any{"name": model, "version": version, "stage": stage, "archive_existing_versions": false}
	if err := f.Do(ctx, http.MethodPost, "model-versions/transition-stage", nil, body, nil); err != nil {
		return fmt.Errorf("failed to transition %q version %s to %s: %w", model, version, stage, err)
	}
	return nil
}

// TransitionArchiving moves version to stage and archives the other versions in it.
func (f *Fixtures) TransitionArchiving(ctx context.Context, model, version, stage string) error {
	body := map[string]any{"name": model, "version": version, "stage": stage, "archive_existing_versions": true}
	if err := f.Do(ctx, http.MethodPost, "model-versions/transition-stage", nil, body, nil); err != nil {
		return fmt.Errorf("failed to transition %q version %s to %s: %w", model, version, stage, err)
	}
	return nil
}

// GetVersion returns the raw decoded model_version object.
func (f *Fixtures) GetVersion(ctx context.Context, model, version string) (map[string]any, error) {
	var out struct {
		ModelVersion map[string]any `json:"model_version"`
	}
	q := url.Values{"name": {model}, "version": {version}}
	if err := f.Do(ctx, http.MethodGet, "model-versions/get", q, nil, &out); err != nil {
		return nil, fmt.Errorf("failed to get %q version %s: %w", model, version, err)
	}
	return out.ModelVersion, nil
}

// AliasVersion returns the version alias points at, or "" when the alias is not set.
func (f *Fixtures) AliasVersion(ctx context.Context, model, alias string) (string, error) {
	var out struct {
		ModelVersion struct {
			Version string `json:"version"`
		} `json:"model_version"`
	}
	q := url.Values{"name": {model}, "alias": {alias}}
	err := f.Do(ctx, http.MethodGet, "registered-models/alias", q, nil, &out)
	if IsErrorCode(err, "INVALID_PARAMETER_VALUE") {
		// An unset alias is 400 INVALID_PARAMETER_VALUE; a missing model is 404 RESOURCE_DOES_NOT_EXIST.
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("failed to get alias %q of %q: %w", alias, model, err)
	}
	return out.ModelVersion.Version, nil
}

type registeredModelJSON struct {
	Name    string     `json:"name"`
	Tags    []keyValue `json:"tags"`
	Aliases []struct {
		Alias   string `json:"alias"`
		Version string `json:"version"`
	} `json:"aliases"`
}

func (f *Fixtures) getRegisteredModel(ctx context.Context, model string) (*registeredModelJSON, error) {
	var out struct {
		RegisteredModel registeredModelJSON `json:"registered_model"`
	}
	if err := f.Do(ctx, http.MethodGet, "registered-models/get", url.Values{"name": {model}}, nil, &out); err != nil {
		return nil, err
	}
	return &out.RegisteredModel, nil
}

// HasModel reports whether a registered model of that name exists.
func (f *Fixtures) HasModel(ctx context.Context, name string) (bool, error) {
	_, err := f.getRegisteredModel(ctx, name)
	switch {
	case err == nil:
		return true, nil
	case IsErrorCode(err, "RESOURCE_DOES_NOT_EXIST"):
		return false, nil
	}
	return false, fmt.Errorf("failed to get registered model %q: %w", name, err)
}

// Aliases returns the model's alias → version map ({} when it has none).
func (f *Fixtures) Aliases(ctx context.Context, model string) (map[string]string, error) {
	rm, err := f.getRegisteredModel(ctx, model)
	if err != nil {
		return nil, fmt.Errorf("failed to get registered model %q: %w", model, err)
	}
	m := make(map[string]string, len(rm.Aliases))
	for _, a := range rm.Aliases {
		m[a.Alias] = a.Version
	}
	return m, nil
}

// ModelTags returns the registered model's tags ({} when it has none).
func (f *Fixtures) ModelTags(ctx context.Context, model string) (map[string]string, error) {
	rm, err := f.getRegisteredModel(ctx, model)
	if err != nil {
		return nil, fmt.Errorf("failed to get registered model %q: %w", model, err)
	}
	return tagMap(rm.Tags), nil
}

// VersionTags returns the version's tags ({} when it has none).
func (f *Fixtures) VersionTags(ctx context.Context, model, version string) (map[string]string, error) {
	var out struct {
		ModelVersion struct {
			Tags []keyValue `json:"tags"`
		} `json:"model_version"`
	}
	q := url.Values{"name": {model}, "version": {version}}
	if err := f.Do(ctx, http.MethodGet, "model-versions/get", q, nil, &out); err != nil {
		return nil, fmt.Errorf("failed to get %q version %s: %w", model, version, err)
	}
	return tagMap(out.ModelVersion.Tags), nil
}

// SetModelTag sets a tag on the registered model.
func (f *Fixtures) SetModelTag(ctx context.Context, model, key, value string) error {
	body := map[string]any{"name": model, "key": key, "value": value}
	if err := f.Do(ctx, http.MethodPost, "registered-models/set-tag", nil, body, nil); err != nil {
		return fmt.Errorf("failed to set tag %q on %q: %w", key, model, err)
	}
	return nil
}

// SetVersionTag sets a tag on a model version.
func (f *Fixtures) SetVersionTag(ctx context.Context, model, version, key, value string) error {
	body := map[string]any{"name": model, "version": version, "key": key, "value": value}
	if err := f.Do(ctx, http.MethodPost, "model-versions/set-tag", nil, body, nil); err != nil {
		return fmt.Errorf("failed to set tag %q on %q version %s: %w", key, model, version, err)
	}
	return nil
}

var (
	nameCounter atomic.Uint64
	unsafeName  = regexp.MustCompile(`[^A-Za-z0-9_.-]+`)
)

// UniqueName returns a registered-model (or experiment) name derived from prefix and t.Name() that is unique
// within the process and across processes: "<prefix>-<test name>-<n><random>". It holds only [A-Za-z0-9_.-]
// (no "/" or ":", which MLflow 3.11+ rejects in model names) and is at most 200 characters.
func UniqueName(t testing.TB, prefix string) string {
	t.Helper()
	var rnd [3]byte
	if _, err := rand.Read(rnd[:]); err != nil {
		t.Fatalf("failed to read random bytes: %v", err)
	}
	suffix := fmt.Sprintf("%d%s", nameCounter.Add(1), hex.EncodeToString(rnd[:]))
	base := strings.Trim(unsafeName.ReplaceAllString(t.Name(), "-"), "-.")
	if prefix = strings.Trim(unsafeName.ReplaceAllString(prefix, "-"), "-."); prefix != "" {
		base = prefix + "-" + base
	}
	if max := 200 - len(suffix) - 1; len(base) > max {
		base = base[:max]
	}
	return base + "-" + suffix
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
