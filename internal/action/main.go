// Package action is the command layer of mlreg-action: it reads the inputs
// (a GitHub Actions runner's INPUT_ variables or CLI flags), runs one
// command and reports what it did.
//
// Main is the only entry point and has one shape for every command:
//
//	parse the command line (flags.go) → load the Config (config.go: every
//	input parsed and checked once, into typed values) → build the clients
//	once (deps.go) → run the command → finish (tail.go)
//
// A command (promote.go: validate and promote; rollback.go; register.go;
// history.go) is a func(ctx, *deps, *Config) (*notify.Report, error): it
// does its work through deps and returns the report of what it did and the
// error that stopped it, and writes neither outputs nor files. finish is
// the one tail: it writes the outputs, the JSON report file, the job
// summary or the terminal text, sends the notifications, writes the one
// ::error annotation, and maps the error to the exit status, once. What the
// user sees goes through IO (io.go), which a runner or a terminal backs.
package action

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/mlreg/mlreg-action/internal/mlflow"
	"github.com/mlreg/mlreg-action/internal/notify"
	"github.com/mlreg/mlreg-action/internal/promote"
	"github.com/mlreg/mlreg-action/internal/registry"
)

// Exit statuses (README, "Exit status").
const (
	ExitOK       = 0
	ExitPolicy   = 1
	ExitInvalid  = 2
	ExitRegistry = 3
	ExitConflict = 4
)

// Env is the process boundary: everything the binary takes from the outside.
type Env struct {
	Args       []string
	Getenv     func(string) string
	Stdout     io.Writer
	Stderr     io.Writer
	HTTPClient *http.Client // base client for MLflow; nil = default
	Now        func() time.Time
	WorkDir    string // resolves the policy path and the report path; "" = process working directory
	Version    string
	// Registry, when set, opens the model registry instead of the one the
	// inputs name (tests run the commands on an in-memory registry with it).
	Registry func(RegistryConfig) (registry.Backend, error)
}

// command is one command of the binary: it returns the report of what it
// did and the error that stopped it; finish does the rest.
type command func(ctx context.Context, d *deps, cfg *Config) (*notify.Report, error)

// Main runs the binary and returns its exit status.
func Main(ctx context.Context, env Env) int {
	if env.Now == nil {
		env.Now = time.Now
	}
	inActions := env.Getenv("GITHUB_ACTIONS") == "true"
	if len(env.Args) > 0 && (env.Args[0] == "version" || env.Args[0] == "--version") {
		fmt.Fprintf(env.Stdout, "mlreg-action %s\n", env.Version)
		return ExitOK
	}
	if len(env.Args) == 0 && !inActions && !anyInput(env.Getenv) {
		// Someone typed mlreg-action alone: show what it does rather than
		// run a promotion of nothing.
		writeUsage(env.Stderr)
		return ExitInvalid
	}
	cl, err := parseArgs(env.Args)
	var out IO
	if inActions {
		out = newGitHubIO(env.Getenv, env.Stdout)
	} else {
		out = newCLIIO(env.Stdout, env.Stderr, cl.showOutputs)
	}
	defer out.Finish()
	d := &deps{env: env, out: out, gh: githubContextFrom(env.Getenv), verbose: cl.verbose}
	switch {
	case cl.help != "":
		fmt.Fprint(env.Stdout, cl.help)
		return ExitOK
	case err != nil:
		return d.finish(ctx, nil, nil, usageError{err})
	}
	src := &source{flags: cl.flags, getenv: env.Getenv}
	// Mask every secret before anything else is printed.
	for _, in := range Inputs {
		if in.Secret {
			if v := src.get(in.Name); v != "" {
				out.AddMask(v)
			}
		}
	}
	if v := env.Getenv("DATABRICKS_TOKEN"); v != "" && v != src.get("mlflow-token") {
		out.AddMask(v) // Unity Catalog's token with another tracking server (registry.go)
	}
	cfg, err := loadConfig(src, env.Getenv)
	if err != nil {
		return d.finish(ctx, nil, nil, err)
	}
	ctx, cancel := context.WithTimeout(ctx, cfg.Timeout)
	defer cancel()
	// A call that stops at the deadline names the input that set it.
	ctx = mlflow.WithDeadlineName(ctx, fmt.Sprintf("deadline of %s (input `timeout`)", shortDuration(cfg.Timeout)))
	if err := d.connect(cfg); err != nil {
		return d.finish(ctx, cfg, nil, err)
	}
	rep, err := commandFor(cfg)(ctx, d, cfg)
	return d.finish(ctx, cfg, rep, err)
}

// anyInput reports whether any input is set as the runner sets it (INPUT_
// variables), as when the image runs outside a workflow.
func anyInput(getenv func(string) string) bool {
	for _, in := range Inputs {
		if getenv(EnvName(in.Name)) != "" {
			return true
		}
	}
	return false
}

// usageError is a command line that cannot be parsed (status 2); it is
// written as it is, with a pointer to the help.
type usageError struct{ err error }

func (e usageError) Error() string        { return e.err.Error() + " (run mlreg-action --help)" }
func (e usageError) Unwrap() error        { return e.err }
func (e usageError) Is(target error) bool { return target == promote.ErrInvalid }

// shortDuration prints d as a user writes it: 5m, 90s, 1h30m (not 5m0s).
func shortDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

// githubRun is what the runner tells about the workflow run.
type githubRun struct {
	Actor, Repository, RunID, ServerURL, SHA, EventName, EventPath, APIURL string
	// RunAttempt is GITHUB_RUN_ATTEMPT: 1 for a run's first attempt, 2 and up for its re-runs.
	RunAttempt string
}

func githubContextFrom(getenv func(string) string) githubRun {
	return githubRun{
		Actor:      getenv("GITHUB_ACTOR"),
		Repository: getenv("GITHUB_REPOSITORY"),
		RunID:      getenv("GITHUB_RUN_ID"),
		ServerURL:  cmp.Or(getenv("GITHUB_SERVER_URL"), "https://github.com"),
		SHA:        getenv("GITHUB_SHA"),
		EventName:  getenv("GITHUB_EVENT_NAME"),
		EventPath:  getenv("GITHUB_EVENT_PATH"),
		APIURL:     cmp.Or(getenv("GITHUB_API_URL"), "https://api.github.com"),
		RunAttempt: getenv("GITHUB_RUN_ATTEMPT"),
	}
}

// Rerun says which workflow run this is, and whether it is a re-run.
func (g githubRun) Rerun() promote.RerunOf {
	n, err := strconv.Atoi(g.RunAttempt)
	return promote.RerunOf{RunURL: g.RunURL(), Rerun: err == nil && n > 1}
}

// RunURL is the workflow run page, or "" outside Actions.
func (g githubRun) RunURL() string {
	if g.Repository == "" || g.RunID == "" {
		return ""
	}
	return fmt.Sprintf("%s/%s/actions/runs/%s", g.ServerURL, g.Repository, g.RunID)
}

// errorsAs is errors.As for a target type, as a value.
func errorsAs[T error](err error) (T, bool) {
	var t T
	ok := errors.As(err, &t)
	return t, ok
}
