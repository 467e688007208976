package ucfake_test

import (
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/mlreg/mlreg-action/internal/testing/mlflowtest"
	"github.com/mlreg/mlreg-action/internal/testing/ucfake"
)

// pythonClient runs calls through MLflow's own client, configured as a user
// of Unity Catalog would: MlflowClient(tracking_uri="databricks",
// registry_uri="databricks-uc") with DATABRICKS_HOST and DATABRICKS_TOKEN
// pointing at the fake. It prints one JSON object of what it saw.
const pythonClient = `
import json, sys
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException

name, run_id = sys.argv[1], sys.argv[2]
c = MlflowClient(tracking_uri="databricks", registry_uri="databricks-uc")
out = {}

mv = c.get_model_version(name, "1")
out["get"] = {"name": mv.name, "version": mv.version, "status": mv.status, "source": mv.source,
              "run_id": mv.run_id, "model_id": mv.model_id, "aliases": mv.aliases, "tags": mv.tags}

c.set_registered_model_alias(name, "champion", "2")
mv = c.get_model_version_by_alias(name, "champion")
out["by_alias"] = {"version": mv.version, "aliases": mv.aliases}

c.set_model_version_tag(name, "2", "mlreg_promotion_alias_champion", '{"verdict":"pass"}')
out["tags_after_set"] = c.get_model_version(name, "2").tags

c.set_registered_model_tag(name, "mlreg_history_alias_champion", "[]")
rm = c.get_registered_model(name)
out["model"] = {"aliases": rm.aliases, "tags": rm.tags}

c.delete_model_version_tag(name, "2", "mlreg_promotion_alias_champion")
out["tags_after_delete"] = c.get_model_version(name, "2").tags

c.delete_registered_model_alias(name, "champion")
out["aliases_after_delete"] = c.get_registered_model(name).aliases

out["search"] = sorted(v.version for v in c.search_model_versions(f"name='{name}'"))

def code(fn):
    try:
        fn()
    except MlflowException as e:
        return e.error_code
    return "no error"

out["unset_alias"] = code(lambda: c.get_model_version_by_alias(name, "champion"))
out["two_level"] = code(lambda: c.get_model_version("ml.fraud", "1"))
out["bad_tag_key"] = code(lambda: c.set_model_version_tag(name, "1", "mlreg.promotion", "x"))

run = c.get_run(run_id)
out["run_metrics"] = run.data.metrics
print(json.dumps(out))
`

// MLflow's own Python client runs get, set-alias, get-by-alias, tag and
// delete-alias calls against the fake and sees what it set: the fake speaks
// what MLflow speaks (every request it sent matched MLflow's proto, or the
// test would fail). Its tracking calls go through the fake to the real
// server.
func TestMLflowPythonClientAgainstTheFake(t *testing.T) {
	t.Parallel()
	s := mlflowtest.RequireServer(t, srv)
	py := ucfake.VenvPython(t)
	ctx := t.Context()
	fx := s.Fixtures()
	exp, err := fx.CreateExperiment(ctx, mlflowtest.UniqueName(t, "uc"))
	if err != nil {
		t.Fatal(err)
	}
	runID, err := fx.CreateRun(ctx, exp, mlflowtest.RunSpec{Metrics: map[string]float64{"val_auc": 0.93}})
	if err != nil {
		t.Fatal(err)
	}

	f := ucfake.New(t, ucfake.Options{TrackingURL: s.URL})
	f.CreateModelVersion(model, ucfake.Version{Source: "models:/m-0001", RunID: runID, ModelID: "m-0001"})
	f.CreateModelVersion(model, ucfake.Version{Source: "models:/m-0002", RunID: runID, ModelID: "m-0002"})

	cmd := exec.CommandContext(ctx, py, "-c", pythonClient, model, runID)
	cmd.Dir = t.TempDir()
	cmd.Env = append(os.Environ(),
		"DATABRICKS_HOST="+f.URL(), "DATABRICKS_TOKEN="+f.Token(),
		"HOME="+cmd.Dir, // no ~/.databrickscfg
		"MLFLOW_HTTP_REQUEST_MAX_RETRIES=0",
	)
	out, err := cmd.Output()
	if err != nil {
		var stderr string
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			stderr = string(ee.Stderr)
		}
		t.Fatalf("MLflow's client failed: %v\n%s", err, stderr)
	}
	var got map[string]any
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatalf("output is not JSON: %v\n%s", err, out)
	}
	want := map[string]any{
		"get": map[string]any{"name": model, "version": "1", "status": "READY", "source": "models:/m-0001",
			"run_id": runID, "model_id": "m-0001", "aliases": []any{}, "tags": map[string]any{}},
		"by_alias":             map[string]any{"version": "2", "aliases": []any{"champion"}},
		"tags_after_set":       map[string]any{"mlreg_promotion_alias_champion": `{"verdict":"pass"}`},
		"model":                map[string]any{"aliases": map[string]any{"champion": "2"}, "tags": map[string]any{"mlreg_history_alias_champion": "[]"}},
		"tags_after_delete":    map[string]any{},
		"aliases_after_delete": map[string]any{},
		"search":               []any{"1", "2"},
		"unset_alias":          "RESOURCE_DOES_NOT_EXIST",
		"two_level":            "INVALID_PARAMETER_VALUE",
		"bad_tag_key":          "INVALID_PARAMETER_VALUE",
		"run_metrics":          map[string]any{"val_auc": 0.93},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("what MLflow's client saw (-want +got):\n%s", diff)
	}
	if v := f.Violations(); len(v) > 0 {
		t.Errorf("MLflow's client sent requests the fake's proto check refused: %q", v)
	}
	// What it called, in the fake's terms.
	var rpcs []string
	for _, c := range f.Calls() {
		rpcs = append(rpcs, c.RPC)
	}
	joined := strings.Join(rpcs, " ")
	for _, rpc := range []string{"host-metadata", "GetModelVersion", "SetRegisteredModelAlias", "GetModelVersionByAlias",
		"SetModelVersionTag", "SetRegisteredModelTag", "DeleteModelVersionTag", "DeleteRegisteredModelAlias", "SearchModelVersions", "forward"} {
		if !strings.Contains(joined, rpc) {
			t.Errorf("MLflow's client never reached %s; calls: %s", rpc, joined)
		}
	}
}
