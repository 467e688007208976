package mlflow

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"

	"github.com/mlreg/mlreg-action/internal/registry"
)

const (
	// searchPageSize is the page size of SearchModelVersions (the server
	// allows up to 200000 for model versions; 1000 keeps pages small).
	searchPageSize = 1000
	// maxPages bounds any pagination loop against a server that never stops.
	maxPages = 10000
)

type registeredModelResponse struct {
	RegisteredModel *RegisteredModel `json:"registered_model"`
}

type modelVersionResponse struct {
	ModelVersion *ModelVersion `json:"model_version"`
}

type modelVersionsResponse struct {
	ModelVersions []ModelVersion `json:"model_versions"`
	NextPageToken string         `json:"next_page_token"`
}

// errMissing reports a 2xx response without the expected entity.
func errMissing(field string) error {
	return fmt.Errorf("response has no %q field", field)
}

// GetRegisteredModel returns the registered model name.
func (c *Client) GetRegisteredModel(ctx context.Context, name string) (*RegisteredModel, error) {
	var res registeredModelResponse
	if err := c.get(ctx, "/registered-models/get", url.Values{"name": {name}}, &res); err != nil {
		return nil, fmt.Errorf("failed to get registered model %q: %w", name, err)
	}
	if res.RegisteredModel == nil {
		return nil, fmt.Errorf("failed to get registered model %q: %w", name, errMissing("registered_model"))
	}
	return res.RegisteredModel, nil
}

// CreateRegisteredModel creates a registered model. It is retried on
// transient failures; if a retry follows a create that did reach the server,
// the answer is RESOURCE_ALREADY_EXISTS, which callers that "ensure the model
// exists" accept (see IsAlreadyExists).
func (c *Client) CreateRegisteredModel(ctx context.Context, name, description string, tags []Tag) (*RegisteredModel, error) {
	body := struct {
		Name        string `json:"name"`
		Description string `json:"description,omitempty"`
		Tags        []Tag  `json:"tags,omitempty"`
	}{name, description, tags}
	var res registeredModelResponse
	if err := c.send(ctx, http.MethodPost, "/registered-models/create", body, &res); err != nil {
		return nil, fmt.Errorf("failed to create registered model %q: %w", name, err)
	}
	if res.RegisteredModel == nil {
		return nil, fmt.Errorf("failed to create registered model %q: %w", name, errMissing("registered_model"))
	}
	return res.RegisteredModel, nil
}

// SetRegisteredModelTag sets (upserts) a tag on a registered model.
func (c *Client) SetRegisteredModelTag(ctx context.Context, name, key, value string) error {
	body := struct {
		Name  string `json:"name"`
		Key   string `json:"key"`
		Value string `json:"value"`
	}{name, key, value}
	if err := c.send(ctx, http.MethodPost, "/registered-models/set-tag", body, nil); err != nil {
		return fmt.Errorf("failed to set tag %q on registered model %q: %w", key, name, err)
	}
	return nil
}

// DeleteRegisteredModelTag deletes a registered model tag; a missing tag is
// not an error on the server.
func (c *Client) DeleteRegisteredModelTag(ctx context.Context, name, key string) error {
	body := struct {
		Name string `json:"name"`
		Key  string `json:"key"`
	}{name, key}
	if err := c.send(ctx, http.MethodDelete, "/registered-models/delete-tag", body, nil); err != nil {
		return fmt.Errorf("failed to delete tag %q of registered model %q: %w", key, name, err)
	}
	return nil
}

// DeleteRegisteredModel deletes a registered model with its versions, tags
// and aliases. Like CreateModelVersion, it is retried only when the request
// cannot have been acted on: a repeat of a delete that the server executed
// would delete the model created under the same name since (the promotion
// lock of the next run). After another failure the caller reads the model
// before deleting it again.
func (c *Client) DeleteRegisteredModel(ctx context.Context, name string) error {
	body := struct {
		Name string `json:"name"`
	}{name}
	err := c.do(ctx, call{method: http.MethodDelete, path: "/registered-models/delete", body: body, policy: retryOnce})
	if err != nil {
		return fmt.Errorf("failed to delete registered model %q: %w", name, err)
	}
	return nil
}

// GetModelVersion returns version (a decimal string) of registered model name.
func (c *Client) GetModelVersion(ctx context.Context, name, version string) (*ModelVersion, error) {
	var res modelVersionResponse
	q := url.Values{"name": {name}, "version": {version}}
	if err := c.get(ctx, "/model-versions/get", q, &res); err != nil {
		return nil, fmt.Errorf("failed to get model version %q v%s: %w", name, version, err)
	}
	if res.ModelVersion == nil {
		return nil, fmt.Errorf("failed to get model version %q v%s: %w", name, version, errMissing("model_version"))
	}
	return res.ModelVersion, nil
}

