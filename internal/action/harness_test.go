package action_test

import (
	"bytes"
	"cmp"
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mlreg/mlreg-action/internal/action"
	"github.com/mlreg/mlreg-action/internal/mlflow"
	"github.com/mlreg/mlreg-action/internal/registry"
	"github.com/mlreg/mlreg-action/internal/testing/memregistry"
	"github.com/mlreg/mlreg-action/internal/testing/mlflowtest"
)

var (
	srv *mlflowtest.Server
	// mem is the registry of every run when there is no MLflow server (go
	// test -short, or no Python): the in-memory registry that the parity
	// suite (internal/testing/registrytest) holds to the real server.
	mem = memregistry.New(mlflow.Rules{UI: memTrackingURI})
)

// memTrackingURI is the tracking-uri of the runs on mem: no request goes there.
const memTrackingURI = "http://mlflow.test"

func TestMain(m *testing.M) { os.Exit(mlflowtest.Main(m, &srv)) }

// trackingURI is the tracking server of the runs: the real one, or mem's stand-in.
func trackingURI() string {
	if srv != nil {
		return srv.URL
	}
	return memTrackingURI
}

// fixtures makes a test's runs, logged models, models and versions, on the
// real server (mlflowtest.Fixtures) or on mem (memregistry.Fixtures).
type fixtures interface {
	CreateExperiment(ctx context.Context, name string) (string, error)
	CreateRun(ctx context.Context, experimentID string, r mlflowtest.RunSpec) (string, error)
	CreateLoggedModel(ctx context.Context, experimentID, sourceRunID string, metrics []mlflowtest.LoggedMetric) (string, error)
	CreateNamedLoggedModel(ctx context.Context, experimentID, sourceRunID, name string) (string, error)
	CreateRegisteredModel(ctx context.Context, name string) error
	CreateVersion(ctx context.Context, model, source, runID string, tags map[string]string) (string, error)
	CreateRunVersion(ctx context.Context, model, runID string, tags map[string]string) (string, error)
	RunArtifactSource(ctx context.Context, runID, subpath string) (string, error)
	HasModel(ctx context.Context, name string) (bool, error)
	SetAlias(ctx context.Context, model, alias, version string) error
	DeleteAlias(ctx context.Context, model, alias string) error
	Transition(ctx context.Context, model, version, stage string) error
	TransitionArchiving(ctx context.Context, model, version, stage string) error
	GetVersion(ctx context.Context, model, version string) (map[string]any, error)
	AliasVersion(ctx context.Context, model, alias string) (string, error)
	Aliases(ctx context.Context, model string) (map[string]string, error)
	ModelTags(ctx context.Context, model string) (map[string]string, error)
	VersionTags(ctx context.Context, model, version string) (map[string]string, error)
	SetModelTag(ctx context.Context, model, key, value string) error
	SetVersionTag(ctx context.Context, model, version, key, value string) error
}

var (
	_ fixtures = (*mlflowtest.Fixtures)(nil)
	_ fixtures = (*memregistry.Fixtures)(nil)
)

// newFixtures makes fixtures where the runs go: the real server when there
// is one, mem otherwise.
func newFixtures() fixtures {
	if srv != nil {
		return srv.Fixtures()
	}
	return mem.Fixtures()
}

// fixedNow keeps reports and audit records reproducible.
var fixedNow = time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)

// result is what a user sees of one run.
type result struct {
	code    int
	stdout  string
	stderr  string
	outputs map[string]string
	summary string
	dir     string
}

// runAction runs the action as the runner does: INPUT_ variables, GITHUB_OUTPUT
// and GITHUB_STEP_SUMMARY files, the workspace as the working directory.
func runAction(t *testing.T, inputs map[string]string, files map[string]string) result {
	t.Helper()
	return runActionWhile(t, t.Context(), inputs, files, nil)
}

// runActionWhile is runAction under the parent context ctx; when while is
// set, it runs in the test's goroutine during the run, and done is closed
// when the run has returned.
func runActionWhile(t *testing.T, ctx context.Context, inputs map[string]string, files map[string]string, while func(done <-chan struct{})) result {
	t.Helper()
	dir := workspace(t, files)
	env := map[string]string{
		"GITHUB_ACTIONS":      "true",
		"GITHUB_OUTPUT":       filepath.Join(dir, "github_output"),
		"GITHUB_STEP_SUMMARY": filepath.Join(dir, "step_summary"),
		"GITHUB_ACTOR":        "octocat",
		"GITHUB_REPOSITORY":   "acme/models",
		"GITHUB_RUN_ID":       "4242",
		"GITHUB_SHA":          "0123456789abcdef0123456789abcdef01234567",
		"GITHUB_SERVER_URL":   "https://github.com",
	}
	env["INPUT_TRACKING-URI"] = trackingURI()
	var args []string
	for k, v := range inputs {
		if k == argsKey {
			args = strings.Fields(v)
			continue
		}
		if strings.Contains(k, "_") && strings.ToUpper(k) == k {
			env[k] = v // a raw environment variable
			continue
		}
		env[action.EnvName(k)] = v
	}
	var stdout, stderr bytes.Buffer
	var code int
	done := make(chan struct{})
	go func() {
		defer close(done)
		code = action.Main(ctx, action.Env{
			Args:       args,
			Getenv:     func(k string) string { return env[k] },
			Stdout:     &stdout,
			Stderr:     &stderr,
			HTTPClient: runHTTPClient(),
			Now:        func() time.Time { return fixedNow },
			WorkDir:    dir,
			Version:    "test",
			Registry:   memRegistry(env["INPUT_TRACKING-URI"]),
		})
	}()
	if while != nil {
		while(done)
	}
	<-done
	return result{
		code:    code,
		stdout:  stdout.String(),
		stderr:  stderr.String(),
		outputs: readOutputs(t, filepath.Join(dir, "github_output")),
		summary: readFile(t, filepath.Join(dir, "step_summary")),
		dir:     dir,
	}
}

