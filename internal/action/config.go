package action

import (
	"errors"
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/mlreg/mlreg-action/internal/checks"
	"github.com/mlreg/mlreg-action/internal/mlflow"
	"github.com/mlreg/mlreg-action/internal/promote"
	"github.com/mlreg/mlreg-action/internal/registry"
)

// Config is every input, parsed and checked once, here, into the values
// the commands use as they are: a version selector, a target, a
// compare-and-set guard. Nothing below re-parses an input.
type Config struct {
	Command string
	// Moves: the command moves targets when the plan passes (Command.Moves).
	Moves                 bool
	ModelName             string
	Version               promote.VersionSpec // validate, promote; latest when unset
	Target                checks.Target       // every command but register
	ArchiveExisting       bool
	Policy                string // path, or "none"
	DryRun                bool
	Expected              promote.Expectation // expected-current-version
	TrackingURI           string
	MLflowToken           string
	MLflowUsername        string
	MLflowPassword        string
	GitHubToken           string
	PRComment             string
	Deployment            string
	DeploymentEnvironment string
	SlackToken            string
	SlackChannel          string
	SlackWebhookURL       string
	FailOnNotifyError     bool
	Timeout               time.Duration
	RunID                 string
	ArtifactPath          string
	Source                string
	Description           string
	Tags                  map[string]string
	RollbackTo            string // a version number; "" = the recorded previous holder
	Force                 bool
	AllowUnfinishedRun    bool
	FailOnDrift           bool
	Format                string
	// With manifest: the desired-state file and how it is applied (manifest.go).
	Manifest           string
	ExpectedPlanDigest string
	Parallelism        int

	// MLflow TLS settings come from MLflow's own environment variables.
	InsecureTLS    bool
	CACertPath     string
	ClientCertPath string
	Workspace      string

	Registry RegistryConfig // registry-uri (registry.go)

	// MLflow's HTTP client settings, from its environment variables (see
	// mlflowHTTPSettings), in mlflow.Options' terms: 0 means MLflow's
	// default, a negative value means none.
	MaxRetries     int
	BackoffFactor  time.Duration
	BackoffJitter  time.Duration
	RequestTimeout time.Duration
}

// moves reports whether the run moves targets when the plan passes: a
// command that moves them (Command.Moves: promote, rollback), without
// dry-run.
func (c *Config) moves() bool { return c.Moves && !c.DryRun }

// Secrets returns the secret values to mask, non-empty only.
func (c *Config) Secrets() []string {
	var out []string
	for _, s := range []string{c.MLflowToken, c.MLflowPassword, c.GitHubToken, c.SlackToken, c.SlackWebhookURL, c.Registry.Token} {
		if s != "" {
			out = append(out, s)
		}
	}
	return out
}

// LogValue-style redaction is not needed: Config is never printed whole.

