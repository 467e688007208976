package action

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/mlreg/mlreg-action/internal/mlflow"
	"github.com/mlreg/mlreg-action/internal/notify"
	"github.com/mlreg/mlreg-action/internal/promote"
	"github.com/mlreg/mlreg-action/internal/registry"
	"github.com/mlreg/mlreg-action/internal/uc"
)

// RegistryUC is the registry-uri of Databricks Unity Catalog, as MLflow's
// client spells it (registry_uri="databricks-uc", MLFLOW_REGISTRY_URI).
const RegistryUC = "databricks-uc"

// RegistryConfig is the registry-uri input resolved: which registry the
// commands work on, and how to reach it when it is not the tracking server.
type RegistryConfig struct {
	URI string // "" (the tracking server) or RegistryUC
	// Rules are the registry's (mlflow.Rules, or uc.Rules for RegistryUC):
	// the inputs are checked with them before any client is built.
	Rules registry.Rules
	Host  string // Unity Catalog: the workspace URL (DATABRICKS_HOST)
	Token string // Unity Catalog: its bearer token
}

// parseRegistry reads registry-uri (MLFLOW_REGISTRY_URI) before the
// tracking URI is resolved (tracking is the raw tracking-uri). MLflow's
// client takes more registry URIs than mlreg-action needs; this one takes:
//
//   - nothing, the tracking URI itself, or "databricks" with tracking-uri:
//     databricks: the tracking server is the registry (MLflow's default);
//   - databricks-uc: Unity Catalog on the Databricks workspace, with the host
//     and token of tracking-uri: databricks (DATABRICKS_HOST and the
//     mlflow-token input, which falls back to DATABRICKS_TOKEN), or, with
//     another tracking server, DATABRICKS_HOST and DATABRICKS_TOKEN.
//
// databricks-uc://<profile> is refused: MLflow resolves the profile from
// ~/.databrickscfg, a file mlreg-action does not read, and guessing would
// promote in another workspace than the one named. Register on Unity
// Catalog is refused too (see errRegisterOnUC). Every error names its input.
func parseRegistry(c *Config, raw, tracking string, getenv func(string) string) (RegistryConfig, []error) {
	v := strings.TrimRight(strings.TrimSpace(raw), "/")
	lower := strings.ToLower(v)
	databricksTracking := tracking == "databricks" || strings.HasPrefix(tracking, "databricks://")
	oss := RegistryConfig{Rules: mlflow.Rules{}}
	switch {
	case v == "" || v == tracking || (lower == "databricks" && databricksTracking):
		return oss, nil
	case strings.HasPrefix(lower, RegistryUC+"://"):
		return oss, []error{fmt.Errorf("input registry-uri: %q names a Databricks CLI profile, which mlreg-action "+
			"cannot resolve (it reads no ~/.databrickscfg); set registry-uri: %s and the workspace in DATABRICKS_HOST and "+
			"DATABRICKS_TOKEN", mlflow.RedactURL(v), RegistryUC)}
	case lower != RegistryUC:
		return oss, []error{fmt.Errorf("input registry-uri: want %s (Databricks Unity Catalog), or leave it unset "+
			"to use the tracking server's registry; got %q", RegistryUC, mlflow.RedactURL(v))}
	}
	r := RegistryConfig{URI: RegistryUC, Rules: uc.Rules{}, Host: databricksHost(getenv), Token: getenv("DATABRICKS_TOKEN")}
	if databricksTracking {
		r.Token = c.MLflowToken // the token tracking-uri: databricks uses
	}
	var errs []error
	if (r.Host == "" && !databricksTracking) || r.Token == "" { // without a host, tracking-uri's error says it
		errs = append(errs, fmt.Errorf("input registry-uri: %s needs the workspace URL in DATABRICKS_HOST and a token in "+
			"DATABRICKS_TOKEN (or mlflow-token with tracking-uri: databricks)", RegistryUC))
	}
	if c.Command == CmdRegister {
		errs = append(errs, errRegisterOnUC)
	}
	return r, errs
}

// errRegisterOnUC refuses register on Unity Catalog: MLflow's client creates
// a UC version pending, uploads the model's files into UC storage with
// temporary cloud credentials, then finalizes it; mlreg-action does not.
var errRegisterOnUC = errors.New("input command: register is not available with registry-uri: " + RegistryUC +
	" (Unity Catalog copies the model's files into its own storage, which MLflow's client does); register the " +
	"version with mlflow.register_model (registry URI databricks-uc) and promote it with mlreg-action")

// databricksHost is DATABRICKS_HOST as a URL (https:// when it has no
// scheme), or "" when unset.
func databricksHost(getenv func(string) string) string {
	host := strings.TrimRight(strings.TrimSpace(getenv("DATABRICKS_HOST")), "/")
	if host != "" && !strings.Contains(host, "://") {
		host = "https://" + host
	}
	return host
}

// openRegistry builds the one registry.Backend the commands work through,
// from cfg.Registry: the tracking server's own registry, or Unity Catalog
// on the workspace with the tracking client's settings (retries, TLS, HTTP
// client) and the workspace's token, whose runs and metrics come from the
// tracking server. Nothing else asks which registry it is.
func (d *deps) openRegistry(cfg *Config, opts mlflow.Options, tracking *mlflow.Client) error {
	d.tracking = tracking
	if cfg.Registry.URI != RegistryUC {
		d.reg = mlflow.NewRegistry(tracking)
	} else {
		opts.TrackingURI, opts.Token, opts.Username, opts.Password, opts.Workspace = cfg.Registry.Host, cfg.Registry.Token, "", "", ""
		c, err := mlflow.New(opts)
		if err != nil {
			return fmt.Errorf("%w: invalid Unity Catalog configuration (input registry-uri): %w", promote.ErrInvalid, err)
		}
		d.reg = uc.NewRegistry(uc.New(c), tracking, c.BaseURL())
	}
	if d.env.Registry != nil { // built all the same: its configuration is checked
		reg, err := d.env.Registry(cfg.Registry)
		if err != nil {
			return fmt.Errorf("failed to open the registry: %w", err)
		}
		d.reg = reg
	}
	return nil
}

// registryTags backs notify.TagStore with the registry: Slack message keys
// live in version tags next to the audit record, under the dialect's keys.
type registryTags struct{ reg registry.Backend }

var _ notify.TagStore = registryTags{}

func (m registryTags) VersionTags(ctx context.Context, model, version string) (map[string]string, error) {
	mv, err := m.reg.GetModelVersion(ctx, model, version)
	if err != nil {
		return nil, fmt.Errorf("failed to read the tags of %q v%s: %w", model, version, err)
	}
	out := make(map[string]string, len(mv.Tags))
	for _, t := range mv.Tags {
		out[t.Key] = t.Value
	}
	return out, nil
}

func (m registryTags) SetVersionTag(ctx context.Context, model, version, key, value string) error {
	if err := m.reg.SetModelVersionTag(ctx, model, version, key, value); err != nil {
		return fmt.Errorf("failed to set tag %s of %q v%s: %w", key, model, version, err)
	}
	return nil
}
