package promote

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/mlreg/mlreg-action/internal/mlflow"
)

// Unit tests of register: the version it creates, its lineage tags, the wait
// for READY, and what a rerun after a failure half-way does.

const workflowRun = "https://github.com/acme/models/actions/runs/7"

// registerFixture is a registry without the model m, a finished run r1
// (experiment 5, one dataset input) and a logged model m-abc of r1.
func registerFixture() *memRegistry {
	reg := newMem("m")
	reg.DeleteModelDirect("m")
	reg.AddRun(mlflow.Run{
		Info: mlflow.RunInfo{RunID: "r1", ExperimentID: "5", Status: mlflow.RunFinished, EndTime: 1},
		Inputs: mlflow.RunInputs{DatasetInputs: []mlflow.DatasetInput{{
			Tags:    []mlflow.Tag{{Key: "mlflow.data.context", Value: "training"}},
			Dataset: mlflow.Dataset{Name: "fraud", Digest: "d1", SourceType: "s3", Source: "s3://b/fraud.parquet"},
		}}},
	})
	reg.AddRun(mlflow.Run{Info: mlflow.RunInfo{RunID: "r2", ExperimentID: "5", Status: mlflow.RunRunning}})
	reg.AddLoggedModel(mlflow.LoggedModel{Info: mlflow.LoggedModelInfo{ModelID: "m-abc", SourceRunID: "r1", Name: "model"}})
	reg.AddLoggedModel(mlflow.LoggedModel{Info: mlflow.LoggedModelInfo{ModelID: "m-r2", SourceRunID: "r2", Name: "model"}})
	reg.AddLoggedModel(mlflow.LoggedModel{Info: mlflow.LoggedModelInfo{ModelID: "m-solo", Name: "model"}})
	return reg
}

// sleeps records the waits between READY polls instead of sleeping.
type sleeps []time.Duration

func (s *sleeps) sleep(_ context.Context, d time.Duration) error {
	*s = append(*s, d)
	return nil
}

func registerReq(w *sleeps) RegisterRequest {
	return RegisterRequest{
		Model: "m", RunID: "r1", ArtifactPath: "model/",
		Tags:    map[string]string{"team": "fraud", TagLineageActor: "release-bot"},
		Lineage: Lineage{Commit: "abc123", Repository: "acme/models", WorkflowRunURL: workflowRun, Actor: "octocat"},
		RunLink: func(exp, run string) string { return "http://mlflow/#/experiments/" + exp + "/runs/" + run },
		Sleep:   w.sleep,
	}
}

func TestRegisterFromRunWaitsForReady(t *testing.T) {
	t.Parallel()
	reg := registerFixture()
	reg.SetPending(2, "", "")
	var waits sleeps
	res, err := (&Service{}).Register(t.Context(), reg, registerReq(&waits))
	if err != nil {
		t.Fatalf("Register() error: %v", err)
	}
	if res.Reused || res.Polls != 2 || res.Version.Version != "1" || res.Version.Status != mlflow.StatusReady {
		t.Errorf("Register() = v%s %s, %d polls, reused %t; want v1 READY after 2 polls", res.Version.Version, res.Version.Status, res.Polls, res.Reused)
	}
	if diff := cmp.Diff(sleeps{time.Second, 2 * time.Second}, waits); diff != "" {
		t.Errorf("waits between polls (-want +got):\n%s", diff)
	}
	if !reg.present() {
		t.Error("the registered model was not created")
	}
	mv := reg.version("1")
	// MLflow 3: the run's logged model named like the artifact path is the source (the run's artifacts hold no MLmodel).
	if mv.Source != "models:/m-abc" || mv.ModelID != "m-abc" || mv.RunID != "r1" || mv.RunLink != "http://mlflow/#/experiments/5/runs/r1" {
		t.Errorf("version source %q model_id %q run %q run_link %q", mv.Source, mv.ModelID, mv.RunID, mv.RunLink)
	}
	wantTags := []mlflow.Tag{
		{Key: TagLineageActor, Value: "release-bot"}, // a user tag wins over the lineage tag of the same key
		{Key: TagLineageCommit, Value: "abc123"},
		{Key: TagLineageDatasets, Value: `[{"name":"fraud","digest":"d1","source_type":"s3","source":"s3://b/fraud.parquet","context":"training"}]`},
		{Key: TagLineageRepo, Value: "acme/models"},
		{Key: TagLineageRun, Value: "r1"},
		{Key: TagLineageRunLink, Value: "http://mlflow/#/experiments/5/runs/r1"},
		{Key: TagLineageWorkflow, Value: workflowRun},
		{Key: "team", Value: "fraud"},
	}
	if diff := cmp.Diff(wantTags, mv.Tags); diff != "" {
		t.Errorf("version tags (-want +got):\n%s", diff)
	}
}

