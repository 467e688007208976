package registry

import (
	"slices"
	"strings"
)

// Stage names as MLflow returns them (canonical casing).
const (
	StageNone       = "None"
	StageStaging    = "Staging"
	StageProduction = "Production"
	StageArchived   = "Archived"
)

// Model version statuses.
const (
	StatusReady              = "READY"
	StatusPending            = "PENDING_REGISTRATION"
	StatusFailedRegistration = "FAILED_REGISTRATION"
)

// Run statuses.
const (
	RunFinished = "FINISHED"
	RunRunning  = "RUNNING"
	RunFailed   = "FAILED"
	RunKilled   = "KILLED"
)

// PromptTagKey is the tag MLflow's Prompt Registry sets to "true" on a prompt
// (a registered model) and on each of its versions (mlflow/prompt/constants.py
// IS_PROMPT_TAG_KEY). The value is compared without regard to case, as MLflow does.
const PromptTagKey = "mlflow.prompt.is_prompt"

// Tag is a key/value pair as MLflow sends it.
type Tag struct {
	Key   string `json:"key"`
	Value string `json:"value"`
}

// AliasRef is an alias as listed on a registered model.
type AliasRef struct {
	Alias   string `json:"alias"`
	Version string `json:"version"`
}

// RegisteredModel is MLflow's RegisteredModel entity.
type RegisteredModel struct {
	Name                 string         `json:"name"`
	CreationTimestamp    int64          `json:"creation_timestamp,omitempty"`
	LastUpdatedTimestamp int64          `json:"last_updated_timestamp,omitempty"`
	Description          string         `json:"description,omitempty"`
	LatestVersions       []ModelVersion `json:"latest_versions,omitempty"`
	Tags                 []Tag          `json:"tags,omitempty"`
	Aliases              []AliasRef     `json:"aliases,omitempty"`
}

// Tag returns the value of the registered model tag key, and whether it is set.
func (m *RegisteredModel) Tag(key string) (string, bool) { return findTag(m.Tags, key) }

// IsPrompt reports whether the registered model is a prompt of MLflow's Prompt Registry.
func (m *RegisteredModel) IsPrompt() bool { return promptTagged(m.Tags) }

// AliasVersion returns the version the alias points to, or "" when unset.
func (m *RegisteredModel) AliasVersion(alias string) string {
	for _, a := range m.Aliases {
		if a.Alias == alias {
			return a.Version
		}
	}
	return ""
}

// ModelVersion is MLflow's ModelVersion entity. Version is a decimal string on the wire.
type ModelVersion struct {
	Name                 string   `json:"name"`
	Version              string   `json:"version"`
	CreationTimestamp    int64    `json:"creation_timestamp,omitempty"`
	LastUpdatedTimestamp int64    `json:"last_updated_timestamp,omitempty"`
	UserID               string   `json:"user_id,omitempty"`
	CurrentStage         string   `json:"current_stage,omitempty"`
	Description          string   `json:"description,omitempty"`
	Source               string   `json:"source,omitempty"`
	RunID                string   `json:"run_id,omitempty"`
	Status               string   `json:"status,omitempty"`
	StatusMessage        string   `json:"status_message,omitempty"`
	Tags                 []Tag    `json:"tags,omitempty"`
	RunLink              string   `json:"run_link,omitempty"`
	Aliases              []string `json:"aliases,omitempty"`
	ModelID              string   `json:"model_id,omitempty"`
}

// Tag returns the value of the version tag key, and whether it is set.
func (v *ModelVersion) Tag(key string) (string, bool) { return findTag(v.Tags, key) }

// Clone returns a copy of v that shares no slice with it.
func (v *ModelVersion) Clone() *ModelVersion {
	c := *v
	c.Tags, c.Aliases = slices.Clone(v.Tags), slices.Clone(v.Aliases)
	return &c
}

// IsPrompt reports whether the version is a prompt version. MLflow's Prompt
// Registry writes the prompt tag on every version it creates, and MLflow's
// server recognises a new prompt version by that version tag alone.
func (v *ModelVersion) IsPrompt() bool { return promptTagged(v.Tags) }

// LoggedModelID returns the MLflow 3 logged model id when the version's source
// is a logged model URI (models:/m-<id>), or model_id when the server sent it.
func (v *ModelVersion) LoggedModelID() string {
	if v.ModelID != "" {
		return v.ModelID
	}
	rest, ok := strings.CutPrefix(v.Source, "models:/")
	if !ok || !strings.HasPrefix(rest, "m-") || strings.ContainsAny(rest, "/@") {
		return ""
	}
	return rest
}

