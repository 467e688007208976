package action_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/mlreg/mlreg-action/internal/testing/faultproxy"
	"github.com/mlreg/mlreg-action/internal/testing/mlflowtest"
)

// logModelsScript logs, with MLflow's own Python API, one run per way a user
// keeps a model in a run, each model a DummyClassifier that predicts its
// constant, so a prediction tells which model a version loaded:
//
//   - "mlflow3": log_model(name="model"), which MLflow 3 stores under the
//     logged model's own artifact location, not in the run's artifacts;
//   - "steps": three log_model(name="model") at steps 0, 7 and 3;
//   - "mlflow2": the model saved and logged as the run's artifacts at
//     "model" (MLflow 2's layout), plus a logged model also named "model"
//     that MLflow's register_model would not pick.
const logModelsScript = `
import json, os, tempfile
import numpy as np
import mlflow
from sklearn.dummy import DummyClassifier

mlflow.set_experiment(%q)
X = np.zeros((2, 1))

def model(k):
    return DummyClassifier(strategy="constant", constant=k).fit(X, [k, 1000])

out = {}
reqs = ["scikit-learn"]  # skips MLflow's slow inference of the requirements
with mlflow.start_run() as run:
    info = mlflow.sklearn.log_model(model(42), name="model", pip_requirements=reqs)
out["mlflow3"] = {"run": run.info.run_id, "model_id": info.model_id}

with mlflow.start_run() as run:
    ids = {}
    for step in (0, 7, 3):
        ids[step] = mlflow.sklearn.log_model(model(step), name="model", step=step, pip_requirements=reqs).model_id
out["steps"] = {"run": run.info.run_id, "model_id": ids[7]}

with mlflow.start_run() as run:
    d = os.path.join(tempfile.mkdtemp(), "model")
    mlflow.sklearn.save_model(model(2), d, pip_requirements=reqs)
    mlflow.log_artifacts(d, artifact_path="model")
    mlflow.sklearn.log_model(model(99), name="model", pip_requirements=reqs)
out["mlflow2"] = {"run": run.info.run_id, "artifact_uri": run.info.artifact_uri}
print(json.dumps(out))
`

// loadScript loads each model version with mlflow.pyfunc.load_model and
// predicts one row.
const loadScript = `
import json
import numpy as np
import mlflow

out = {}
for uri in json.loads(%q):
    out[uri] = mlflow.pyfunc.load_model(uri).predict(np.zeros((1, 1))).tolist()
print(json.dumps(out))
`

type loggedRun struct {
	Run         string `json:"run"`
	ModelID     string `json:"model_id"`
	ArtifactURI string `json:"artifact_uri"`
}

// TestRegisterFromRunLoads registers runs:/<run>/model for models that
// MLflow's own Python API logged, and loads each version the way users do,
// with mlflow.pyfunc.load_model("models:/<name>/<version>").
func TestRegisterFromRunLoads(t *testing.T) {
	t.Parallel()
	s := mlflowtest.RequireServer(t, srv)
	f := s.Fixtures()
	out := mlflowtest.RunPython(t.Context(), t, fmt.Sprintf(logModelsScript, mlflowtest.UniqueName(t, "exp")), "MLFLOW_TRACKING_URI="+s.URL)
	var runs map[string]loggedRun
	if err := json.Unmarshal([]byte(lastLine(out)), &runs); err != nil {
		t.Fatalf("fixture output %q: %v", out, err)
	}

	cases := []struct {
		name       string
		run        loggedRun
		wantSource string
		wantModel  string // model_id the version carries
		wantLog    string
		predicts   []any
	}{
		{
			name: "mlflow3", run: runs["mlflow3"], wantSource: "models:/" + runs["mlflow3"].ModelID, wantModel: runs["mlflow3"].ModelID,
			wantLog:  `the run's artifacts hold no MLmodel under "model": registering the run's logged model "model", models:/` + runs["mlflow3"].ModelID,
			predicts: []any{42.0},
		},
		{
			name: "steps", run: runs["steps"], wantSource: "models:/" + runs["steps"].ModelID, wantModel: runs["steps"].ModelID,
			wantLog:  `the run's artifacts hold no MLmodel under "model": registering the run's logged model "model", models:/` + runs["steps"].ModelID + " (the highest step of 3)",
			predicts: []any{7.0},
		},
		{
			name: "mlflow2", run: runs["mlflow2"], wantSource: runs["mlflow2"].ArtifactURI + "/model",
			wantLog:  "the run's artifacts hold model/MLmodel: registering the run's artifact URI " + runs["mlflow2"].ArtifactURI + "/model",
			predicts: []any{2.0},
		},
	}
	var uris []string
	for _, tc := range cases {
		model := mlflowtest.UniqueName(t, "reg-"+tc.name)
		res := runAction(t, map[string]string{"command": "register", "model-name": model, "run-id": tc.run.Run, "artifact-path": "model"}, nil)
		if res.code != 0 {
			t.Fatalf("%s: exit %d\n%s", tc.name, res.code, res.stdout)
		}
		if !strings.Contains(res.stdout, "source runs:/"+tc.run.Run+"/model: "+tc.wantLog) {
			t.Errorf("%s: the log does not say %q:\n%s", tc.name, tc.wantLog, res.stdout)
		}
		mv, err := f.GetVersion(t.Context(), model, res.outputs["model-version"])
		if err != nil {
			t.Fatal(err)
		}
		if mv["source"] != tc.wantSource || mv["run_id"] != tc.run.Run || mv["status"] != "READY" {
			t.Errorf("%s: version = %v, want source %s from run %s", tc.name, mv, tc.wantSource, tc.run.Run)
		}
		if tc.wantModel != "" {
			// The server records the version on the logged model it was registered from.
			lm, err := f.GetLoggedModel(t.Context(), tc.wantModel)
			if err != nil {
				t.Fatal(err)
			}
			if tags := tagMap(lm["info"].(map[string]any)["tags"]); !strings.Contains(tags["mlflow.modelVersions"], model) {
				t.Errorf("%s: logged model %s does not list the version: %v", tc.name, tc.wantModel, tags)
			}
		}
		uris = append(uris, res.outputs["model-uri"])
	}

	b, _ := json.Marshal(uris)
	loaded := mlflowtest.RunPython(t.Context(), t, fmt.Sprintf(loadScript, string(b)), "MLFLOW_TRACKING_URI="+s.URL)
	var got map[string][]any
	if err := json.Unmarshal([]byte(lastLine(loaded)), &got); err != nil {
		t.Fatalf("load output %q: %v", loaded, err)
	}
	want := map[string][]any{}
	for i, tc := range cases {
		want[uris[i]] = tc.predicts
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("predictions of the loaded versions (-want +got):\n%s", diff)
	}
}

