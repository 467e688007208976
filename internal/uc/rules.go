package uc

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
	"unicode"

	"github.com/mlreg/mlreg-action/internal/checks"
	"github.com/mlreg/mlreg-action/internal/mlflow"
	"github.com/mlreg/mlreg-action/internal/registry"
)

// Rules are Unity Catalog's rules (see the package documentation): three-level
// names, no stages, tag keys in UC-safe form (TagKey), values and records cut
// to 1,000 characters (FitRecord), a compact history (EncodeCompactHistory),
// at most 50 tags per object, the lock catalog.schema.mlreg_lock_<model>,
// links to Catalog Explorer, and UC's permission model in advice.
type Rules struct {
	// Workspace is the workspace URL (DATABRICKS_HOST), whose Catalog
	// Explorer the version links point to; "" for no links.
	Workspace string
}

var _ registry.Rules = Rules{}

// errNoStages refuses a stage target.
var errNoStages = errors.New("Unity Catalog has no model stages") //nolint:staticcheck // ST1005: a proper noun

// ValidateModelName requires a three-level name (ValidateName).
func (Rules) ValidateModelName(name string) error { return ValidateName(name) }

// ValidateTarget refuses any stage: UC has none.
func (Rules) ValidateTarget(t checks.Target) error {
	if t.Stage != "" {
		return errNoStages
	}
	return nil
}

// TagKey is the UC-safe form of key (see the package function).
func (Rules) TagKey(key string) string { return TagKey(key) }

// TagValue is v without surrounding spaces, cut to MaxTagValueChars bytes.
func (Rules) TagValue(v string) string {
	return truncateBytes(strings.TrimFunc(v, unicode.IsSpace), MaxTagValueChars)
}

// MaxTagsPerObject is UC's limit of 50.
func (Rules) MaxTagsPerObject() int { return MaxTagsPerObject }

// LockName is catalog.schema.mlreg_lock_<model> (see the package function).
func (Rules) LockName(model string) string { return LockName(model) }

// TakeoverName is catalog.schema.mlreg_takeover_<id>, next to the lock
// (see the package function).
func (Rules) TakeoverName(model, id string) string { return TakeoverName(model, id) }

// FitRecord cuts the record to fit one tag value (see the package function).
func (Rules) FitRecord(rec registry.Record) registry.Record { return FitRecord(rec, MaxTagValueChars) }

// EncodeHistory writes compact entries within one tag value.
func (Rules) EncodeHistory(h []registry.Record) string {
	return EncodeCompactHistory(h, MaxTagValueChars)
}

// ParseHistory reads compact entries, each marked Compact.
func (Rules) ParseHistory(v string) ([]registry.Record, error) { return ParseCompactHistory(v) }

// VersionURL is the version's page in the workspace's Catalog Explorer, as
// MLflow's client prints it after registering:
// <host>/explore/data/models/<catalog>/<schema>/<model>/version/<n>.
func (r Rules) VersionURL(model, version string, _ bool) string {
	if r.Workspace == "" || version == "" {
		return ""
	}
	parts := strings.Split(model, ".")
	for i, p := range parts {
		parts[i] = url.PathEscape(p)
	}
	return fmt.Sprintf("%s/explore/data/models/%s/version/%s", r.Workspace, strings.Join(parts, "/"), url.PathEscape(version))
}

// ExplainError adds what to do about an authorization failure of a UC call;
// a tracking call's is explained as on MLflow. A refused alias move
// already says who may move aliases (*AliasPermissionError).
func (Rules) ExplainError(err error, model string) error {
	var apErr *AliasPermissionError
	var apiErr *mlflow.Error
	switch {
	case errors.As(err, &apErr):
		return err
	case !errors.As(err, &apiErr) || !strings.Contains(apiErr.Path, "/unity-catalog/"):
		return mlflow.Rules{}.ExplainError(err, model)
	case mlflow.IsPermissionDenied(err):
		return fmt.Errorf("%w; in Unity Catalog the workspace identity needs USE CATALOG and USE SCHEMA on the catalog "+
			"and schema of %q and EXECUTE on the model to read it, and must own it (or be a metastore admin) to move "+
			"its aliases", err, model)
	case mlflow.IsUnauthenticated(err):
		return fmt.Errorf("%w; check DATABRICKS_HOST and DATABRICKS_TOKEN (or mlflow-token with tracking-uri: databricks)", err)
	}
	return err
}
