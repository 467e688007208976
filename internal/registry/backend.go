package registry

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/mlreg/mlreg-action/internal/checks"
)

// Backend is one model registry: its calls, and its rules. internal/mlflow
// (MLflow's own registry) and internal/uc (Databricks Unity Catalog) each
// provide one; internal/testing/memregistry keeps one in memory for tests,
// under either's rules. Promotions, manifests and reports work through it
// and never ask which registry it is.
type Backend interface {
	Registry
	Rules
}

// Registry is the calls a promotion makes. Errors match the kinds in
// errors.go (ErrNotFound, ErrAlreadyExists, ...) with errors.Is.
type Registry interface {
	GetRegisteredModel(ctx context.Context, name string) (*RegisteredModel, error)
	GetModelVersion(ctx context.Context, name, version string) (*ModelVersion, error)
	// LatestVersion is the version with the highest number, without aliases.
	LatestVersion(ctx context.Context, name string) (*ModelVersion, error)
	// GetModelVersionByAlias returns exactly (nil, ErrAliasNotFound) when
	// the model exists and the alias is not set.
	GetModelVersionByAlias(ctx context.Context, name, alias string) (*ModelVersion, error)
	GetLatestVersions(ctx context.Context, name string, stages []string) ([]ModelVersion, error)
	SetAlias(ctx context.Context, name, alias, version string) error
	TransitionStage(ctx context.Context, name, version, stage string, archiveExisting bool) (*ModelVersion, error)
	// SetModelVersionTag and SetRegisteredModelTag upsert a tag under the
	// key given, which is already in the registry's form (Rules.TagKey).
	SetModelVersionTag(ctx context.Context, name, version, key, value string) error
	SetRegisteredModelTag(ctx context.Context, name, key, value string) error
	GetRun(ctx context.Context, runID string) (*Run, error)
	// MetricHistoryPages calls fn with each page of a metric's history.
	MetricHistoryPages(ctx context.Context, runID, key string, fn func([]Metric) error) error
	GetLoggedModel(ctx context.Context, modelID string) (*LoggedModel, error)
	Locker
}

// Locker is the calls the promotion lock makes. Registered-model names are
// unique: creating one fails with ErrAlreadyExists while another exists,
// which is the one atomic operation a registry without compare-and-set
// offers. The lock is a registered model named Rules.LockName(model).
type Locker interface {
	CreateRegisteredModel(ctx context.Context, name, description string, tags []Tag) (*RegisteredModel, error)
	GetRegisteredModel(ctx context.Context, name string) (*RegisteredModel, error)
	DeleteRegisteredModel(ctx context.Context, name string) error
	// SetRegisteredModelTag renews the lock's expiry while its holder works.
	SetRegisteredModelTag(ctx context.Context, name, key, value string) error
}

// Registrar is a backend that registers new versions (register): MLflow's.
// Unity Catalog copies a new version's files into its own storage, which
// mlreg-action does not do.
type Registrar interface {
	Backend
	CreateModelVersion(ctx context.Context, req CreateModelVersionRequest) (*ModelVersion, error)
	// SearchModelVersions takes a filter of clauses key=<QuoteFilterValue>
	// joined by AND.
	SearchModelVersions(ctx context.Context, filter string, orderBy []string, maxResults int) ([]ModelVersion, error)
	ListArtifacts(ctx context.Context, runID, path string) ([]FileInfo, error)
	SearchLoggedModels(ctx context.Context, experimentIDs []string, filter string) ([]LoggedModel, error)
}

// Rules is what differs between registries beyond their wire: which names
// and targets they take, how mlreg's tags are keyed and fitted to their
// limits, the lock's name, the history's layout, links and advice. Rules
// make no request: the command layer checks its inputs with them before it
// builds a client.
type Rules interface {
	// ValidateModelName refuses a name the registry cannot hold; the error
	// names the value, not the input (see CheckModelName).
	ValidateModelName(name string) error
	// ValidateTarget refuses a target the registry cannot hold (see CheckTarget).
	ValidateTarget(t checks.Target) error
	// TagKey is the key under which mlreg's tag key is stored. Every tag
	// mlreg reads or writes goes through it, once.
	TagKey(key string) string
	// TagValue is v as the registry can store it (the lock's owner).
	TagValue(v string) string
	// MaxTagsPerObject is the most tags a model or version may carry; 0
	// for no limit.
	MaxTagsPerObject() int
	// LockName is the registered model that serializes promotions of model.
	LockName(model string) string
	// TakeoverName is the takeover claim, next to model's lock, of the
	// expired lock (or claim) whose id is id: creating it entitles a run to
	// delete that lock.
	TakeoverName(model, id string) string
	// FitRecord returns an audit record cut to fit one tag value, the same
	// way every time.
	FitRecord(rec Record) Record
	// EncodeHistory renders a target's history (newest first) as the value
	// of its history tag, dropping the oldest entries until it fits.
	EncodeHistory(h []Record) string
	// ParseHistory reads what EncodeHistory wrote; "" is an empty history.
	// Entries the layout keeps short are marked Compact.
	ParseHistory(v string) ([]Record, error)
	// VersionURL is the page of a model (or prompt) version, "" when unknown.
	VersionURL(model, version string, prompt bool) string
	// ExplainError adds what to do about a failure of the registry (a
	// refused permission, rejected credentials), or returns err as it is.
	ExplainError(err error, model string) error
}

// CheckModelName checks the model-name input against the registry's rules:
// not blank, and a name the registry takes. The error names the input.
func CheckModelName(r Rules, name string) error {
	if strings.TrimSpace(name) == "" {
		return errors.New("input model-name is required")
	}
	if err := r.ValidateModelName(name); err != nil {
		return fmt.Errorf("input model-name: %w", err)
	}
	return nil
}

// CheckTarget checks the target-alias and target-stage inputs against the
// registry's rules. The error names the input.
func CheckTarget(r Rules, t checks.Target) error {
	err := r.ValidateTarget(t)
	switch {
	case err == nil:
		return nil
	case t.Stage != "":
		return fmt.Errorf("input target-stage: %w (got %q); use target-alias", err, t.Stage)
	}
	return fmt.Errorf("input target-alias: %w", err)
}