// memRegistry opens mem for a run on memTrackingURI (nil, for any other
// tracking-uri: the registry the inputs name).
func memRegistry(trackingURI string) func(action.RegistryConfig) (registry.Backend, error) {
	if trackingURI != memTrackingURI {
		return nil
	}
	return func(rc action.RegistryConfig) (registry.Backend, error) {
		if rc.URI != "" {
			return nil, fmt.Errorf("the tests' in-memory registry is MLflow's, not %s", rc.URI)
		}
		return mem, nil
	}
}

// argsKey, in runAction's inputs, holds command-line arguments (split on
// spaces) that go with the inputs: the terminal's -v, for one.
const argsKey = "<args>"

// workspace is a new working directory holding files (path: content).
func workspace(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, content := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func readFile(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if os.IsNotExist(err) {
		return ""
	}
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// readOutputs parses the runner's file-command format (name<<DELIM ... DELIM).
func readOutputs(t *testing.T, p string) map[string]string {
	t.Helper()
	out := map[string]string{}
	lines := strings.Split(readFile(t, p), "\n")
	for i := 0; i < len(lines); i++ {
		name, delim, ok := strings.Cut(lines[i], "<<")
		if !ok {
			continue
		}
		var val []string
		for i++; i < len(lines) && lines[i] != delim; i++ {
			val = append(val, lines[i])
		}
		out[name] = strings.Join(val, "\n")
	}
	return out
}

// versionSpec describes a model version to create with its run.
type versionSpec struct {
	metrics map[string]float64
	history map[string][]float64
	tags    map[string]string // run tags
	name    string            // the run's name; train-<n> when empty
	vtags   map[string]string // the version's tags
	status  string
	end     time.Time
	logged  []mlflowtest.LoggedMetric // when set, the version's source is a logged model
}

// newModel creates a registered model with one version per spec, each from its own run.
func newModel(t *testing.T, specs ...versionSpec) (string, fixtures) {
	t.Helper()
	f := newFixtures()
	ctx := t.Context()
	name := mlflowtest.UniqueName(t, "m")
	exp, err := f.CreateExperiment(ctx, name)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.CreateRegisteredModel(ctx, name); err != nil {
		t.Fatal(err)
	}
	for i, sp := range specs {
		end := sp.end
		if end.IsZero() {
			end = fixedNow.Add(-time.Hour)
		}
		tags := map[string]string{"dataset_version": "2026-11"}
		for k, v := range sp.tags {
			tags[k] = v
		}
		run, err := f.CreateRun(ctx, exp, mlflowtest.RunSpec{
			Name: cmp.Or(sp.name, fmt.Sprintf("train-%d", i+1)), Metrics: sp.metrics, History: sp.history,
			Tags: tags, Status: sp.status, EndTime: end,
		})
		if err != nil {
			t.Fatal(err)
		}
		source := "mlflow-artifacts:/" + exp + "/" + run + "/artifacts/model"
		if sp.logged != nil {
			id, err := f.CreateLoggedModel(ctx, exp, run, sp.logged)
			if err != nil {
				t.Fatal(err)
			}
			source = "models:/" + id
		}
		if _, err := f.CreateVersion(ctx, name, source, run, sp.vtags); err != nil {
			t.Fatal(err)
		}
	}
	return name, f
}

func aliasOf(t *testing.T, f fixtures, model, alias string) string {
	t.Helper()
	v, err := f.AliasVersion(context.Background(), model, alias)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// stepDeadline is a parent context for runActionWhile whose deadline the
// test, not a clock, makes pass. It reports a deadline a moment before the
// one Main derives from the timeout input, so Main's context keeps it
// (context.WithDeadline: "If the parent's deadline is already earlier than
// d, WithDeadline(parent, d) is semantically equivalent to parent"): the run
// sees a deadline of the timeout input, named after it, that passes when
// the test calls expire. A run on a loaded machine therefore reaches the
// fault a test injects before its deadline however long it takes, and the
// deadline passes while the fault lasts however short the test makes it.
type stepDeadline struct {
	at   time.Time
	done chan struct{}
	once sync.Once
}

func newStepDeadline(t *testing.T, timeout time.Duration) *stepDeadline {
	d := &stepDeadline{at: time.Now().Add(timeout - time.Millisecond), done: make(chan struct{})}
	t.Cleanup(d.expire)
	return d
}

func (d *stepDeadline) Deadline() (time.Time, bool) { return d.at, true }
func (d *stepDeadline) Done() <-chan struct{}       { return d.done }
func (d *stepDeadline) Value(any) any               { return nil }
func (d *stepDeadline) Err() error {
	select {
	case <-d.done:
		return context.DeadlineExceeded
	default:
		return nil
	}
}

// expire makes the deadline pass.
func (d *stepDeadline) expire() { d.once.Do(func() { close(d.done) }) }

// runHTTPClient is the HTTP client of one run (MLflow, GitHub, Slack): the
// binary's defaults (MLflow's 120s attempt) with a connection pool of its
// own, so that a parallel test's httptest.Server.Close, which closes
// http.DefaultTransport's idle connections, cannot break a request of the
// run and change its outcome.
func runHTTPClient() *http.Client {
	c := &http.Client{Timeout: mlflow.DefaultRequestTimeout}
	if dt, ok := http.DefaultTransport.(*http.Transport); ok {
		c.Transport = dt.Clone()
	}
	return c
}
