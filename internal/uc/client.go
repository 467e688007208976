package uc

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"

	"github.com/mlreg/mlreg-action/internal/mlflow"
	"github.com/mlreg/mlreg-action/internal/registry"
)

// Paths of the UC registry rpcs below /api/2.0/mlflow, from MLflow's
// databricks_uc_registry_service.proto (testdata/uc holds the trimmed copy
// the tests check them against).
const (
	pathGetRegisteredModel     = "/unity-catalog/registered-models/get"
	pathCreateRegisteredModel  = "/unity-catalog/registered-models/create"
	pathDeleteRegisteredModel  = "/unity-catalog/registered-models/delete"
	pathSetRegisteredModelTag  = "/unity-catalog/registered-models/set-tag"
	pathDeleteRegisteredModTag = "/unity-catalog/registered-models/delete-tag"
	pathAlias                  = "/unity-catalog/registered-models/alias" // GET, POST, DELETE
	pathGetModelVersion        = "/unity-catalog/model-versions/get"
	pathSearchModelVersions    = "/unity-catalog/model-versions/search"
	pathSetModelVersionTag     = "/unity-catalog/model-versions/set-tag"
	pathDeleteModelVersionTag  = "/unity-catalog/model-versions/delete-tag"
)

const (
	// searchPageSize is the max_results of each search page (the proto's
	// default is 10000).
	searchPageSize = 1000
	// maxPages bounds a pagination loop against a server that never stops.
	maxPages = 10000
)

// ErrStagesUnsupported is returned for stage calls: Unity Catalog has no
// stages (MLflow's UC store raises "Method '…' is unsupported for models in
// the Unity Catalog"), so target-stage is invalid input there.
var ErrStagesUnsupported = errors.New("Unity Catalog has no model stages: use an alias (target-alias) instead") //nolint:staticcheck // ST1005: a proper noun

// AliasPermissionError is a refusal to set or delete an alias. Unity Catalog
// lets only the registered model's owner or a metastore admin change its
// aliases (Databricks' API reference for the alias calls: "The caller must
// be a metastore admin or an owner of the registered model").
type AliasPermissionError struct {
	Model string
	Alias string
	Err   error // the server's answer; mlflow.IsPermissionDenied is true for it
}

func (e *AliasPermissionError) Error() string {
	return fmt.Sprintf("permission denied: in Unity Catalog only the owner of registered model %q or a metastore admin "+
		"may set or delete its aliases (such as @%s); make the identity of this workflow the model's owner, "+
		"or have the owner or an admin move the alias: %v", e.Model, e.Alias, e.Err)
}

func (e *AliasPermissionError) Unwrap() error { return e.Err }

// Client calls the UC registry REST service through an internal/mlflow
// client built for the workspace (TrackingURI = DATABRICKS_HOST, Token =
// DATABRICKS_TOKEN), so it shares that client's retries, credentials and
// typed errors (mlflow.IsNotFound, mlflow.IsPermissionDenied, *mlflow.Error).
// It is safe for concurrent use.
type Client struct {
	c *mlflow.Client
}

// New returns a UC registry client that sends its calls through c.
func New(c *mlflow.Client) *Client { return &Client{c: c} }

// int64JSON accepts an int64 as a JSON number (as MLflow and Databricks
// write it) or as a string (the proto3 JSON mapping's form).
type int64JSON int64

func (n *int64JSON) UnmarshalJSON(b []byte) error {
	s := strings.Trim(string(b), `"`)
	if s == "null" || s == "" {
		return nil
	}
	v, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return fmt.Errorf("not an int64: %s", b)
	}
	*n = int64JSON(v)
	return nil
}

