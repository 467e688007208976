// Package promote resolves a candidate model version and the current holder of
// each target, evaluates the policy, and applies the plan with compare-and-set
// and an audit record kept in the registry itself. It also registers versions
// (register.go) and reads a target's recorded history (history.go).
//
// A Request holds values parsed where they entered (ParseVersion,
// ParseExpected, checks.Target): Plan does not parse them again. The policy's
// verdict is checks.Evaluate's, taken as it is. PreviousVersion is the one
// rule for the version a promotion replaced.
package promote

import (
	"context"

	"github.com/mlreg/mlreg-action/internal/mlflow"
)

// Registry is the part of the MLflow client that promote uses.
type Registry interface {
	GetRegisteredModel(ctx context.Context, name string) (*mlflow.RegisteredModel, error)
	GetModelVersion(ctx context.Context, name, version string) (*mlflow.ModelVersion, error)
	LatestVersion(ctx context.Context, name string) (*mlflow.ModelVersion, error)
	GetModelVersionByAlias(ctx context.Context, name, alias string) (*mlflow.ModelVersion, error)
	GetLatestVersions(ctx context.Context, name string, stages []string) ([]mlflow.ModelVersion, error)
	SetAlias(ctx context.Context, name, alias, version string) error
	TransitionStage(ctx context.Context, name, version, stage string, archiveExisting bool) (*mlflow.ModelVersion, error)
	SetModelVersionTag(ctx context.Context, name, version, key, value string) error
	SetRegisteredModelTag(ctx context.Context, name, key, value string) error
	GetRun(ctx context.Context, runID string) (*mlflow.Run, error)
	MetricHistoryPages(ctx context.Context, runID, key string, fn func([]mlflow.Metric) error) error
	GetLoggedModel(ctx context.Context, modelID string) (*mlflow.LoggedModel, error)
}

var _ Registry = (*mlflow.Client)(nil)