func TestRegisterFromLoggedModel(t *testing.T) {
	t.Parallel()
	reg := registerFixture()
	var waits sleeps
	req := registerReq(&waits)
	req.RunID, req.ArtifactPath, req.Source = "", "", "models:/m-abc"
	res, err := (&Service{}).Register(t.Context(), reg, req)
	if err != nil {
		t.Fatalf("Register() error: %v", err)
	}
	mv := reg.version(res.Version.Version)
	run, _ := mv.Tag(TagLineageRun)
	if mv.Source != "models:/m-abc" || mv.ModelID != "m-abc" || mv.RunID != "r1" || run != "r1" {
		t.Errorf("version source %q model_id %q run %q lineage run %q; want the logged model and its source run",
			mv.Source, mv.ModelID, mv.RunID, run)
	}
	if len(waits) != 0 || res.Polls != 0 {
		t.Errorf("waited %v for a version that was READY at once", waits)
	}
}

func TestRegisterRerunReusesTheVersion(t *testing.T) {
	t.Parallel()
	reg := registerFixture()
	var waits sleeps
	first, err := (&Service{}).Register(t.Context(), reg, registerReq(&waits))
	if err != nil {
		t.Fatal(err)
	}
	again, err := (&Service{}).Register(t.Context(), reg, registerReq(&waits))
	if err != nil {
		t.Fatal(err)
	}
	if !again.Reused || again.Version.Version != first.Version.Version || reg.versionCount() != 1 {
		t.Errorf("rerun: v%s reused %t, %d versions; want v%s reused and no duplicate",
			again.Version.Version, again.Reused, reg.versionCount(), first.Version.Version)
	}
	// Another workflow run registers its own version.
	other := registerReq(&waits)
	other.Lineage.WorkflowRunURL = "https://github.com/acme/models/actions/runs/8"
	res, err := (&Service{}).Register(t.Context(), reg, other)
	if err != nil || res.Reused || res.Version.Version != "2" {
		t.Errorf("another workflow run: %+v, %v; want a new v2", res, err)
	}
}

func TestRegisterCreateFails(t *testing.T) {
	t.Parallel()
	const maybe = "the server may have registered the version all the same"
	cases := []struct {
		name     string
		req      func(r *RegisterRequest)
		inject   func(m *memRegistry)
		says     []string
		notSays  string
		versions int  // versions after the failed run
		reused   bool // the rerun reuses the version the failed run created
	}{
		{
			name:     "refused",
			inject:   func(m *memRegistry) { m.fail("CreateModelVersion", "", 1, errDenied) },
			says:     []string{"403 PERMISSION_DENIED"},
			notSays:  maybe,
			versions: 0,
		},
		{
			name:     "never sent",
			inject:   func(m *memRegistry) { m.fail("CreateModelVersion", "", 1, errDial) },
			notSays:  maybe,
			versions: 0,
		},
		{
			name:     "executed, answer lost",
			inject:   func(m *memRegistry) { m.loseAnswer("CreateModelVersion", "", 1, errReset) },
			says:     []string{maybe + ": a rerun of this workflow run finds it by its lineage tags and reuses it"},
			versions: 1,
			reused:   true,
		},
		{
			name:     "executed, answer lost, no workflow run to find it by",
			req:      func(r *RegisterRequest) { r.Lineage.WorkflowRunURL = "" },
			inject:   func(m *memRegistry) { m.loseAnswer("CreateModelVersion", "", 1, errReset) },
			says:     []string{maybe + `: look for a version of "m" from models:/m-abc before registering again`},
			versions: 1,
		},
		{
			name: "logged model without a run, answer lost",
			req: func(r *RegisterRequest) {
				r.RunID, r.ArtifactPath, r.Source = "", "", "models:/m-solo"
			},
			inject:   func(m *memRegistry) { m.loseAnswer("CreateModelVersion", "", 1, errUnavailable) },
			says:     []string{maybe + `: look for a version of "m" from models:/m-solo before registering again`},
			versions: 1,
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			reg := registerFixture()
			tc.inject(reg)
			var waits sleeps
			req := registerReq(&waits)
			if tc.req != nil {
				tc.req(&req)
			}
			_, err := (&Service{}).Register(t.Context(), reg, req)
			if err == nil {
				t.Fatal("Register() succeeded, want an error")
			}
			for _, s := range tc.says {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("error %q does not say %q", err, s)
				}
			}
			if tc.notSays != "" && strings.Contains(err.Error(), tc.notSays) {
				t.Errorf("error %q says %q", err, tc.notSays)
			}
			if reg.versionCount() != tc.versions {
				t.Errorf("%d versions after the failed run, want %d", reg.versionCount(), tc.versions)
			}
			reg.ClearFaults()
			res, err := (&Service{}).Register(t.Context(), reg, req)
			if err != nil {
				t.Fatalf("rerun: %v", err)
			}
			if res.Reused != tc.reused {
				t.Errorf("rerun reused %t, want %t", res.Reused, tc.reused)
			}
			if tc.reused && reg.versionCount() != 1 {
				t.Errorf("rerun left %d versions, want 1", reg.versionCount())
			}
		})
	}
}