// loadConfig parses every input, reporting every problem at once, each
// naming its input, as one error that wraps promote.ErrInvalid (status 2).
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
		Command:               strings.ToLower(src.get("command")),
		ModelName:             src.get("model-name"),
		ArchiveExisting:       bool_("archive-existing"),
		Policy:                src.get("policy"),
		DryRun:                bool_("dry-run"),
		TrackingURI:           strings.TrimRight(src.get("tracking-uri"), "/"),
		MLflowToken:           src.get("mlflow-token"),
		MLflowUsername:        src.get("mlflow-username"),
		MLflowPassword:        src.get("mlflow-password"),
		GitHubToken:           src.get("github-token"),
		PRComment:             oneOf("pr-comment", "auto", "always", "never"),
		Deployment:            oneOf("deployment", "auto", "never"),
		DeploymentEnvironment: src.get("deployment-environment"),
		SlackToken:            src.get("slack-token"),
		SlackChannel:          src.get("slack-channel"),
		SlackWebhookURL:       src.get("slack-webhook-url"),
		FailOnNotifyError:     bool_("fail-on-notify-error"),
		RunID:                 src.get("run-id"),
		ArtifactPath:          src.get("artifact-path"),
		Source:                src.get("source"),
		Description:           src.get("description"),
		RollbackTo:            strings.TrimPrefix(src.get("rollback-to"), "v"),
		Force:                 bool_("force"),
		AllowUnfinishedRun:    bool_("allow-unfinished-run"),
		FailOnDrift:           bool_("fail-on-drift"),
		Format:                oneOf("format", "text", "markdown", "json"),
		CACertPath:            getenv("MLFLOW_TRACKING_SERVER_CERT_PATH"),
		ClientCertPath:        getenv("MLFLOW_TRACKING_CLIENT_CERT_PATH"),
		Workspace:             getenv("MLFLOW_WORKSPACE"),
	}
	alias := strings.TrimPrefix(src.get("target-alias"), "@")
	stage := src.get("target-stage")
	version := src.get("version")
	expected := strings.TrimPrefix(strings.ToLower(src.get("expected-current-version")), "v")
	if cmd, ok := commandNamed(c.Command); ok && cmd.Run != nil {
		c.Moves = cmd.Moves
	} else {
		errs = append(errs, fmt.Errorf("input command: want %s, got %q%s", joinWords(commandNames(false), "or"),
			c.Command, didYouMean(c.Command, commandNames(false), "")))
	}
	// The registry's own rules, checked with the functions Plan checks with.
	reg, regErrs := parseRegistry(c, src.get("registry-uri"), c.TrackingURI, getenv)
	c.Registry, errs = reg, append(errs, regErrs...)
	rules := reg.Rules
	errs = append(errs, manifestInputs(c, src)...)
	switch {
	case c.Manifest != "": // the file names the models
	case strings.TrimSpace(c.ModelName) == "":
		errs = append(errs, errors.New("input model-name is needed (or manifest, for a desired-state file)"))
	default:
		if err := registry.CheckModelName(rules, c.ModelName); err != nil {
			errs = append(errs, err)
		}
	}
	switch {
	case c.TrackingURI == "":
		errs = append(errs, errors.New("input tracking-uri is required (or set MLFLOW_TRACKING_URI)"))
	case strings.HasPrefix(c.TrackingURI, "databricks://"):
		// As registry-uri: databricks-uc://<profile>: the profile lives in
		// ~/.databrickscfg, which is not read; guessing the workspace could
		// promote in the wrong one.
		errs = append(errs, fmt.Errorf("input tracking-uri: %q names a Databricks CLI profile, which mlreg-action "+
			"cannot resolve (it reads no ~/.databrickscfg); set tracking-uri: databricks and the workspace in "+
			"DATABRICKS_HOST and DATABRICKS_TOKEN", mlflow.RedactURL(c.TrackingURI)))
	case c.TrackingURI == "databricks":
		host := databricksHost(getenv)
		if host == "" {
			errs = append(errs, errors.New("input tracking-uri: databricks needs DATABRICKS_HOST (and DATABRICKS_TOKEN)"))
			break
		}
		c.TrackingURI = host
	default:
		if err := checkTrackingURI(c.TrackingURI); err != nil {
			errs = append(errs, err)
		}
	}
	errs = append(errs, mlflowHTTPSettings(c, getenv)...)
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
	if c.Command == CmdRegister {
		if err := promote.CheckRegisterSource(c.RunID, c.ArtifactPath, c.Source); err != nil {
			errs = append(errs, unjoin(err)...)
		}
	} else if c.Manifest == "" { // a manifest names its own models and targets

		if alias == "" && stage == "" {
			errs = append(errs, errors.New("set target-alias or target-stage (or both)"))
		}
		if alias != "" {
			if err := checks.CheckAlias(alias); err != nil {
				errs = append(errs, fmt.Errorf("input target-alias: %w", err))
			}
		}
		c.Target.Alias = alias
		if stage != "" {
			st, ok := checks.CanonicalStage(stage)
			if !ok {
				errs = append(errs, fmt.Errorf("input target-stage: %q is not one of Staging, Production, Archived, None", stage))
			}
			c.Target.Stage = st
		}
		if err := registry.CheckTarget(rules, c.Target); err != nil {
			errs = append(errs, err)
		}
		if c.Version, err = promote.ParseVersion(version); err != nil {
			errs = append(errs, fmt.Errorf("input version: %w", err))
		}
		if c.Expected, err = promote.ParseExpected(expected); err != nil {
			errs = append(errs, fmt.Errorf("input expected-current-version: %w", err))
		}
	}
	if c.RollbackTo != "" {
		if _, err := promote.ParseVersionNumber(c.RollbackTo); err != nil {
			errs = append(errs, fmt.Errorf("input rollback-to: want a version number, got %q", c.RollbackTo))
		}
	}
	if (c.SlackToken == "") != (c.SlackChannel == "") && c.SlackWebhookURL == "" {
		errs = append(errs, errors.New("inputs slack-token and slack-channel go together"))
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("%w:\n%w", promote.ErrInvalid, errors.Join(errs...))
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

// hostPortRE is host:port with an optional path: a URL without its scheme.
var hostPortRE = regexp.MustCompile(`^[A-Za-z0-9.-]+:[0-9]+(/.*)?$`)

// localStoreSchemes are the store URIs MLflow's Python client opens itself,
// without a server: files and SQLAlchemy databases.
var localStoreSchemes = []string{"file", "sqlite", "postgresql", "postgres", "mysql", "mssql", "oracle"}

// checkTrackingURI explains a tracking URI that is not an http(s) URL of an
// MLflow server, suggesting what the user probably meant.
func checkTrackingURI(uri string) error {
	lower := strings.ToLower(uri)
	if strings.HasPrefix(lower, "http://") || strings.HasPrefix(lower, "https://") {
		return nil
	}
	shown := mlflow.RedactURL(uri)
	if hostPortRE.MatchString(uri) {
		return fmt.Errorf("input tracking-uri: %q has no scheme; did you mean http://%s?", shown, shown)
	}
	scheme, _, hasScheme := strings.Cut(lower, ":")
	scheme, _, _ = strings.Cut(scheme, "+")  // postgresql+psycopg2, mysql+pymysql
	isPath := !hasScheme || len(scheme) == 1 // a plain path, or a Windows drive letter
	for _, s := range localStoreSchemes {
		if scheme == s {
			isPath = true
		}
	}
	if isPath {
		return fmt.Errorf("input tracking-uri: %q is a store that MLflow's Python client opens directly; mlreg-action "+
			"talks to MLflow's REST API, so such a store needs `mlflow server` in front of it: run "+
			"`mlflow server --backend-store-uri %s` and set tracking-uri to the server's URL (e.g. http://127.0.0.1:5000)", shown, shown)
	}
	return fmt.Errorf("input tracking-uri: want an http(s) URL of an MLflow server, got %q", shown)
}

// mlflowHTTPSettings reads MLflow's HTTP client settings as MLflow's Python
// client reads them (mlflow/environment_variables.py; validated as in
// mlflow/utils/rest_utils.py): an unset or empty variable keeps MLflow's
// default, anything else must parse.
//
//	MLFLOW_HTTP_REQUEST_MAX_RETRIES     int, 0..10 (default 7)
//	MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR  int seconds, 0..120 (default 2)
//	MLFLOW_HTTP_REQUEST_BACKOFF_JITTER  float seconds, >= 0 (default 1.0)
//	MLFLOW_HTTP_REQUEST_TIMEOUT         int seconds, > 0 (default 120)
func mlflowHTTPSettings(c *Config, getenv func(string) string) []error {
	var errs []error
	integer := func(name string, lo, hi int, want string) (int, bool) {
		v := strings.TrimSpace(getenv(name))
		if v == "" {
			return 0, false
		}
		n, err := strconv.Atoi(v)
		if err != nil || n < lo || n > hi {
			errs = append(errs, fmt.Errorf("%s: want %s, got %q", name, want, v))
			return 0, false
		}
		return n, true
	}
	if n, ok := integer("MLFLOW_HTTP_REQUEST_MAX_RETRIES", 0, 10, "a whole number from 0 to 10 (MLflow's limit)"); ok {
		c.MaxRetries = noneAsNegative(n)
	}
	if n, ok := integer("MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR", 0, 120, "a whole number of seconds from 0 to 120 (MLflow's limit)"); ok {
		c.BackoffFactor = noneAsNegative(time.Duration(n) * time.Second)
	}
	if v := strings.TrimSpace(getenv("MLFLOW_HTTP_REQUEST_BACKOFF_JITTER")); v != "" {
		f, err := strconv.ParseFloat(v, 64)
		if err != nil || f < 0 || math.IsInf(f, 0) || math.IsNaN(f) || f > 3600 {
			errs = append(errs, fmt.Errorf("MLFLOW_HTTP_REQUEST_BACKOFF_JITTER: want a number of seconds from 0 to 3600, got %q", v))
		} else {
			c.BackoffJitter = noneAsNegative(time.Duration(f * float64(time.Second)))
		}
	}
	if n, ok := integer("MLFLOW_HTTP_REQUEST_TIMEOUT", 1, math.MaxInt32, "a whole number of seconds greater than 0"); ok {
		c.RequestTimeout = time.Duration(n) * time.Second
	}
	return errs
}

// noneAsNegative maps MLflow's 0 ("none") to mlflow.Options' negative value; 0
// there means the default.
func noneAsNegative[T int | time.Duration](v T) T {
	if v == 0 {
		return -1
	}
	return v
}