// Wire forms of the UC messages (databricks_uc_registry_messages.proto).
type (
	ucAlias struct {
		Alias   string `json:"alias"`
		Version string `json:"version"`
	}
	ucRegisteredModel struct {
		Name                 string       `json:"name"`
		CreationTimestamp    int64JSON    `json:"creation_timestamp"`
		LastUpdatedTimestamp int64JSON    `json:"last_updated_timestamp"`
		UserID               string       `json:"user_id"`
		Description          string       `json:"description"`
		Aliases              []ucAlias    `json:"aliases"`
		Tags                 []mlflow.Tag `json:"tags"`
	}
	ucModelVersion struct {
		Name                 string       `json:"name"`
		Version              string       `json:"version"`
		CreationTimestamp    int64JSON    `json:"creation_timestamp"`
		LastUpdatedTimestamp int64JSON    `json:"last_updated_timestamp"`
		UserID               string       `json:"user_id"`
		Description          string       `json:"description"`
		Source               string       `json:"source"`
		RunID                string       `json:"run_id"`
		Status               string       `json:"status"`
		StatusMessage        string       `json:"status_message"`
		Aliases              []ucAlias    `json:"aliases"`
		Tags                 []mlflow.Tag `json:"tags"`
		ModelID              string       `json:"model_id"`
	}
)

var versionNumber = regexp.MustCompile(`^[1-9][0-9]*$`)

func checkVersion(v string) error {
	if !versionNumber.MatchString(v) {
		return fmt.Errorf("invalid response: model version %q is not a version number", v)
	}
	return nil
}

// StatusUnspecified is what a version whose answer carries no status maps
// to, as in MLflow's own client (the enum's zero value); it is not READY.
const StatusUnspecified = "UNSPECIFIED"

func (v *ucModelVersion) toMLflow() (*mlflow.ModelVersion, error) {
	if err := checkVersion(v.Version); err != nil {
		return nil, err
	}
	mv := &mlflow.ModelVersion{
		Name: v.Name, Version: v.Version,
		CreationTimestamp: int64(v.CreationTimestamp), LastUpdatedTimestamp: int64(v.LastUpdatedTimestamp),
		UserID: v.UserID, Description: v.Description, Source: v.Source, RunID: v.RunID,
		Status: v.Status, StatusMessage: v.StatusMessage, Tags: v.Tags, ModelID: v.ModelID,
	}
	if mv.Status == "" {
		mv.Status = StatusUnspecified
	}
	for _, a := range v.Aliases {
		mv.Aliases = append(mv.Aliases, a.Alias)
	}
	return mv, nil
}

func (m *ucRegisteredModel) toMLflow() (*mlflow.RegisteredModel, error) {
	rm := &mlflow.RegisteredModel{
		Name: m.Name, CreationTimestamp: int64(m.CreationTimestamp), LastUpdatedTimestamp: int64(m.LastUpdatedTimestamp),
		Description: m.Description, Tags: m.Tags,
	}
	for _, a := range m.Aliases {
		if err := checkVersion(a.Version); err != nil {
			return nil, fmt.Errorf("alias %q: %w", a.Alias, err)
		}
		rm.Aliases = append(rm.Aliases, mlflow.AliasRef{Alias: a.Alias, Version: a.Version})
	}
	return rm, nil
}

func errMissing(field string) error {
	return fmt.Errorf("invalid response: no %q field", field)
}

// GetRegisteredModel returns the registered model name, with its aliases and tags.
func (c *Client) GetRegisteredModel(ctx context.Context, name string) (*mlflow.RegisteredModel, error) {
	fail := func(err error) error { return fmt.Errorf("failed to get registered model %q: %w", name, err) }
	if err := ValidateName(name); err != nil {
		return nil, fail(err)
	}
	var res struct {
		RegisteredModel *ucRegisteredModel `json:"registered_model"`
	}
	if err := c.c.Call(ctx, http.MethodGet, pathGetRegisteredModel, url.Values{"name": {name}}, nil, &res); err != nil {
		return nil, fail(err)
	}
	if res.RegisteredModel == nil {
		return nil, fail(errMissing("registered_model"))
	}
	rm, err := res.RegisteredModel.toMLflow()
	if err != nil {
		return nil, fail(err)
	}
	return rm, nil
}