// Metric is a metric value (runs and logged models). Value may be NaN or
// ±Inf (see MetricValue).
type Metric struct {
	Key           string      `json:"key"`
	Value         MetricValue `json:"value"`
	Timestamp     int64       `json:"timestamp,omitempty"`
	Step          int64       `json:"step,omitempty"`
	DatasetName   string      `json:"dataset_name,omitempty"`
	DatasetDigest string      `json:"dataset_digest,omitempty"`
	ModelID       string      `json:"model_id,omitempty"`
	RunID         string      `json:"run_id,omitempty"`
}

// RunInfo is the info part of a run.
type RunInfo struct {
	RunID          string `json:"run_id"`
	RunName        string `json:"run_name,omitempty"`
	ExperimentID   string `json:"experiment_id,omitempty"`
	UserID         string `json:"user_id,omitempty"`
	Status         string `json:"status,omitempty"`
	StartTime      int64  `json:"start_time,omitempty"`
	EndTime        int64  `json:"end_time,omitempty"`
	ArtifactURI    string `json:"artifact_uri,omitempty"`
	LifecycleStage string `json:"lifecycle_stage,omitempty"`
}

// Param is a run or logged model parameter.
type Param struct {
	Key   string `json:"key"`
	Value string `json:"value"`
}

// RunData is the data part of a run: latest metric value per key, params, tags.
type RunData struct {
	Metrics []Metric `json:"metrics,omitempty"`
	Params  []Param  `json:"params,omitempty"`
	Tags    []Tag    `json:"tags,omitempty"`
}

// Dataset describes a dataset used as a run input.
type Dataset struct {
	Name       string `json:"name,omitempty"`
	Digest     string `json:"digest,omitempty"`
	SourceType string `json:"source_type,omitempty"`
	Source     string `json:"source,omitempty"`
}

// DatasetInput is a run's dataset input.
type DatasetInput struct {
	Tags    []Tag   `json:"tags,omitempty"`
	Dataset Dataset `json:"dataset"`
}

// RunInputs lists what a run consumed.
type RunInputs struct {
	DatasetInputs []DatasetInput `json:"dataset_inputs,omitempty"`
}

// ModelOutput is an MLflow 3 logged model a run produced, at a step.
type ModelOutput struct {
	ModelID string `json:"model_id"`
	Step    int64  `json:"step,omitempty"`
}

// RunOutputs lists what a run produced (MLflow 3).
type RunOutputs struct {
	ModelOutputs []ModelOutput `json:"model_outputs,omitempty"`
}

// Run is MLflow's Run entity.
type Run struct {
	Info    RunInfo    `json:"info"`
	Data    RunData    `json:"data"`
	Inputs  RunInputs  `json:"inputs"`
	Outputs RunOutputs `json:"outputs"`
}

// Tag returns the value of the run tag key, and whether it is set.
func (r *Run) Tag(key string) (string, bool) { return findTag(r.Data.Tags, key) }

// LoggedModelInfo is the info part of an MLflow 3 logged model.
type LoggedModelInfo struct {
	ModelID             string `json:"model_id"`
	ExperimentID        string `json:"experiment_id,omitempty"`
	Name                string `json:"name,omitempty"`
	CreationTimestampMs int64  `json:"creation_timestamp_ms,omitempty"`
	ArtifactURI         string `json:"artifact_uri,omitempty"`
	Status              string `json:"status,omitempty"`
	SourceRunID         string `json:"source_run_id,omitempty"`
	Tags                []Tag  `json:"tags,omitempty"`
}

// LoggedModelData holds a logged model's params and metrics.
type LoggedModelData struct {
	Params  []Param  `json:"params,omitempty"`
	Metrics []Metric `json:"metrics,omitempty"`
}

// LoggedModel is an MLflow 3 logged model.
type LoggedModel struct {
	Info LoggedModelInfo `json:"info"`
	Data LoggedModelData `json:"data"`
}

// CreateModelVersionRequest is the body of model-versions/create.
type CreateModelVersionRequest struct {
	Name        string `json:"name"`
	Source      string `json:"source"`
	RunID       string `json:"run_id,omitempty"`
	Tags        []Tag  `json:"tags,omitempty"`
	RunLink     string `json:"run_link,omitempty"`
	Description string `json:"description,omitempty"`
	ModelID     string `json:"model_id,omitempty"`
}

// FileInfo is an artifact as artifacts/list returns it: Path is relative to
// the run's artifact root (e.g. "model/MLmodel").
type FileInfo struct {
	Path     string `json:"path"`
	IsDir    bool   `json:"is_dir,omitempty"`
	FileSize int64  `json:"file_size,omitempty"`
}

// promptTagged reads the prompt tag as MLflow does: the last value of the key
// wins, and only "true" in any case counts.
func promptTagged(tags []Tag) bool {
	v := ""
	for _, t := range tags {
		if t.Key == PromptTagKey {
			v = t.Value
		}
	}
	return strings.EqualFold(v, "true")
}

func findTag(tags []Tag, key string) (string, bool) {
	for _, t := range tags {
		if t.Key == key {
			return t.Value, true
		}
	}
	return "", false
}
