package action

import (
	"errors"

	"fmt"
	"github.com/mlreg/mlreg-action/internal/checks"
	"github.com/mlreg/mlreg-action/internal/promote"
	"strconv"
	"strings"
	"time"
)

// Commands the binary runs.
const (
	CmdValidate = "validate"
	CmdPromote  = "promote"
	CmdRegister = "register"
	CmdRollback = "rollback"
	CmdHistory  = "history"
)

// Config is every input, parsed and checked once.
type Config struct {
	Command                string
	ModelName              string
	Version                string
	TargetAlias            string
	TargetStage            string
	ArchiveExisting        bool
	Policy                 string // path, or "none"
	DryRun                 bool
	ExpectedCurrentVersion string
	TrackingURI            string
	MLflowToken            string
	MLflowUsername         string
	MLflowPassword         string
	GitHubToken            string
	PRComment              string
	Deployment             string
	DeploymentEnvironment  string
	SlackToken             string
	SlackChannel           string
	SlackWebhookURL        string
	FailOnNotifyError      bool
	Timeout                time.Duration
	RunID                  string
	ArtifactPath           string
	Source                 string
	Description            string
	Tags                   map[string]string
	RollbackTo             string
	Force                  bool
	AllowUnfinishedRun     bool
	FailOnDrift            bool
	Format                 string

	// MLflow TLS settings come from MLflow's own environment variables.
	InsecureTLS    bool
	CACertPath     string
	ClientCertPath string
	Workspace      string
}

// Secrets returns the secret values to mask, non-empty only.
func (c *Config) Secrets() []string {
	var out []string
	for _, s := range []string{c.MLflowToken, c.MLflowPassword, c.GitHubToken, c.SlackToken, c.SlackWebhookURL} {
		if s != "" {
			out = append(out, s)
		}
	}
	return out
}

// LogValue-style redaction is not needed: Config is never printed whole.

