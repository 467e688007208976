package uc

import (
	"context"
	"fmt"

	"github.com/mlreg/mlreg-action/internal/mlflow"
	"github.com/mlreg/mlreg-action/internal/registry"
)

// Registry is Unity Catalog as a registry.Backend: model versions,
// aliases and tags come from UC, runs, metric history and logged models from
// the tracking server, as in MLflow's UC store (rest_store.py reads runs
// from its tracking URI). A UC version names its MLflow 3 logged model in
// model_id, so its metrics are the logged model's, read from the tracking
// server as on OSS.
//
// Tag keys and lock names are passed as they are: callers key their tags
// with Rules.TagKey and name the lock with Rules.LockName, once, and the
// client refuses a key UC cannot hold (ValidateTag) before sending it.
type Registry struct {
	UC       *Client
	Tracking *mlflow.Client
	Rules
}

var _ registry.Backend = (*Registry)(nil)

// NewRegistry joins a UC registry client and a tracking client; workspace
// is the workspace URL, for version links.
func NewRegistry(client *Client, tracking *mlflow.Client, workspace string) *Registry {
	return &Registry{UC: client, Tracking: tracking, Rules: Rules{Workspace: workspace}}
}

// GetRegisteredModel returns the registered model name.
func (r *Registry) GetRegisteredModel(ctx context.Context, name string) (*mlflow.RegisteredModel, error) {
	return r.UC.GetRegisteredModel(ctx, name)
}

// GetModelVersion returns a version of name.
func (r *Registry) GetModelVersion(ctx context.Context, name, version string) (*mlflow.ModelVersion, error) {
	return r.UC.GetModelVersion(ctx, name, version)
}

// LatestVersion returns the version of name with the highest number.
func (r *Registry) LatestVersion(ctx context.Context, name string) (*mlflow.ModelVersion, error) {
	return r.UC.LatestVersion(ctx, name)
}

// GetModelVersionByAlias returns the version alias points to, or
// mlflow.ErrAliasNotFound.
func (r *Registry) GetModelVersionByAlias(ctx context.Context, name, alias string) (*mlflow.ModelVersion, error) {
	return r.UC.GetModelVersionByAlias(ctx, name, alias)
}

// GetLatestVersions is a stage call: UC has none (ErrStagesUnsupported).
func (r *Registry) GetLatestVersions(_ context.Context, name string, stages []string) ([]mlflow.ModelVersion, error) {
	return nil, fmt.Errorf("failed to get latest versions of registered model %q in stages %v: %w", name, stages, ErrStagesUnsupported)
}

// SetAlias points alias at version.
func (r *Registry) SetAlias(ctx context.Context, name, alias, version string) error {
	return r.UC.SetAlias(ctx, name, alias, version)
}

// DeleteAlias removes alias.
func (r *Registry) DeleteAlias(ctx context.Context, name, alias string) error {
	return r.UC.DeleteAlias(ctx, name, alias)
}

// TransitionStage is a stage call: UC has none (ErrStagesUnsupported).
func (r *Registry) TransitionStage(_ context.Context, name, version, stage string, _ bool) (*mlflow.ModelVersion, error) {
	return nil, fmt.Errorf("failed to transition model version %q v%s to stage %q: %w", name, version, stage, ErrStagesUnsupported)
}

// SetModelVersionTag sets a tag on a version.
func (r *Registry) SetModelVersionTag(ctx context.Context, name, version, key, value string) error {
	return r.UC.SetModelVersionTag(ctx, name, version, key, value)
}

// SetRegisteredModelTag sets a tag on a registered model.
func (r *Registry) SetRegisteredModelTag(ctx context.Context, name, key, value string) error {
	return r.UC.SetRegisteredModelTag(ctx, name, key, value)
}

// DeleteModelVersionTag deletes a tag of a version.
func (r *Registry) DeleteModelVersionTag(ctx context.Context, name, version, key string) error {
	return r.UC.DeleteModelVersionTag(ctx, name, version, key)
}

// DeleteRegisteredModelTag deletes a tag of a registered model.
func (r *Registry) DeleteRegisteredModelTag(ctx context.Context, name, key string) error {
	return r.UC.DeleteRegisteredModelTag(ctx, name, key)
}

// CreateRegisteredModel creates a registered model (the lock).
func (r *Registry) CreateRegisteredModel(ctx context.Context, name, description string, tags []mlflow.Tag) (*mlflow.RegisteredModel, error) {
	return r.UC.CreateRegisteredModel(ctx, name, description, tags)
}

// DeleteRegisteredModel deletes a registered model (the lock).
func (r *Registry) DeleteRegisteredModel(ctx context.Context, name string) error {
	return r.UC.DeleteRegisteredModel(ctx, name)
}

// GetRun reads a run from the tracking server.
func (r *Registry) GetRun(ctx context.Context, runID string) (*mlflow.Run, error) {
	return r.Tracking.GetRun(ctx, runID)
}

// MetricHistoryPages reads a metric's history from the tracking server.
func (r *Registry) MetricHistoryPages(ctx context.Context, runID, key string, fn func([]mlflow.Metric) error) error {
	return r.Tracking.MetricHistoryPages(ctx, runID, key, fn)
}

// GetLoggedModel reads an MLflow 3 logged model (a UC version's model_id)
// from the tracking server.
func (r *Registry) GetLoggedModel(ctx context.Context, modelID string) (*mlflow.LoggedModel, error) {
	return r.Tracking.GetLoggedModel(ctx, modelID)
}
