package mlflowtest_test

import (
	"errors"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/mlreg/mlreg-action/internal/testing/mlflowtest"
)

var srv *mlflowtest.Server

func TestMain(m *testing.M) { os.Exit(mlflowtest.Main(m, &srv)) }

func TestServerHealthAndVersion(t *testing.T) {
	t.Parallel()
	s := mlflowtest.RequireServer(t, srv)
	ctx := t.Context()

	if !regexp.MustCompile(`^http://127\.0\.0\.1:\d+$`).MatchString(s.URL) {
		t.Errorf("URL = %q, want http://127.0.0.1:PORT", s.URL)
	}
	v, err := s.Fixtures().ServerVersion(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`^3\.\d+\.\d+`).MatchString(v) {
		t.Errorf("server version = %q, want 3.x", v)
	}
	t.Logf("MLflow %s at %s, started in %s", v, s.URL, s.StartupTime)
}

func TestCreateRun(t *testing.T) {
	t.Parallel()
	f := mlflowtest.RequireServer(t, srv).Fixtures()
	ctx := t.Context()

	exp, err := f.CreateExperiment(ctx, mlflowtest.UniqueName(t, "exp"))
	if err != nil {
		t.Fatal(err)
	}
	end := time.UnixMilli(1_750_000_000_000)
	runID, err := f.CreateRun(ctx, exp, mlflowtest.RunSpec{
		Name:     "train",
		Metrics:  map[string]float64{"val_auc": 0.91, "val_loss": 0.2},
		History:  map[string][]float64{"val_loss": {0.5, 0.4, 0.3, 0.25}, "train_loss": {0.9, 0.7}},
		Params:   map[string]string{"lr": "0.01", "depth": "6"},
		Tags:     map[string]string{"dataset_version": "2024-06"},
		EndTime:  end,
		Datasets: []mlflowtest.DatasetSpec{{Name: "fraud-eval", Context: "eval"}},
	})
	if err != nil {
		t.Fatal(err)
	}

	hist, err := f.MetricHistory(ctx, runID, "val_loss")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]float64{0.5, 0.4, 0.3, 0.25, 0.2}, hist); diff != "" {
		t.Errorf("val_loss history (-want +got):\n%s", diff)
	}
	hist, err = f.MetricHistory(ctx, runID, "train_loss")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]float64{0.9, 0.7}, hist); diff != "" {
		t.Errorf("train_loss history (-want +got):\n%s", diff)
	}

	run, err := f.GetRun(ctx, runID)
	if err != nil {
		t.Fatal(err)
	}
	info := run["info"].(map[string]any)
	if got := info["status"]; got != "FINISHED" {
		t.Errorf("status = %v, want FINISHED", got)
	}
	if got := info["end_time"]; got != float64(end.UnixMilli()) {
		t.Errorf("end_time = %v, want %d", got, end.UnixMilli())
	}
	if got := info["run_name"]; got != "train" {
		t.Errorf("run_name = %v, want train", got)
	}
	data := run["data"].(map[string]any)
	latest := map[string]float64{}
	for _, m := range data["metrics"].([]any) {
		m := m.(map[string]any)
		latest[m["key"].(string)] = m["value"].(float64)
	}
	if diff := cmp.Diff(map[string]float64{"val_auc": 0.91, "val_loss": 0.2, "train_loss": 0.7}, latest); diff != "" {
		t.Errorf("latest metrics (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(map[string]string{"lr": "0.01", "depth": "6"}, kvMap(data["params"])); diff != "" {
		t.Errorf("params (-want +got):\n%s", diff)
	}
	if got := kvMap(data["tags"])["dataset_version"]; got != "2024-06" {
		t.Errorf("tag dataset_version = %q, want 2024-06", got)
	}
	inputs := run["inputs"].(map[string]any)["dataset_inputs"].([]any)
	if len(inputs) != 1 {
		t.Fatalf("dataset_inputs = %v, want 1", inputs)
	}
	ds := inputs[0].(map[string]any)["dataset"].(map[string]any)
	if ds["name"] != "fraud-eval" || ds["digest"] != mlflowtest.DatasetDigest("fraud-eval") {
		t.Errorf("dataset = %v, want fraud-eval/%s", ds, mlflowtest.DatasetDigest("fraud-eval"))
	}
}

