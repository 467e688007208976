package mlflow

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/url"

	"github.com/mlreg/mlreg-action/internal/checks"
	"github.com/mlreg/mlreg-action/internal/registry"
)

// MLflow's own registry as a registry.Backend: Registry is the client's
// calls under Rules. The rules are those of MLflow's registry: names as
// MLflow checks them (CheckModelName), any alias or stage, tag keys and
// values as written (mlreg.promotion.alias.champion), the history as full
// records up to MaxHistoryChars, the lock mlreg-lock.<model>.
const (
	// MaxHistoryChars bounds the history tag well under MLflow's
	// 100,000-character tag limit; the oldest entries are dropped first.
	MaxHistoryChars = 50000
	// LockPrefix starts the name of a promotion lock (see LockName).
	LockPrefix = "mlreg-lock."
	// TakeoverPrefix starts the name of a takeover claim (see Rules.TakeoverName).
	TakeoverPrefix = "mlreg-takeover."
)

// Registry is MLflow's registry as a registry.Backend (and a
// registry.Registrar: register creates versions through it).
type Registry struct {
	*Client
	Rules
}

var _ registry.Registrar = (*Registry)(nil)

// NewRegistry is c's registry, its versions linked to c's UI.
func NewRegistry(c *Client) *Registry { return &Registry{Client: c, Rules: Rules{UI: c.BaseURL()}} }

// Rules are the rules of MLflow's registry (see Registry).
type Rules struct {
	// UI is the tracking server's URL, whose UI the version links point
	// to; "" for no links.
	UI string
}

var _ registry.Rules = Rules{}

// ValidateModelName applies MLflow's name rules (CheckModelName).
func (Rules) ValidateModelName(name string) error { return CheckModelName(name) }

// ValidateTarget takes any alias and stage: MLflow has both.
func (Rules) ValidateTarget(checks.Target) error { return nil }

// TagKey is key itself.
func (Rules) TagKey(key string) string { return key }

// TagValue is v itself.
func (Rules) TagValue(v string) string { return v }

// MaxTagsPerObject is 0: MLflow does not limit the number of tags.
func (Rules) MaxTagsPerObject() int { return 0 }

// LockName is the registered model mlreg-lock.<model>, shortened with a
// digest when the name would pass 250 characters.
func (Rules) LockName(model string) string { return LockName(model) }

// LockName is the registered model used as the lock of model (see Rules.LockName).
func LockName(model string) string {
	name := LockPrefix + model
	if len(name) > 250 {
		sum := sha256.Sum256([]byte(model))
		name = LockPrefix + model[:200] + "." + hex.EncodeToString(sum[:8])
	}
	return name
}

// TakeoverName is mlreg-takeover.<id>.
func (Rules) TakeoverName(_, id string) string { return TakeoverPrefix + id }

// FitRecord is rec itself: a record is far under MLflow's tag limit.
func (Rules) FitRecord(rec registry.Record) registry.Record { return rec }

// EncodeHistory keeps full records, the oldest dropped past MaxHistoryChars.
func (Rules) EncodeHistory(h []registry.Record) string {
	return registry.EncodeBounded(h, MaxHistoryChars)
}

// ParseHistory reads full records.
func (Rules) ParseHistory(v string) ([]registry.Record, error) { return registry.ParseRecords(v) }

// VersionURL is the version's page in MLflow's UI, or for a prompt the
// Prompt Registry's page (route /prompts/:promptName, the version in its
// promptVersion query).
func (r Rules) VersionURL(model, version string, prompt bool) string {
	switch {
	case r.UI == "" || version == "":
		return ""
	case prompt:
		return fmt.Sprintf("%s/#/prompts/%s?promptVersion=%s", r.UI, url.PathEscape(model), url.QueryEscape(version))
	}
	return fmt.Sprintf("%s/#/models/%s/versions/%s", r.UI, url.PathEscape(model), url.PathEscape(version))
}

// ExplainError says which permission or credentials a refusal asks for.
func (Rules) ExplainError(err error, model string) error {
	switch {
	case IsPermissionDenied(err):
		return fmt.Errorf("%w; the MLflow user needs EDIT permission on registered model %q to promote, register "+
			"or roll back (READ is enough for validate and history)", err, model)
	case IsUnauthenticated(err):
		return fmt.Errorf("%w; check mlflow-username and mlflow-password, or mlflow-token "+
			"(MLFLOW_TRACKING_USERNAME, MLFLOW_TRACKING_PASSWORD, MLFLOW_TRACKING_TOKEN)", err)
	}
	return err
}