// CreateRegisteredModel creates a registered model (the promotion lock; see
// LockName). If the name exists the error satisfies mlflow.IsAlreadyExists.
func (c *Client) CreateRegisteredModel(ctx context.Context, name, description string, tags []mlflow.Tag) (*mlflow.RegisteredModel, error) {
	fail := func(err error) error { return fmt.Errorf("failed to create registered model %q: %w", name, err) }
	if err := ValidateName(name); err != nil {
		return nil, fail(err)
	}
	if len(tags) > MaxTagsPerObject {
		return nil, fail(fmt.Errorf("%d tags, %w (at most %d per object)", len(tags), ErrTagLimit, MaxTagsPerObject))
	}
	for _, t := range tags {
		if err := ValidateTag(t.Key, t.Value); err != nil {
			return nil, fail(err)
		}
	}
	body := struct {
		Name        string       `json:"name"`
		Description string       `json:"description,omitempty"`
		Tags        []mlflow.Tag `json:"tags,omitempty"`
	}{name, description, tags}
	var res struct {
		RegisteredModel *ucRegisteredModel `json:"registered_model"`
	}
	if err := c.c.Call(ctx, http.MethodPost, pathCreateRegisteredModel, nil, body, &res); err != nil {
		return nil, fail(err)
	}
	if res.RegisteredModel == nil {
		return nil, fail(errMissing("registered_model"))
	}
	rm, err := res.RegisteredModel.toMLflow()
	if err != nil {
		return nil, fail(err)
	}
	return rm, nil
}

// DeleteRegisteredModel deletes a registered model with its versions. As
// mlflow.Client.DeleteRegisteredModel, it is retried only when the request
// cannot have been acted on.
func (c *Client) DeleteRegisteredModel(ctx context.Context, name string) error {
	if err := ValidateName(name); err != nil {
		return fmt.Errorf("failed to delete registered model %q: %w", name, err)
	}
	body := struct {
		Name string `json:"name"`
	}{name}
	if err := c.c.CallOnce(ctx, http.MethodDelete, pathDeleteRegisteredModel, nil, body, nil); err != nil {
		return fmt.Errorf("failed to delete registered model %q: %w", name, err)
	}
	return nil
}

// GetModelVersion returns version (a decimal string) of registered model name.
func (c *Client) GetModelVersion(ctx context.Context, name, version string) (*mlflow.ModelVersion, error) {
	fail := func(err error) error { return fmt.Errorf("failed to get model version %q v%s: %w", name, version, err) }
	if err := ValidateName(name); err != nil {
		return nil, fail(err)
	}
	var res struct {
		ModelVersion *ucModelVersion `json:"model_version"`
	}
	q := url.Values{"name": {name}, "version": {version}}
	if err := c.c.Call(ctx, http.MethodGet, pathGetModelVersion, q, nil, &res); err != nil {
		return nil, fail(err)
	}
	if res.ModelVersion == nil {
		return nil, fail(errMissing("model_version"))
	}
	mv, err := res.ModelVersion.toMLflow()
	if err != nil {
		return nil, fail(err)
	}
	return mv, nil
}

// GetModelVersionByAlias returns the version alias points to. When the
// model exists and the alias is unset it returns exactly (nil,
// mlflow.ErrAliasNotFound); a missing model stays an error for which
// mlflow.IsNotFound is true. How UC words an unset alias is not relied on:
// after a not-found (or 400) answer the model itself is read, and its alias
// list decides.
func (c *Client) GetModelVersionByAlias(ctx context.Context, name, alias string) (*mlflow.ModelVersion, error) {
	fail := func(err error) error {
		return fmt.Errorf("failed to get alias %q of registered model %q: %w", alias, name, err)
	}
	if err := ValidateName(name); err != nil {
		return nil, fail(err)
	}
	var res struct {
		ModelVersion *ucModelVersion `json:"model_version"`
	}
	q := url.Values{"name": {name}, "alias": {alias}}
	err := c.c.Call(ctx, http.MethodGet, pathAlias, q, nil, &res)
	if err != nil {
		var e *mlflow.Error
		if !mlflow.IsNotFound(err) && !(errors.As(err, &e) && e.Code == mlflow.CodeInvalidParameterValue) {
			return nil, fail(err)
		}
		rm, rerr := c.GetRegisteredModel(ctx, name)
		if rerr != nil {
			if mlflow.IsNotFound(rerr) {
				return nil, fail(rerr)
			}
			return nil, fail(err)
		}
		if rm.AliasVersion(alias) == "" {
			return nil, mlflow.ErrAliasNotFound
		}
		return nil, fail(err)
	}
	if res.ModelVersion == nil {
		return nil, fail(errMissing("model_version"))
	}
	mv, err := res.ModelVersion.toMLflow()
	if err != nil {
		return nil, fail(err)
	}
	return mv, nil
}

