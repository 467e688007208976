package mlflow

import (
	"github.com/mlreg/mlreg-action/internal/registry"
)

// The entities the client sends and receives are the registry's domain
// types, which carry MLflow's JSON field names (see internal/registry).
type (
	// Tag is registry.Tag.
	Tag = registry.Tag
	// AliasRef is registry.AliasRef.
	AliasRef = registry.AliasRef
	// RegisteredModel is registry.RegisteredModel.
	RegisteredModel = registry.RegisteredModel
	// ModelVersion is registry.ModelVersion.
	ModelVersion = registry.ModelVersion
	// Metric is registry.Metric.
	Metric = registry.Metric
	// MetricValue is registry.MetricValue.
	MetricValue = registry.MetricValue
	// RunInfo is registry.RunInfo.
	RunInfo = registry.RunInfo
	// Param is registry.Param.
	Param = registry.Param
	// RunData is registry.RunData.
	RunData = registry.RunData
	// Dataset is registry.Dataset.
	Dataset = registry.Dataset
	// DatasetInput is registry.DatasetInput.
	DatasetInput = registry.DatasetInput
	// RunInputs is registry.RunInputs.
	RunInputs = registry.RunInputs
	// ModelOutput is registry.ModelOutput.
	ModelOutput = registry.ModelOutput
	// RunOutputs is registry.RunOutputs.
	RunOutputs = registry.RunOutputs
	// Run is registry.Run.
	Run = registry.Run
	// LoggedModelInfo is registry.LoggedModelInfo.
	LoggedModelInfo = registry.LoggedModelInfo
	// LoggedModelData is registry.LoggedModelData.
	LoggedModelData = registry.LoggedModelData
	// LoggedModel is registry.LoggedModel.
	LoggedModel = registry.LoggedModel
	// CreateModelVersionRequest is registry.CreateModelVersionRequest.
	CreateModelVersionRequest = registry.CreateModelVersionRequest
	// FileInfo is registry.FileInfo.
	FileInfo = registry.FileInfo
)

// Stage names, version and run statuses, and the prompt tag, as MLflow
// writes them (see internal/registry).
const (
	StageNone                = registry.StageNone
	StageStaging             = registry.StageStaging
	StageProduction          = registry.StageProduction
	StageArchived            = registry.StageArchived
	StatusReady              = registry.StatusReady
	StatusPending            = registry.StatusPending
	StatusFailedRegistration = registry.StatusFailedRegistration
	RunFinished              = registry.RunFinished
	RunRunning               = registry.RunRunning
	RunFailed                = registry.RunFailed
	RunKilled                = registry.RunKilled
	PromptTagKey             = registry.PromptTagKey
)
