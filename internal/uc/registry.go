package uc

import (
	"context"
	"fmt"
	"strings"

	"github.com/mlreg/mlreg-action/internal/mlflow"
)

// Registry is the registry promote works on (promote.Registry and
// promote.Locker) when the registry is Unity Catalog: model versions,
// aliases and tags come from UC, runs, metric history and logged models from
// the tracking server, as in MLflow's UC store (rest_store.py reads runs
// from its tracking URI). A UC version names its MLflow 3 logged model in
// model_id, so its metrics are the logged model's, read from the tracking
// server as on OSS.
//
// Tag keys are written in their UC-safe form (TagKey), so mlreg's audit
// keys (mlreg.promotion.alias.champion) can be passed as they are; the tags
// read back carry the stored keys, so look them up with TagKey too (it is
// the identity on a key that is already safe).
type Registry struct {
	UC       *Client
	Tracking *mlflow.Client
}

// NewRegistry joins a UC registry client and a tracking client.
func NewRegistry(registry *Client, tracking *mlflow.Client) *Registry {
	return &Registry{UC: registry, Tracking: tracking}
}

// TagKey is the key under which this registry stores key (see the package function).
func (r *Registry) TagKey(key string) string { return TagKey(key) }

// LockName is the registered model that serializes promotions of model (see the package function).
func (r *Registry) LockName(model string) string { return LockName(model) }

// GetRegisteredModel returns the registered model name.
func (r *Registry) GetRegisteredModel(ctx context.Context, name string) (*mlflow.RegisteredModel, error) {
	return r.UC.GetRegisteredModel(ctx, lockToUC(name))
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

// SetModelVersionTag sets the tag TagKey(key) on a version.
func (r *Registry) SetModelVersionTag(ctx context.Context, name, version, key, value string) error {
	return r.UC.SetModelVersionTag(ctx, name, version, TagKey(key), value)
}

// SetRegisteredModelTag sets the tag TagKey(key) on a registered model.
func (r *Registry) SetRegisteredModelTag(ctx context.Context, name, key, value string) error {
	return r.UC.SetRegisteredModelTag(ctx, lockToUC(name), TagKey(key), value)
}

// DeleteModelVersionTag deletes the tag TagKey(key) of a version.
func (r *Registry) DeleteModelVersionTag(ctx context.Context, name, version, key string) error {
	return r.UC.DeleteModelVersionTag(ctx, name, version, TagKey(key))
}

// DeleteRegisteredModelTag deletes the tag TagKey(key) of a registered model.
func (r *Registry) DeleteRegisteredModelTag(ctx context.Context, name, key string) error {
	return r.UC.DeleteRegisteredModelTag(ctx, lockToUC(name), TagKey(key))
}

// CreateRegisteredModel creates a registered model with its tags in UC-safe
// form. promote calls it only for its lock; an OSS lock name
// (mlreg-lock.<model>) is created as LockName(<model>).
func (r *Registry) CreateRegisteredModel(ctx context.Context, name, description string, tags []mlflow.Tag) (*mlflow.RegisteredModel, error) {
	safe := make([]mlflow.Tag, len(tags))
	for i, t := range tags {
		safe[i] = mlflow.Tag{Key: TagKey(t.Key), Value: t.Value}
	}
	return r.UC.CreateRegisteredModel(ctx, lockToUC(name), description, safe)
}

// DeleteRegisteredModel deletes a registered model (the lock); an OSS lock
// name is mapped as in CreateRegisteredModel.
func (r *Registry) DeleteRegisteredModel(ctx context.Context, name string) error {
	return r.UC.DeleteRegisteredModel(ctx, lockToUC(name))
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

// ossLockPrefix is promote.LockPrefix, the OSS lock's name prefix (a test
// keeps the two equal; promote is not imported by this leaf package).
const ossLockPrefix = "mlreg-lock."

// lockToUC maps promote's OSS lock name for a three-level model to its UC
// form; any other name is returned as it is.
func lockToUC(name string) string {
	model, ok := strings.CutPrefix(name, ossLockPrefix)
	if !ok || ValidateName(model) != nil {
		return name
	}
	return LockName(model)
}