// SearchModelVersions returns the versions matching filter, which UC limits
// to one condition: name = '<model>' or run_id = '<run>' (MLflow's UC store;
// build it with registry.QuoteFilterValue). UC takes no order_by, so the order
// is the server's. It follows next_page_token until the last page or until
// maxResults versions were collected; maxResults <= 0 means all. As with
// MLflow's client, search results are not relied on for aliases or tags.
func (c *Client) SearchModelVersions(ctx context.Context, filter string, maxResults int) ([]mlflow.ModelVersion, error) {
	vs, err := c.searchModelVersions(ctx, filter, maxResults)
	if err != nil {
		return nil, fmt.Errorf("failed to search model versions (filter %q): %w", filter, err)
	}
	return vs, nil
}

// searchModelVersions is SearchModelVersions, its error unwrapped, for the
// callers that say what they searched for.
func (c *Client) searchModelVersions(ctx context.Context, filter string, maxResults int) ([]mlflow.ModelVersion, error) {
	pageSize := searchPageSize
	if maxResults > 0 {
		pageSize = min(maxResults, searchPageSize)
	}
	var (
		out   []mlflow.ModelVersion
		token string
	)
	for page := 0; ; page++ {
		q := url.Values{"max_results": {strconv.Itoa(pageSize)}}
		if filter != "" {
			q.Set("filter", filter)
		}
		if token != "" {
			q.Set("page_token", token)
		}
		var res struct {
			ModelVersions []ucModelVersion `json:"model_versions"`
			NextPageToken string           `json:"next_page_token"`
		}
		if err := c.c.Call(ctx, http.MethodGet, pathSearchModelVersions, q, nil, &res); err != nil {
			return nil, err
		}
		for i := range res.ModelVersions {
			mv, err := res.ModelVersions[i].toMLflow()
			if err != nil {
				return nil, err
			}
			mv.Aliases, mv.Tags = nil, nil
			out = append(out, *mv)
		}
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

// LatestVersion returns the version of name with the highest number. UC's
// search has no order_by, so every version of the model is read (in pages)
// and the highest kept. When the model has no versions the error satisfies
// mlflow.IsNotFound. The result carries no aliases or tags.
func (c *Client) LatestVersion(ctx context.Context, name string) (*mlflow.ModelVersion, error) {
	fail := func(err error) error {
		return fmt.Errorf("failed to find latest version of registered model %q: %w", name, err)
	}
	if err := ValidateName(name); err != nil {
		return nil, fail(err)
	}
	q, err := registry.QuoteFilterValue(name)
	if err != nil {
		return nil, fail(err)
	}
	vs, err := c.searchModelVersions(ctx, "name="+q, 0)
	if err != nil {
		return nil, fail(err)
	}
	var best *mlflow.ModelVersion
	bestN := int64(0)
	for i := range vs {
		n, _ := strconv.ParseInt(vs[i].Version, 10, 64) // checked by toMLflow
		if n > bestN {
			best, bestN = &vs[i], n
		}
	}
	if best == nil {
		return nil, fail(&mlflow.Error{
			Method: http.MethodGet, Path: "/api/2.0/mlflow" + pathSearchModelVersions,
			StatusCode: http.StatusNotFound, Code: mlflow.CodeResourceDoesNotExist,
			Message: "the registered model has no versions, or does not exist",
		})
	}
	return best, nil
}

// SetAlias points alias at version, moving it if it is set elsewhere. A
// refusal is an *AliasPermissionError that explains UC's rule.
func (c *Client) SetAlias(ctx context.Context, name, alias, version string) error {
	fail := func(err error) error {
		return fmt.Errorf("failed to set alias %q of registered model %q to v%s: %w", alias, name, version, err)
	}
	if err := ValidateName(name); err != nil {
		return fail(err)
	}
	body := struct {
		Name    string `json:"name"`
		Alias   string `json:"alias"`
		Version string `json:"version"`
	}{name, alias, version}
	if err := c.c.Call(ctx, http.MethodPost, pathAlias, nil, body, nil); err != nil {
		return fail(aliasError(name, alias, err))
	}
	return nil
}

// DeleteAlias removes alias. A refusal is an *AliasPermissionError.
func (c *Client) DeleteAlias(ctx context.Context, name, alias string) error {
	fail := func(err error) error {
		return fmt.Errorf("failed to delete alias %q of registered model %q: %w", alias, name, err)
	}
	if err := ValidateName(name); err != nil {
		return fail(err)
	}
	body := struct {
		Name  string `json:"name"`
		Alias string `json:"alias"`
	}{name, alias}
	if err := c.c.Call(ctx, http.MethodDelete, pathAlias, nil, body, nil); err != nil {
		return fail(aliasError(name, alias, err))
	}
	return nil
}

func aliasError(name, alias string, err error) error {
	if mlflow.IsPermissionDenied(err) {
		return &AliasPermissionError{Model: name, Alias: alias, Err: err}
	}
	return err
}

// SetRegisteredModelTag sets (upserts) a tag on a registered model. The tag
// must be within UC's limits (ValidateTag); see TagKey for a safe key.
func (c *Client) SetRegisteredModelTag(ctx context.Context, name, key, value string) error {
	fail := func(err error) error {
		return fmt.Errorf("failed to set tag %q on registered model %q: %w", key, name, err)
	}
	if err := ValidateName(name); err != nil {
		return fail(err)
	}
	if err := ValidateTag(key, value); err != nil {
		return fail(err)
	}
	body := struct {
		Name  string `json:"name"`
		Key   string `json:"key"`
		Value string `json:"value"`
	}{name, key, value}
	if err := c.c.Call(ctx, http.MethodPost, pathSetRegisteredModelTag, nil, body, nil); err != nil {
		return fail(err)
	}
	return nil
}

// DeleteRegisteredModelTag deletes a registered model tag.
func (c *Client) DeleteRegisteredModelTag(ctx context.Context, name, key string) error {
	fail := func(err error) error {
		return fmt.Errorf("failed to delete tag %q of registered model %q: %w", key, name, err)
	}
	if err := ValidateName(name); err != nil {
		return fail(err)
	}
	body := struct {
		Name string `json:"name"`
		Key  string `json:"key"`
	}{name, key}
	if err := c.c.Call(ctx, http.MethodDelete, pathDeleteRegisteredModTag, nil, body, nil); err != nil {
		return fail(err)
	}
	return nil
}

// SetModelVersionTag sets (upserts) a tag on a model version, within UC's limits.
func (c *Client) SetModelVersionTag(ctx context.Context, name, version, key, value string) error {
	fail := func(err error) error {
		return fmt.Errorf("failed to set tag %q on model version %q v%s: %w", key, name, version, err)
	}
	if err := ValidateName(name); err != nil {
		return fail(err)
	}
	if err := ValidateTag(key, value); err != nil {
		return fail(err)
	}
	body := struct {
		Name    string `json:"name"`
		Version string `json:"version"`
		Key     string `json:"key"`
		Value   string `json:"value"`
	}{name, version, key, value}
	if err := c.c.Call(ctx, http.MethodPost, pathSetModelVersionTag, nil, body, nil); err != nil {
		return fail(err)
	}
	return nil
}

// DeleteModelVersionTag deletes a model version tag.
func (c *Client) DeleteModelVersionTag(ctx context.Context, name, version, key string) error {
	fail := func(err error) error {
		return fmt.Errorf("failed to delete tag %q of model version %q v%s: %w", key, name, version, err)
	}
	if err := ValidateName(name); err != nil {
		return fail(err)
	}
	body := struct {
		Name    string `json:"name"`
		Version string `json:"version"`
		Key     string `json:"key"`
	}{name, version, key}
	if err := c.c.Call(ctx, http.MethodDelete, pathDeleteModelVersionTag, nil, body, nil); err != nil {
		return fail(err)
	}
	return nil
}