func TestRegisterRefusals(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name   string
		req    func(r *RegisterRequest)
		inject func(m *memRegistry)
		is     error
		want   string
	}{
		{
			name: "unfinished run",
			req:  func(r *RegisterRequest) { r.RunID = "r2" },
			is:   ErrInvalid,
			want: "invalid input: run r2 is RUNNING, not FINISHED; set input allow-unfinished-run: true to register it anyway",
		},
		{
			name: "run not found",
			req:  func(r *RegisterRequest) { r.RunID = "r9" },
			want: "RESOURCE_DOES_NOT_EXIST",
		},
		{
			name: "logged model not found",
			req:  func(r *RegisterRequest) { r.RunID, r.ArtifactPath, r.Source = "", "", "models:/m-zzz" },
			want: "RESOURCE_DOES_NOT_EXIST",
		},
		{
			name:   "search for an earlier registration fails",
			inject: func(m *memRegistry) { m.fail("SearchModelVersions", "", 0, errUnavailable) },
			want:   "503",
		},
		{
			name:   "registered model cannot be created",
			inject: func(m *memRegistry) { m.fail("CreateRegisteredModel", "", 0, errDenied) },
			want:   "403 PERMISSION_DENIED",
		},
		{
			name: "model name that cannot be quoted in a filter",
			req:  func(r *RegisterRequest) { r.Model = `it's "m"` },
			is:   ErrInvalid,
			want: `invalid input: input model-name: cannot quote`,
		},
		{
			name: "run id that cannot be quoted in a filter",
			req:  func(r *RegisterRequest) { r.RunID, r.ArtifactPath, r.Source = "", "", `runs:/r'"1/model` },
			inject: func(m *memRegistry) {
				m.AddRun(mlflow.Run{Info: mlflow.RunInfo{RunID: `r'"1`, Status: mlflow.RunFinished}})
			},
			is:   ErrInvalid,
			want: `invalid input: input run-id: cannot quote`,
		},
		{
			name: "version failed to register",
			inject: func(m *memRegistry) {
				m.SetPending(1, mlflow.StatusFailedRegistration, "artifact not found")
			},
			is:   ErrNotReady,
			want: "model version not ready: m v1 failed to register: artifact not found",
		},
		{
			name:   "poll fails",
			inject: func(m *memRegistry) { m.SetPending(3, "", ""); m.fail("GetModelVersion", "", 1, errUnavailable) },
			want:   "failed to poll m v1: ",
		},
		{
			name: "wait cancelled",
			req: func(r *RegisterRequest) {
				r.Sleep = func(context.Context, time.Duration) error { return context.Canceled }
			},
			inject: func(m *memRegistry) { m.SetPending(3, "", "") },
			is:     context.Canceled,
			want:   "failed to wait for m v1 to be READY (still PENDING_REGISTRATION): context canceled",
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			reg := registerFixture()
			if tc.inject != nil {
				tc.inject(reg)
			}
			var waits sleeps
			req := registerReq(&waits)
			if tc.req != nil {
				tc.req(&req)
			}
			_, err := (&Service{}).Register(t.Context(), reg, req)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v\nwant %s...", err, tc.want)
			}
			if tc.is != nil && !errors.Is(err, tc.is) {
				t.Errorf("err = %v, want it to be %v", err, tc.is)
			}
		})
	}
}

