package main

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/mlreg/mlreg-action/internal/testing/testutil"
	"github.com/mlreg/mlreg-action/internal/testing/ucfake"
)

const dumpJSON = `{
 "source": "mlflow==0.0.0 test",
 "services": {"svc.S": {
  "Get": {"endpoints": [{"method": "GET", "path": "/api/2.0/mlflow/unity-catalog/x/get"}, {"method": "POST", "path": "/api/2.0/old"}],
          "request": "p.GetReq", "response": "p.GetRes"},
  "Other": {"endpoints": [{"method": "POST", "path": "/api/2.0/mlflow/unity-catalog/other"}], "request": "p.OtherReq", "response": "p.GetRes"}
 }},
 "messages": {
  "p.GetReq": {"fields": [{"name": "name", "json_name": "name", "number": 1, "type": "string", "required": true}]},
  "p.GetRes": {"fields": [{"name": "thing", "json_name": "thing", "number": 1, "type": "message", "message": "p.Thing"}]},
  "p.Thing": {"fields": [{"name": "status", "json_name": "status", "number": 2, "type": "enum", "enum": "p.Status"},
                         {"name": "n", "json_name": "n", "number": 1, "type": "int64"}]},
  "p.OtherReq": {"fields": []},
  "p.Unused": {"fields": []}
 },
 "enums": {"p.Status": [{"name": "UNSPECIFIED", "number": 0}, {"name": "READY", "number": 3}], "p.Unused": []}
}`

func TestSubsetKeepsRPCsAndWhatTheyReach(t *testing.T) {
	t.Parallel()
	out, err := Subset([]byte(dumpJSON), "svc.S", []string{"Get"})
	if err != nil {
		t.Fatal(err)
	}
	spec, err := ucfake.ParseSpec(out)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(map[string]ucfake.RPC{"Get": {Method: "GET", Path: "/api/2.0/mlflow/unity-catalog/x/get", Request: "p.GetReq", Response: "p.GetRes"}}, spec.RPCs); diff != "" {
		t.Errorf("rpcs (-want +got):\n%s", diff)
	}
	var msgs []string
	for m := range spec.Messages {
		msgs = append(msgs, m)
	}
	slices.Sort(msgs)
	if diff := cmp.Diff([]string{"p.GetReq", "p.GetRes", "p.Thing"}, msgs); diff != "" {
		t.Errorf("messages (-want +got):\n%s", diff)
	}
	if _, ok := spec.Enums["p.Status"]; !ok || len(spec.Enums) != 1 {
		t.Errorf("enums = %v, want p.Status only", spec.Enums)
	}
	if f := spec.Messages["p.Thing"].Fields; f[0].Name != "n" {
		t.Errorf("fields of p.Thing = %v, want them by number", f)
	}
}

func TestSubsetFailsOnAMissingRPC(t *testing.T) {
	t.Parallel()
	_, err := Subset([]byte(dumpJSON), "svc.S", []string{"Get", "Nope"})
	if err == nil || !strings.Contains(err.Error(), "Nope") {
		t.Errorf("err = %v, want one naming Nope", err)
	}
}

// The checked-in description is what the pinned wheel gives today, so a
// change of the pinned MLflow that changes the UC protos shows here.
func TestCheckedInSubsetMatchesTheWheel(t *testing.T) {
	t.Parallel()
	py := ucfake.VenvPython(t)
	root, err := testutil.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	mk, err := os.ReadFile(filepath.Join(root, "Makefile"))
	if err != nil {
		t.Fatal(err)
	}
	version := regexp.MustCompile(`(?m)^MLFLOW_VERSION \?= (\S+)$`).FindSubmatch(mk)
	if version == nil {
		t.Fatal("no MLFLOW_VERSION in the Makefile")
	}
	cmd := exec.CommandContext(t.Context(), py, filepath.Join(root, "scripts", "dump_uc_protos.py"), string(version[1]))
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	full, err := cmd.Output()
	if err != nil {
		t.Fatalf("dump_uc_protos.py: %v\n%s", err, stderr.String())
	}
	got, err := Subset(full, ucfake.ServiceName, ucfake.RPCs)
	if err != nil {
		t.Fatal(err)
	}
	want, err := os.ReadFile(filepath.Join(root, ucfake.SpecPath))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		var g, w any
		_ = json.Unmarshal(got, &g)
		_ = json.Unmarshal(want, &w)
		t.Errorf("%s is stale; run scripts/gen-uc-protos.sh (-checked in +wheel):\n%s", ucfake.SpecPath, cmp.Diff(w, g))
	}
}