// CreateModelVersion registers a new version.
//
// Unlike the other calls it is not retried once the request may have reached
// the server (a connection reset after writing, a timeout, a 5xx answer other
// than 503 with Retry-After), because each create that the server executes
// registers one more version, and a repeat would leave a duplicate. It is
// retried only on 408, 429 and 503 with Retry-After (answers that say the
// request was refused before anything was done) and on dial errors (nothing
// was sent). After any other failure the caller should search for the version
// (for example by source or run_id) before trying again.
func (c *Client) CreateModelVersion(ctx context.Context, req CreateModelVersionRequest) (*ModelVersion, error) {
	var res modelVersionResponse
	err := c.do(ctx, call{
		method: http.MethodPost,
		path:   "/model-versions/create",
		body:   req,
		out:    &res,
		policy: retryOnce,
	})
	if err != nil {
		return nil, fmt.Errorf("failed to create model version of %q from %s: %w", req.Name, req.Source, err)
	}
	if res.ModelVersion == nil {
		return nil, fmt.Errorf("failed to create model version of %q from %s: %w", req.Name, req.Source, errMissing("model_version"))
	}
	return res.ModelVersion, nil
}

// SearchModelVersions returns the model versions matching filter (MLflow
// search syntax, e.g. "name='churn'"; see registry.QuoteFilterValue), sorted by
// orderBy (e.g. "version_number DESC"). It follows next_page_token until the
// server has no more pages or maxResults versions were collected; maxResults
// <= 0 means all. Search results carry no aliases (an MLflow server quirk).
func (c *Client) SearchModelVersions(ctx context.Context, filter string, orderBy []string, maxResults int) ([]ModelVersion, error) {
	vs, err := c.searchModelVersions(ctx, filter, orderBy, maxResults)
	if err != nil {
		return nil, fmt.Errorf("failed to search model versions (filter %q): %w", filter, err)
	}
	return vs, nil
}

// searchModelVersions is SearchModelVersions, its error unwrapped, for the
// callers that say what they searched for.
func (c *Client) searchModelVersions(ctx context.Context, filter string, orderBy []string, maxResults int) ([]ModelVersion, error) {
	pageSize := searchPageSize
	if maxResults > 0 {
		pageSize = min(maxResults, searchPageSize)
	}
	var (
		out   []ModelVersion
		token string
	)
	for page := 0; ; page++ {
		q := url.Values{"max_results": {strconv.Itoa(pageSize)}}
		if filter != "" {
			q.Set("filter", filter)
		}
		for _, o := range orderBy {
			q.Add("order_by", o)
		}
		if token != "" {
			q.Set("page_token", token)
		}
		var res modelVersionsResponse
		if err := c.get(ctx, "/model-versions/search", q, &res); err != nil {
			return nil, err
		}
		out = append(out, res.ModelVersions...)
		if maxResults > 0 && len(out) >= maxResults {
			return out[:maxResults], nil
		}
		if res.NextPageToken == "" {
			return out, nil
		}
		if res.NextPageToken == token || page+1 >= maxPages {
			return nil, errors.New("pagination does not advance")
		}
		token = res.NextPageToken
	}
}

// LatestVersion returns the version of name with the highest version number
// (not what the reserved alias "latest" resolves to, which is per stage).
// name may be a prompt: MLflow's version search leaves prompt versions out
// unless the filter names the prompt tag, so an empty answer is asked again
// with it. When the model has no versions (or does not exist), the error
// satisfies IsNotFound. The result carries no aliases (see SearchModelVersions).
func (c *Client) LatestVersion(ctx context.Context, name string) (*ModelVersion, error) {
	q, err := registry.QuoteFilterValue(name)
	if err != nil {
		return nil, fmt.Errorf("failed to find latest version of registered model %q: %w", name, err)
	}
	order := []string{"version_number DESC"}
	vs, err := c.searchModelVersions(ctx, "name="+q, order, 1)
	if err == nil && len(vs) == 0 {
		vs, err = c.searchModelVersions(ctx, "name="+q+" AND tags.`"+PromptTagKey+"` = 'true'", order, 1)
	}
	if err != nil {
		return nil, fmt.Errorf("failed to find latest version of registered model %q: %w", name, err)
	}
	if len(vs) == 0 {
		return nil, fmt.Errorf("failed to find latest version of registered model %q: %w", name, &Error{
			Method:     http.MethodGet,
			Path:       c.basePath + apiPrefix + "/model-versions/search",
			StatusCode: http.StatusNotFound,
			Code:       CodeResourceDoesNotExist,
			Message:    "the registered model has no versions, or does not exist",
		})
	}
	return &vs[0], nil
}

