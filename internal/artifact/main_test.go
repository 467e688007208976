package artifact_test

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mlreg/mlreg-action/internal/mlflow"
	"github.com/mlreg/mlreg-action/internal/testing/mlflowtest"
)

// srv is one MLflow server for the package, serving artifacts through its
// proxy (mlflow-artifacts:/, MLflow's default) from a local destination.
var srv *mlflowtest.Server

// scratch holds what MLflow's client downloads for the tests; it outlives
// each test, since the fixture is shared.
var scratch string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "artifact-test-*")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	scratch = dir
	code := mlflowtest.Main(m, &srv)
	stopS3()
	_ = os.RemoveAll(dir)
	os.Exit(code)
}

// logModelsScript logs models with MLflow's own Python API as users do, and
// downloads each with mlflow.artifacts.download_artifacts (what a deploy job
// does), printing where they are:
//
//   - "sklearn": mlflow.sklearn.log_model(name="model", registered_model_name=...),
//     version source models:/m-<id>;
//   - "pyfunc": mlflow.pyfunc.log_model with a PythonModel and a directory of
//     artifacts holding nested directories, an empty file and non-ASCII names;
//   - "sklearn-run": the same model as runs:/<run>/model, which MLflow 3
//     reads from the run's logged model called "model";
//   - "mlflow2": a model saved and logged as the run's artifacts under
//     "model" (MLflow 2's layout), source runs:/<run>/model;
//   - "mixed": both in one run, a model in the run's artifacts at "model"
//     and a logged model called "model": runs:/<run>/model is the two
//     together, the logged model's files winning.
const logModelsScript = `
import json, os, tempfile
import numpy as np
import mlflow
from sklearn.linear_model import LogisticRegression

class Echo(mlflow.pyfunc.PythonModel):
    def predict(self, context, model_input, params=None):
        return model_input

mlflow.set_experiment(os.environ["EXP"])
model_name, dst = os.environ["MODEL"], os.environ["DST"]
X = np.random.RandomState(0).rand(64, 3)
y = (X[:, 0] > 0.5).astype(int)
reqs = ["scikit-learn"]  # skips MLflow's slow inference of the requirements
out = {}
with mlflow.start_run() as run:
    info = mlflow.sklearn.log_model(LogisticRegression().fit(X, y), name="model", registered_model_name=model_name,
                                    pip_requirements=reqs)
    out["sklearn"] = {"version": str(info.registered_model_version), "model_id": info.model_id,
                      "uri": f"models:/{model_name}/{info.registered_model_version}"}
    out["sklearn-run"] = {"run": run.info.run_id, "uri": f"runs:/{run.info.run_id}/model"}

data = os.path.join(tempfile.mkdtemp(), "data")
for rel, content in {"nested/deeper/weights.bin": os.urandom(300000), "empty.txt": b"",
                     "ünïcödé/日本語.json": "{}".encode(), "a b/c-d.txt": b"x"}.items():
    os.makedirs(os.path.dirname(os.path.join(data, rel)), exist_ok=True)
    with open(os.path.join(data, rel), "wb") as f:
        f.write(content)
with mlflow.start_run() as run:
    info = mlflow.pyfunc.log_model(name="scorer", python_model=Echo(), artifacts={"data": data}, pip_requirements=reqs)
    out["pyfunc"] = {"model_id": info.model_id, "uri": f"models:/{info.model_id}"}

with mlflow.start_run() as run:
    d = os.path.join(tempfile.mkdtemp(), "model")
    mlflow.sklearn.save_model(LogisticRegression().fit(X, y), d, pip_requirements=reqs)
    mlflow.log_artifacts(d, artifact_path="model")
    out["mlflow2"] = {"run": run.info.run_id, "artifact_uri": run.info.artifact_uri, "uri": f"runs:/{run.info.run_id}/model"}

with mlflow.start_run() as run:
    d = os.path.join(tempfile.mkdtemp(), "model")
    mlflow.sklearn.save_model(LogisticRegression(C=0.5).fit(X, y), d, pip_requirements=reqs)
    with open(os.path.join(d, "only-in-the-run.txt"), "w") as f:
        f.write("run artifact")
    mlflow.log_artifacts(d, artifact_path="model")
    mlflow.sklearn.log_model(LogisticRegression(C=2.0).fit(X, y), name="model", pip_requirements=reqs)
    out["mixed"] = {"run": run.info.run_id, "uri": f"runs:/{run.info.run_id}/model"}

for k, v in out.items():
    v["download"] = mlflow.artifacts.download_artifacts(artifact_uri=v["uri"], dst_path=os.path.join(dst, k))
print(json.dumps(out))
`

// logged is one model of logModelsScript.
type logged struct {
	Version     string `json:"version"`
	ModelID     string `json:"model_id"`
	Run         string `json:"run"`
	ArtifactURI string `json:"artifact_uri"`
	URI         string `json:"uri"`
	Download    string `json:"download"` // where MLflow's client downloaded it
}

// shared is a fixture that the package's tests build once, in the first
// test that needs it.
type shared[T any] struct {
	once sync.Once
	v    T
	err  string
	done bool
}

func (s *shared[T]) get(t *testing.T, build func() (T, error)) T {
	t.Helper()
	s.once.Do(func() {
		v, err := build() // a t.Fatal in it leaves done false
		if err != nil {
			s.err = err.Error()
		}
		s.v, s.done = v, true
	})
	switch {
	case s.err != "":
		t.Fatal(s.err)
	case !s.done:
		t.Fatal("the fixture failed in another test")
	}
	return s.v
}

// lastJSON decodes the last line a fixture script printed.
func lastJSON(out string, v any) error {
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), v); err != nil {
		return fmt.Errorf("fixture output %q: %w", out, err)
	}
	return nil
}

var (
	fixture     shared[map[string]logged]
	fixtureName = "digest-" + strconv.FormatInt(time.Now().UnixNano(), 36) // the registered model of "sklearn"
)

// models logs the models of logModelsScript once for the package.
func models(t *testing.T) map[string]logged {
	t.Helper()
	s := mlflowtest.RequireServer(t, srv)
	return fixture.get(t, func() (map[string]logged, error) {
		out := mlflowtest.RunPython(t.Context(), t, logModelsScript, "MLFLOW_TRACKING_URI="+s.URL,
			"EXP="+mlflowtest.UniqueName(t, "exp"), "MODEL="+fixtureName, "DST="+scratch)
		var ms map[string]logged
		return ms, lastJSON(out, &ms)
	})
}

// client is an MLflow client of uri that retries at once (no pauses), for
// fault tests.
func client(t *testing.T, uri string) *mlflow.Client {
	t.Helper()
	c, err := mlflow.New(mlflow.Options{TrackingURI: uri, MaxRetries: 2, BackoffFactor: -1, BackoffJitter: -1})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func mustWrite(t *testing.T, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func mustSymlink(t *testing.T, target, path string) {
	t.Helper()
	if err := os.Symlink(target, path); err != nil {
		t.Fatal(err)
	}
}