func TestCreateRunStatus(t *testing.T) {
	t.Parallel()
	f := mlflowtest.RequireServer(t, srv).Fixtures()
	ctx := t.Context()

	exp, err := f.CreateExperiment(ctx, mlflowtest.UniqueName(t, "exp"))
	if err != nil {
		t.Fatal(err)
	}
	for _, status := range []string{"FAILED", "RUNNING"} {
		runID, err := f.CreateRun(ctx, exp, mlflowtest.RunSpec{Status: status})
		if err != nil {
			t.Fatal(err)
		}
		run, err := f.GetRun(ctx, runID)
		if err != nil {
			t.Fatal(err)
		}
		info := run["info"].(map[string]any)
		if info["status"] != status {
			t.Errorf("status = %v, want %s", info["status"], status)
		}
		if _, ok := info["end_time"]; ok == (status == "RUNNING") {
			t.Errorf("%s run: end_time present = %v", status, ok)
		}
	}
}

func TestLoggedModelAndVersionFromIt(t *testing.T) {
	t.Parallel()
	f := mlflowtest.RequireServer(t, srv).Fixtures()
	ctx := t.Context()

	exp, err := f.CreateExperiment(ctx, mlflowtest.UniqueName(t, "exp"))
	if err != nil {
		t.Fatal(err)
	}
	runID, err := f.CreateRun(ctx, exp, mlflowtest.RunSpec{Metrics: map[string]float64{"val_auc": 0.5}})
	if err != nil {
		t.Fatal(err)
	}
	modelID, err := f.CreateLoggedModel(ctx, exp, runID, []mlflowtest.LoggedMetric{
		{Key: "val_auc", Value: 0.93, Dataset: "eval-2024"},
		{Key: "val_auc", Value: 0.88, Dataset: "eval-2025"},
		{Key: "latency_p95_ms", Value: 31},
	})
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`^m-[0-9a-f]{32}$`).MatchString(modelID) {
		t.Errorf("model id = %q, want m-<32 hex>", modelID)
	}

	lm, err := f.GetLoggedModel(ctx, modelID)
	if err != nil {
		t.Fatal(err)
	}
	info := lm["info"].(map[string]any)
	if info["status"] != "LOGGED_MODEL_READY" || info["source_run_id"] != runID {
		t.Errorf("logged model info = %v, want READY from run %s", info, runID)
	}
	type metric struct {
		Key, Dataset, Digest string
		Value                float64
	}
	var got []metric
	for _, m := range lm["data"].(map[string]any)["metrics"].([]any) {
		m := m.(map[string]any)
		ds, _ := m["dataset_name"].(string)
		dg, _ := m["dataset_digest"].(string)
		got = append(got, metric{Key: m["key"].(string), Dataset: ds, Digest: dg, Value: m["value"].(float64)})
		if m["model_id"] != modelID || m["run_id"] != runID {
			t.Errorf("metric %v: want model_id %s and run_id %s", m, modelID, runID)
		}
	}
	want := []metric{
		{Key: "latency_p95_ms", Value: 31},
		{Key: "val_auc", Dataset: "eval-2024", Digest: mlflowtest.DatasetDigest("eval-2024"), Value: 0.93},
		{Key: "val_auc", Dataset: "eval-2025", Digest: mlflowtest.DatasetDigest("eval-2025"), Value: 0.88},
	}
	sortMetrics := cmp.Transformer("sort", func(in []metric) []metric {
		out := append([]metric(nil), in...)
		for i := range out {
			for j := i + 1; j < len(out); j++ {
				if out[j].Key+out[j].Dataset < out[i].Key+out[i].Dataset {
					out[i], out[j] = out[j], out[i]
				}
			}
		}
		return out
	})
	if diff := cmp.Diff(want, got, sortMetrics); diff != "" {
		t.Errorf("logged model metrics (-want +got):\n%s", diff)
	}

	// A version whose source is the logged model gets run_id from the model's source run.
	name := mlflowtest.UniqueName(t, "model")
	if err := f.CreateRegisteredModel(ctx, name); err != nil {
		t.Fatal(err)
	}
	v, err := f.CreateVersion(ctx, name, "models:/"+modelID, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	mv, err := f.GetVersion(ctx, name, v)
	if err != nil {
		t.Fatal(err)
	}
	if v != "1" || mv["run_id"] != runID || mv["source"] != "models:/"+modelID || mv["status"] != "READY" {
		t.Errorf("version %s = %v, want 1, run_id %s, source models:/%s, READY", v, mv, runID, modelID)
	}
}