// GetModelVersionByAlias returns the version alias points to. When the model
// exists but the alias is unset it returns exactly (nil, ErrAliasNotFound);
// a missing model stays an *Error for which IsNotFound is true.
func (c *Client) GetModelVersionByAlias(ctx context.Context, name, alias string) (*ModelVersion, error) {
	var res modelVersionResponse
	q := url.Values{"name": {name}, "alias": {alias}}
	if err := c.get(ctx, "/registered-models/alias", q, &res); err != nil {
		if isAliasNotFound(err, alias) {
			return nil, ErrAliasNotFound
		}
		return nil, fmt.Errorf("failed to get alias %q of registered model %q: %w", alias, name, err)
	}
	if res.ModelVersion == nil {
		return nil, fmt.Errorf("failed to get alias %q of registered model %q: %w", alias, name, errMissing("model_version"))
	}
	return res.ModelVersion, nil
}

// SetAlias points alias at version, moving it if it is set elsewhere.
func (c *Client) SetAlias(ctx context.Context, name, alias, version string) error {
	body := struct {
		Name    string `json:"name"`
		Alias   string `json:"alias"`
		Version string `json:"version"`
	}{name, alias, version}
	if err := c.send(ctx, http.MethodPost, "/registered-models/alias", body, nil); err != nil {
		return fmt.Errorf("failed to set alias %q of registered model %q to v%s: %w", alias, name, version, err)
	}
	return nil
}

// DeleteAlias removes alias; deleting an unset alias is not an error on the server.
func (c *Client) DeleteAlias(ctx context.Context, name, alias string) error {
	body := struct {
		Name  string `json:"name"`
		Alias string `json:"alias"`
	}{name, alias}
	if err := c.send(ctx, http.MethodDelete, "/registered-models/alias", body, nil); err != nil {
		return fmt.Errorf("failed to delete alias %q of registered model %q: %w", alias, name, err)
	}
	return nil
}

// TransitionStage moves a version to stage (legacy stages API). With
// archiveExisting, other versions in that stage are archived; MLflow allows
// that only for Staging and Production and answers 500 otherwise.
func (c *Client) TransitionStage(ctx context.Context, name, version, stage string, archiveExisting bool) (*ModelVersion, error) {
	body := struct {
		Name            string `json:"name"`
		Version         string `json:"version"`
		Stage           string `json:"stage"`
		ArchiveExisting bool   `json:"archive_existing_versions"`
	}{name, version, stage, archiveExisting}
	var res modelVersionResponse
	if err := c.send(ctx, http.MethodPost, "/model-versions/transition-stage", body, &res); err != nil {
		return nil, fmt.Errorf("failed to transition model version %q v%s to stage %q: %w", name, version, stage, err)
	}
	if res.ModelVersion == nil {
		return nil, fmt.Errorf("failed to transition model version %q v%s to stage %q: %w",
			name, version, stage, errMissing("model_version"))
	}
	return res.ModelVersion, nil
}

// GetLatestVersions returns the newest version in each of stages (all stages
// when empty). It is a POST, as MLflow's own client sends it and as
// Databricks accepts it, but a read: it is retried like a GET.
func (c *Client) GetLatestVersions(ctx context.Context, name string, stages []string) ([]ModelVersion, error) {
	body := struct {
		Name   string   `json:"name"`
		Stages []string `json:"stages,omitempty"`
	}{name, stages}
	var res modelVersionsResponse
	err := c.do(ctx, call{
		method: http.MethodPost,
		path:   "/registered-models/get-latest-versions",
		body:   body,
		out:    &res,
		policy: retryRead,
	})
	if err != nil {
		if len(stages) > 0 {
			return nil, fmt.Errorf("failed to get latest versions of registered model %q in stages %v: %w", name, stages, err)
		}
		return nil, fmt.Errorf("failed to get latest versions of registered model %q: %w", name, err)
	}
	return res.ModelVersions, nil
}

// SetModelVersionTag sets (upserts) a tag on a model version.
func (c *Client) SetModelVersionTag(ctx context.Context, name, version, key, value string) error {
	body := struct {
		Name    string `json:"name"`
		Version string `json:"version"`
		Key     string `json:"key"`
		Value   string `json:"value"`
	}{name, version, key, value}
	if err := c.send(ctx, http.MethodPost, "/model-versions/set-tag", body, nil); err != nil {
		return fmt.Errorf("failed to set tag %q on model version %q v%s: %w", key, name, version, err)
	}
	return nil
}

// DeleteModelVersionTag deletes a model version tag.
func (c *Client) DeleteModelVersionTag(ctx context.Context, name, version, key string) error {
	body := struct {
		Name    string `json:"name"`
		Version string `json:"version"`
		Key     string `json:"key"`
	}{name, version, key}
	if err := c.send(ctx, http.MethodDelete, "/model-versions/delete-tag", body, nil); err != nil {
		return fmt.Errorf("failed to delete tag %q of model version %q v%s: %w", key, name, version, err)
	}
	return nil
}