// A server without the logged-models API (MLflow 2.x answers an unknown
// route with a plain 404) keeps the runs:/ URI as the source, as before.
func TestRegisterFromRunWithoutLoggedModelsAPI(t *testing.T) {
	t.Parallel()
	mlflowtest.RequireServer(t, srv) // a fault proxy in front of the real server
	_, run, f := newRun(t, mlflowtest.RunSpec{})
	p := faultproxy.New(t, srv.URL)
	p.Add(faultproxy.Rule{Path: "/logged-models/search", Fault: faultproxy.Status(404), Times: 100})
	model := mlflowtest.UniqueName(t, "reg")
	res := runAction(t, map[string]string{"command": "register", "model-name": model, "run-id": run, "artifact-path": "model",
		"tracking-uri": p.URL}, nil)
	if res.code != 0 {
		t.Fatalf("exit %d\n%s", res.code, res.stdout)
	}
	if want := "the server has no logged-models API (MLflow 2.x): registering runs:/" + run + "/model as given"; !strings.Contains(res.stdout, want) {
		t.Errorf("the log does not say %q:\n%s", want, res.stdout)
	}
	mv, err := f.GetVersion(t.Context(), model, "1")
	if err != nil {
		t.Fatal(err)
	}
	if mv["source"] != "runs:/"+run+"/model" {
		t.Errorf("source = %v, want runs:/%s/model", mv["source"], run)
	}
}

// A run with no model at the path registers nothing (MLflow 3's
// register_model refuses it too): a version from it would not load.
func TestRegisterFromRunWithoutModel(t *testing.T) {
	t.Parallel()
	exp, run, f := newRun(t, mlflowtest.RunSpec{})
	// Another run's logged model of the same name does not count.
	other, err := f.CreateRun(t.Context(), exp, mlflowtest.RunSpec{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.CreateNamedLoggedModel(t.Context(), exp, other, "model"); err != nil {
		t.Fatal(err)
	}
	model := mlflowtest.UniqueName(t, "reg")
	res := runAction(t, map[string]string{"command": "register", "model-name": model, "run-id": run, "artifact-path": "model"}, nil)
	want := fmt.Sprintf(`failed to find a model at runs:/%s/model: the run's artifacts hold no MLmodel under "model" and the run has no logged model named "model"`, run)
	if res.code != 3 || !strings.Contains(res.stdout, want) {
		t.Errorf("exit %d (want 3), output lacks %q:\n%s", res.code, want, res.stdout)
	}
	if _, err := f.GetVersion(t.Context(), model, "1"); !mlflowtest.IsErrorCode(err, "RESOURCE_DOES_NOT_EXIST") {
		t.Errorf("a version was registered: %v", err)
	}
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return lines[len(lines)-1]
}

// tagMap turns MLflow's [{key, value}] list into a map.
func tagMap(v any) map[string]string {
	out := map[string]string{}
	list, _ := v.([]any)
	for _, e := range list {
		m, _ := e.(map[string]any)
		k, _ := m["key"].(string)
		val, _ := m["value"].(string)
		out[k] = val
	}
	return out
}