func TestLoggedModelMetricsNeedRun(t *testing.T) {
	t.Parallel()
	f := mlflowtest.RequireServer(t, srv).Fixtures()
	ctx := t.Context()

	exp, err := f.CreateExperiment(ctx, mlflowtest.UniqueName(t, "exp"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.CreateLoggedModel(ctx, exp, "", []mlflowtest.LoggedMetric{{Key: "a", Value: 1}}); err == nil {
		t.Error("CreateLoggedModel with metrics and no run: want error")
	}
	id, err := f.CreateLoggedModel(ctx, exp, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.GetLoggedModel(ctx, id); err != nil {
		t.Error(err)
	}
}

func TestAliasesStagesAndTags(t *testing.T) {
	t.Parallel()
	f := mlflowtest.RequireServer(t, srv).Fixtures()
	ctx := t.Context()

	exp, err := f.CreateExperiment(ctx, mlflowtest.UniqueName(t, "exp"))
	if err != nil {
		t.Fatal(err)
	}
	name := mlflowtest.UniqueName(t, "model")
	if err := f.CreateRegisteredModel(ctx, name); err != nil {
		t.Fatal(err)
	}
	var versions []string
	for i, auc := range []float64{0.91, 0.93} {
		runID, err := f.CreateRun(ctx, exp, mlflowtest.RunSpec{Metrics: map[string]float64{"val_auc": auc}})
		if err != nil {
			t.Fatal(err)
		}
		source, err := f.RunArtifactSource(ctx, runID, "model")
		if err != nil {
			t.Fatal(err)
		}
		if want := "mlflow-artifacts:/" + exp + "/" + runID + "/artifacts/model"; source != want {
			t.Errorf("RunArtifactSource = %q, want %q", source, want)
		}
		v, err := f.CreateVersion(ctx, name, source, runID, map[string]string{"candidate": "yes", "i": string(rune('0' + i))})
		if err != nil {
			t.Fatal(err)
		}
		mv, err := f.GetVersion(ctx, name, v)
		if err != nil {
			t.Fatal(err)
		}
		if mv["run_id"] != runID || mv["source"] != source {
			t.Errorf("version %s = %v, want run %s source %s", v, mv, runID, source)
		}
		versions = append(versions, v)
	}
	if diff := cmp.Diff([]string{"1", "2"}, versions); diff != "" {
		t.Fatalf("versions (-want +got):\n%s", diff)
	}

	// A source outside the run's artifact root is refused by the server.
	runID, err := f.CreateRun(ctx, exp, mlflowtest.RunSpec{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.CreateVersion(ctx, name, "mlflow-artifacts:/0/"+runID+"/artifacts/model", runID, nil); exp != "0" &&
		!mlflowtest.IsErrorCode(err, "INVALID_PARAMETER_VALUE") {
		t.Errorf("CreateVersion with a foreign mlflow-artifacts source: err = %v, want INVALID_PARAMETER_VALUE", err)
	}
	if _, err := f.CreateVersion(ctx, name, "/tmp/model", "", nil); !mlflowtest.IsErrorCode(err, "INVALID_PARAMETER_VALUE") {
		t.Errorf("CreateVersion with a local path: err = %v, want INVALID_PARAMETER_VALUE", err)
	}

	// Aliases.
	if got, err := f.AliasVersion(ctx, name, "champion"); err != nil || got != "" {
		t.Errorf("AliasVersion(unset) = %q, %v; want \"\", nil", got, err)
	}
	if _, err := f.AliasVersion(ctx, mlflowtest.UniqueName(t, "missing"), "champion"); err == nil {
		t.Error("AliasVersion on a missing model: want error")
	}
	for _, step := range []struct{ alias, version string }{{"champion", "1"}, {"challenger", "2"}, {"champion", "2"}} {
		if err := f.SetAlias(ctx, name, step.alias, step.version); err != nil {
			t.Fatal(err)
		}
		if got, err := f.AliasVersion(ctx, name, step.alias); err != nil || got != step.version {
			t.Errorf("AliasVersion(%s) = %q, %v; want %s", step.alias, got, err, step.version)
		}
	}
	aliases, err := f.Aliases(ctx, name)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(map[string]string{"champion": "2", "challenger": "2"}, aliases); diff != "" {
		t.Errorf("aliases (-want +got):\n%s", diff)
	}
	if err := f.DeleteAlias(ctx, name, "challenger"); err != nil {
		t.Fatal(err)
	}
	if got, err := f.AliasVersion(ctx, name, "challenger"); err != nil || got != "" {
		t.Errorf("AliasVersion(deleted) = %q, %v; want \"\", nil", got, err)
	}

	// Stages.
	if err := f.Transition(ctx, name, "1", "Production"); err != nil {
		t.Fatal(err)
	}
	if err := f.Transition(ctx, name, "2", "Staging"); err != nil {
		t.Fatal(err)
	}
	for v, want := range map[string]string{"1": "Production", "2": "Staging"} {
		mv, err := f.GetVersion(ctx, name, v)
		if err != nil {
			t.Fatal(err)
		}
		if mv["current_stage"] != want {
			t.Errorf("version %s stage = %v, want %s", v, mv["current_stage"], want)
		}
	}

	// Tags.
	if err := f.SetModelTag(ctx, name, "owner", "fraud-team"); err != nil {
		t.Fatal(err)
	}
	if err := f.SetVersionTag(ctx, name, "2", "promoted_by", "ci"); err != nil {
		t.Fatal(err)
	}
	mt, err := f.ModelTags(ctx, name)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(map[string]string{"owner": "fraud-team"}, mt); diff != "" {
		t.Errorf("model tags (-want +got):\n%s", diff)
	}
	vt, err := f.VersionTags(ctx, name, "2")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(map[string]string{"candidate": "yes", "i": "1", "promoted_by": "ci"}, vt); diff != "" {
		t.Errorf("version tags (-want +got):\n%s", diff)
	}
}

func TestAPIError(t *testing.T) {
	t.Parallel()
	f := mlflowtest.RequireServer(t, srv).Fixtures()
	ctx := t.Context()

	_, err := f.GetVersion(ctx, mlflowtest.UniqueName(t, "missing"), "1")
	var apiErr *mlflowtest.APIError
	if !errors.As(err, &apiErr) {
		t.Fatalf("err = %v, want *APIError", err)
	}
	if apiErr.StatusCode != http.StatusNotFound || apiErr.ErrorCode != "RESOURCE_DOES_NOT_EXIST" {
		t.Errorf("err = %+v, want 404 RESOURCE_DOES_NOT_EXIST", apiErr)
	}
	if err := f.CreateRegisteredModel(ctx, "bad/name"); !mlflowtest.IsErrorCode(err, "INVALID_PARAMETER_VALUE") {
		t.Errorf("CreateRegisteredModel(bad/name) = %v, want INVALID_PARAMETER_VALUE", err)
	}
}

func TestUniqueName(t *testing.T) {
	t.Parallel()
	valid := regexp.MustCompile(`^[A-Za-z0-9_.-]+$`)
	seen := map[string]bool{}
	var mu sync.Mutex
	for _, tc := range []struct{ sub, prefix, want string }{
		{sub: "a/b:c", prefix: "m:x", want: "m-x-TestUniqueName-a-b-c-"},
		{sub: "spaces and ünïcode", prefix: "", want: "TestUniqueName-spaces_and_-n-code-"},
		{sub: "long", prefix: strings.Repeat("p", 300), want: strings.Repeat("p", 100)},
	} {
		t.Run(tc.sub, func(t *testing.T) {
			t.Parallel()
			for range 3 {
				n := mlflowtest.UniqueName(t, tc.prefix)
				if !valid.MatchString(n) || len(n) > 200 || !strings.HasPrefix(n, tc.want) {
					t.Errorf("UniqueName = %q: want [A-Za-z0-9_.-]{1,200} starting %s", n, tc.want)
				}
				mu.Lock()
				if seen[n] {
					t.Errorf("UniqueName repeated %q", n)
				}
				seen[n] = true
				mu.Unlock()
			}
		})
	}
}

// TestStartStop starts a second server with explicit options and checks that Stop ends it.
func TestStartStop(t *testing.T) {
	t.Parallel()
	mlflowtest.RequireServer(t, srv)
	if testing.Short() {
		t.Skip("starts a second MLflow server")
	}
	dir := t.TempDir()
	logDir := filepath.Join(dir, "logs")
	s, err := mlflowtest.Start(t.Context(), mlflowtest.Options{
		BackendURI: "sqlite:///" + filepath.Join(dir, "other.db"),
		LogDir:     logDir,
		ExtraArgs:  []string{"--allowed-hosts", "127.0.0.1:*,localhost:*"},
		Env:        []string{"MLFLOW_MARKER=mlflowtest"},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("second server started in %s", s.StartupTime)
	t.Cleanup(func() { _ = s.Stop() })
	if _, err := s.Fixtures().CreateExperiment(t.Context(), "x"); err != nil {
		t.Error(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "other.db")); err != nil {
		t.Errorf("backend db: %v", err)
	}
	if filepath.Dir(s.LogPath) != logDir {
		t.Errorf("LogPath = %s, want in %s", s.LogPath, logDir)
	}

	if err := s.Stop(); err != nil {
		t.Fatal(err)
	}
	if err := s.Stop(); err != nil {
		t.Errorf("second Stop: %v", err)
	}
	if _, err := net.DialTimeout("tcp", strings.TrimPrefix(s.URL, "http://"), time.Second); err == nil {
		t.Errorf("%s still accepts connections after Stop", s.URL)
	}
	if b, err := os.ReadFile(s.LogPath); err != nil || len(b) == 0 {
		t.Errorf("log %s after Stop: %d bytes, %v; want it kept", s.LogPath, len(b), err)
	}
}

func TestStartFailureShowsLog(t *testing.T) {
	t.Parallel()
	mlflowtest.RequireServer(t, srv)
	if testing.Short() {
		t.Skip("runs the mlflow CLI")
	}
	_, err := mlflowtest.Start(t.Context(), mlflowtest.Options{ExtraArgs: []string{"--no-such-flag"}})
	if err == nil {
		t.Fatal("Start with a bad flag: want error")
	}
	if !strings.Contains(err.Error(), "no-such-flag") || !strings.Contains(err.Error(), "last 40 lines") {
		t.Errorf("error does not show the server log:\n%v", err)
	}
}

func TestMissingBinary(t *testing.T) {
	// Not parallel: it sets an environment variable.
	t.Setenv(mlflowtest.EnvMLflow, filepath.Join(t.TempDir(), "no-mlflow"))
	_, err := mlflowtest.Start(t.Context(), mlflowtest.Options{})
	if !errors.Is(err, mlflowtest.ErrNoMLflow) {
		t.Errorf("Start = %v, want ErrNoMLflow", err)
	}
}

func kvMap(v any) map[string]string {
	m := map[string]string{}
	list, _ := v.([]any)
	for _, kv := range list {
		kv := kv.(map[string]any)
		val, _ := kv["value"].(string)
		m[kv["key"].(string)] = val
	}
	return m
}