// loadConfig parses every input, reporting every problem at once, each naming its input.
func loadConfig(src *source, getenv func(string) string) (*Config, error) {
	var errs []error
	bool_ := func(name string) bool {
		b, err := parseBool(name, src.get(name))
		if err != nil {
			errs = append(errs, err)
		}
		return b
	}
	oneOf := func(name string, allowed ...string) string {
		v := strings.ToLower(src.get(name))
		for _, a := range allowed {
			if v == a {
				return v
			}
		}
		errs = append(errs, fmt.Errorf("input %s: want one of %s, got %q", name, strings.Join(allowed, ", "), v))
		return v
	}
	c := &Config{
		Command:                strings.ToLower(src.get("command")),
		ModelName:              src.get("model-name"),
		Version:                src.get("version"),
		TargetAlias:            strings.TrimPrefix(src.get("target-alias"), "@"),
		TargetStage:            src.get("target-stage"),
		ArchiveExisting:        bool_("archive-existing"),
		Policy:                 src.get("policy"),
		DryRun:                 bool_("dry-run"),
		ExpectedCurrentVersion: strings.TrimPrefix(strings.ToLower(src.get("expected-current-version")), "v"),
		TrackingURI:            strings.TrimRight(src.get("tracking-uri"), "/"),
		MLflowToken:            src.get("mlflow-token"),
		MLflowUsername:         src.get("mlflow-username"),
		MLflowPassword:         src.get("mlflow-password"),
		GitHubToken:            src.get("github-token"),
		PRComment:              oneOf("pr-comment", "auto", "always", "never"),
		Deployment:             oneOf("deployment", "auto", "never"),
		DeploymentEnvironment:  src.get("deployment-environment"),
		SlackToken:             src.get("slack-token"),
		SlackChannel:           src.get("slack-channel"),
		SlackWebhookURL:        src.get("slack-webhook-url"),
		FailOnNotifyError:      bool_("fail-on-notify-error"),
		RunID:                  src.get("run-id"),
		ArtifactPath:           src.get("artifact-path"),
		Source:                 src.get("source"),
		Description:            src.get("description"),
		RollbackTo:             strings.TrimPrefix(src.get("rollback-to"), "v"),
		Force:                  bool_("force"),
		AllowUnfinishedRun:     bool_("allow-unfinished-run"),
		FailOnDrift:            bool_("fail-on-drift"),
		Format:                 oneOf("format", "text", "markdown", "json"),
		CACertPath:             getenv("MLFLOW_TRACKING_SERVER_CERT_PATH"),
		ClientCertPath:         getenv("MLFLOW_TRACKING_CLIENT_CERT_PATH"),
		Workspace:              getenv("MLFLOW_WORKSPACE"),
	}
	switch c.Command {
	case CmdValidate, CmdPromote, CmdRegister, CmdRollback, CmdHistory:
	default:
		errs = append(errs, fmt.Errorf("input command: want validate, promote, register, rollback or history, got %q", c.Command))
	}
	if c.ModelName == "" {
		errs = append(errs, errors.New("input model-name is required"))
	}
	if c.TrackingURI == "" {
		errs = append(errs, errors.New("input tracking-uri is required (or set MLFLOW_TRACKING_URI)"))
	} else if c.TrackingURI == "databricks" || strings.HasPrefix(c.TrackingURI, "databricks://") {
		host := strings.TrimRight(getenv("DATABRICKS_HOST"), "/")
		if host == "" {
			errs = append(errs, errors.New("input tracking-uri: databricks needs DATABRICKS_HOST (and DATABRICKS_TOKEN)"))
		} else {
			if !strings.Contains(host, "://") {
				host = "https://" + host
			}
			c.TrackingURI = host
		}
	} else if !strings.HasPrefix(c.TrackingURI, "http://") && !strings.HasPrefix(c.TrackingURI, "https://") {
		errs = append(errs, fmt.Errorf("input tracking-uri: want an http(s) URL of an MLflow server, got %q", redactURL(c.TrackingURI)))
	}
	if v := getenv("MLFLOW_TRACKING_INSECURE_TLS"); v != "" {
		b, err := parseBool("MLFLOW_TRACKING_INSECURE_TLS", v)
		if err != nil {
			errs = append(errs, err)
		}
		c.InsecureTLS = b
	}
	if c.InsecureTLS && c.CACertPath != "" {
		errs = append(errs, errors.New("MLFLOW_TRACKING_INSECURE_TLS and MLFLOW_TRACKING_SERVER_CERT_PATH cannot both be set"))
	}
	d, err := time.ParseDuration(src.get("timeout"))
	if err != nil || d <= 0 {
		errs = append(errs, fmt.Errorf("input timeout: want a positive duration such as 5m or 90s, got %q", src.get("timeout")))
	}
	c.Timeout = d
	tags, err := parseTags(src.get("tags"))
	if err != nil {
		errs = append(errs, err)
	}
	c.Tags = tags
	if c.Command != CmdRegister {
		req := promote.Request{Model: c.ModelName, Version: c.Version, ExpectedCurrent: c.ExpectedCurrentVersion,
			Target: checks.Target{Alias: c.TargetAlias, Stage: c.TargetStage}}
		if c.Command == CmdRollback && c.Version == "" {
			req.Version = "latest" // rollback picks its version from the history
		}
		if err := req.Validate(); err != nil {
			for _, e := range unjoin(err) {
				if !strings.Contains(e.Error(), "model-name is required") { // reported above
					errs = append(errs, errors.New(strings.TrimPrefix(e.Error(), promote.ErrInvalid.Error()+": ")))
				}
			}
		}
	}
	if c.RollbackTo != "" {
		if n, err := strconv.ParseUint(c.RollbackTo, 10, 64); err != nil || n == 0 {
			errs = append(errs, fmt.Errorf("input rollback-to: want a version number, got %q", c.RollbackTo))
		}
	}
	if (c.SlackToken == "") != (c.SlackChannel == "") && c.SlackWebhookURL == "" {
		errs = append(errs, errors.New("inputs slack-token and slack-channel go together"))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return c, nil
}

func unjoin(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		return j.Unwrap()
	}
	return []error{err}
}

// parseTags reads key=value lines; blank lines and # comments are skipped.
func parseTags(v string) (map[string]string, error) {
	out := map[string]string{}
	for i, line := range strings.Split(v, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, val, ok := strings.Cut(line, "=")
		if !ok || strings.TrimSpace(k) == "" {
			return nil, fmt.Errorf("input tags: line %d: want key=value, got %q", i+1, line)
		}
		out[strings.TrimSpace(k)] = strings.TrimSpace(val)
	}
	return out, nil
}

// redactURL drops userinfo so credentials in a URL are never echoed.
func redactURL(u string) string {
	if i := strings.Index(u, "@"); i >= 0 {
		if j := strings.Index(u, "://"); j >= 0 && j < i {
			return u[:j+3] + "***@" + u[i+1:]
		}
	}
	return u
}