// TestRegisterUnfinishedRunChangesNothing: the refusal comes before any write.
func TestRegisterUnfinishedRunChangesNothing(t *testing.T) {
	t.Parallel()
	reg := registerFixture()
	var waits sleeps
	req := registerReq(&waits)
	req.RunID = "r2"
	if _, err := (&Service{}).Register(t.Context(), reg, req); !errors.Is(err, ErrInvalid) {
		t.Fatalf("err = %v, want ErrInvalid", err)
	}
	if w := reg.writes(); len(w) > 0 || reg.present() {
		t.Errorf("a refused registration wrote %v", w)
	}
	req.AllowUnfinishedRun = true
	res, err := (&Service{}).Register(t.Context(), reg, req)
	if err != nil || res.Version.RunID != "r2" {
		t.Errorf("with allow-unfinished-run: %+v, %v; want a version of r2", res, err)
	}
}

func TestRegisterValidate(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		req  RegisterRequest
		want []string
	}{
		{"nothing", RegisterRequest{}, []string{"input model-name is required", "register needs input run-id (with artifact-path) or input source"}},
		{"model with a slash", RegisterRequest{Model: "a/b", Source: "models:/m-1"}, []string{`input model-name: model name "a/b" may not contain '/' or ':'`}},
		{"source and run-id", RegisterRequest{Model: "m", RunID: "r1", Source: "models:/m-1"}, []string{"set either input source or inputs run-id and artifact-path, not both"}},
		{"run-id without artifact-path", RegisterRequest{Model: "m", RunID: "r1"}, []string{"input artifact-path is required with run-id"}},
		{"path escapes the run", RegisterRequest{Model: "m", RunID: "r1", ArtifactPath: "../x"}, []string{"may not contain '..'"}},
	}
	for _, tc := range cases {
		err := tc.req.Validate(mlflow.Rules{})
		if !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: err = %v, want ErrInvalid", tc.name, err)
			continue
		}
		for _, w := range tc.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s: error %q does not say %q", tc.name, err, w)
			}
		}
	}
	if err := (&RegisterRequest{Model: "m", RunID: "r1", Source: "runs:/r1/model"}).Validate(mlflow.Rules{}); err != nil {
		t.Errorf("run-id with a runs:/ source of the same run: %v", err)
	}
}

func TestAwaitReadyBacksOffToTenSeconds(t *testing.T) {
	t.Parallel()
	reg := registerFixture()
	reg.SetPending(7, "", "")
	var waits sleeps
	res, err := (&Service{}).Register(t.Context(), reg, registerReq(&waits))
	if err != nil || res.Polls != 7 {
		t.Fatalf("Register() = %+v, %v; want READY after 7 polls", res, err)
	}
	s := time.Second
	if diff := cmp.Diff(sleeps{s, 2 * s, 4 * s, 8 * s, 10 * s, 10 * s, 10 * s}, waits); diff != "" {
		t.Errorf("waits (-want +got):\n%s", diff)
	}
	// Without an injected sleep it really waits, from PollInterval.
	reg = registerFixture()
	reg.SetPending(1, "", "")
	req := registerReq(&waits)
	req.Sleep, req.PollInterval = nil, time.Millisecond
	if res, err := (&Service{}).Register(t.Context(), reg, req); err != nil || res.Polls != 1 {
		t.Errorf("Register() = %+v, %v; want READY after 1 poll", res, err)
	}
}

func TestDatasetsTagStaysValidAndBounded(t *testing.T) {
	t.Parallel()
	run := &mlflow.Run{}
	for i := range 200 {
		run.Inputs.DatasetInputs = append(run.Inputs.DatasetInputs, mlflow.DatasetInput{
			Dataset: mlflow.Dataset{Name: fmt.Sprintf("dataset-%03d", i), Source: "s3://bucket/" + strings.Repeat("x", 40)}})
	}
	got := datasetsJSON(run)
	var ds []struct{ Name string }
	if err := json.Unmarshal([]byte(got), &ds); err != nil {
		t.Fatalf("datasets tag is not JSON: %v", err)
	}
	if len(got) > 5000 || len(ds) == 0 || len(ds) == 200 || ds[0].Name != "dataset-000" {
		t.Errorf("datasets tag: %d characters, %d datasets, first %+v; want at most 5000, the first ones kept", len(got), len(ds), ds[0])
	}
	if got := datasetsJSON(&mlflow.Run{}); got != "" {
		t.Errorf("datasets tag of a run without inputs = %q, want none", got)
	}
}
