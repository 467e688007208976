package mlflow

import (
	"encoding/json"
	"math"
	"net/http"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// equateNaN makes NaN metric values equal to each other in cmp.Diff.
var equateNaN = cmp.Comparer(func(a, b MetricValue) bool {
	return a == b || (math.IsNaN(float64(a)) && math.IsNaN(float64(b)))
})

// Every form of metric value MLflow's protobuf JSON can carry is read.
func TestMetricValueForms(t *testing.T) {
	t.Parallel()
	inf := math.Inf(1)
	cases := []struct {
		value string // the JSON of "value"; "" leaves it out
		want  float64
	}{
		{`0.871`, 0.871},
		{`0.0`, 0},
		{`-3`, -3},
		{`1e-05`, 1e-05},
		{`1500000.0`, 1500000},
		{`"NaN"`, math.NaN()},
		{`"Infinity"`, inf},
		{`"-Infinity"`, -inf},
		// The SQL store saves ±inf as ±max float64 and sends that back.
		{`1.7976931348623157e+308`, inf},
		{`-1.7976931348623157e+308`, -inf},
		{`1.7976931348623157e308`, inf},
		{`"1.7976931348623157e+308"`, inf},
		// Proto JSON also allows a number in a string; a number too large for a float64 is infinite.
		{`"0.25"`, 0.25},
		{`"-1e3"`, -1000},
		{`1e400`, inf},
		{`-1e400`, -inf},
		// Other spellings of the same values (Go's, Python's repr).
		{`"Inf"`, inf},
		{`"-inf"`, -inf},
		{`"nan"`, math.NaN()},
		// No value: 0, as MLflow's client reads a metric without one.
		{``, 0},
		{`null`, 0},
		// The largest finite value below max float64 stays finite.
		{`1.7976931348623155e+308`, 1.7976931348623155e+308},
	}
	for _, tc := range cases {
		t.Run(tc.value, func(t *testing.T) {
			t.Parallel()
			body := `{"key": "val_auc", "timestamp": 1796230433261, "step": 3}`
			if tc.value != "" {
				body = `{"key": "val_auc", "value": ` + tc.value + `, "timestamp": 1796230433261, "step": 3}`
			}
			var got Metric
			if err := json.Unmarshal([]byte(body), &got); err != nil {
				t.Fatalf("Unmarshal(%s): %v", body, err)
			}
			want := Metric{Key: "val_auc", Value: MetricValue(tc.want), Timestamp: 1796230433261, Step: 3}
			if diff := cmp.Diff(want, got, equateNaN); diff != "" {
				t.Errorf("Unmarshal(%s) (-want +got):\n%s", body, diff)
			}
			if math.Signbit(float64(got.Value)) != math.Signbit(tc.want) && !math.IsNaN(tc.want) {
				t.Errorf("value %v has the wrong sign, want %v", got.Value, tc.want)
			}
		})
	}
}

// A value that is no number is an error that shows it.
func TestMetricValueNotANumber(t *testing.T) {
	t.Parallel()
	for _, value := range []string{`"abc"`, `""`, `" 0.5"`, `true`, `{}`, `[1]`, `"Infinity!"`} {
		t.Run(value, func(t *testing.T) {
			t.Parallel()
			var m Metric
			err := json.Unmarshal([]byte(`{"key": "val_auc", "value": `+value+`}`), &m)
			if err == nil {
				t.Fatalf("Unmarshal(%s) = %+v, want an error", value, m)
			}
			if want := "metric value " + value + " is not a "; !strings.Contains(err.Error(), want) {
				t.Errorf("error %q does not contain %q", err, want)
			}
		})
	}
}

// Lists of metrics with NaN and infinities decode in each answer that
// carries metrics. The bodies are what MLflow 3.17.2 sends for
// mlflow.log_metric(..., float("nan") / float("inf") / float("-inf")):
// the SQL store (SQLite and PostgreSQL) answers ±1.7976931348623157e+308 for
// ±inf, the file store "Infinity" and "-Infinity".
func TestNonFiniteMetricsInAnswers(t *testing.T) {
	t.Parallel()
	nan, inf := MetricValue(math.NaN()), MetricValue(math.Inf(1))
	bodies := map[string]string{
		api + "/runs/get": `{"run": {"info": {"run_id": "r1", "status": "FINISHED"}, "data": {"metrics": [
			{"key": "nan_m", "value": "NaN", "timestamp": 1, "step": 0},
			{"key": "pinf", "value": 1.7976931348623157e+308, "timestamp": 2, "step": 0},
			{"key": "ninf", "value": -1.7976931348623157e+308, "timestamp": 3, "step": 0},
			{"key": "file_pinf", "value": "Infinity", "timestamp": 4, "step": 0, "run_id": "r1"},
			{"key": "file_ninf", "value": "-Infinity", "timestamp": 5, "step": 0, "run_id": "r1"},
			{"key": "zero", "value": 0.0, "timestamp": 6, "step": 0},
			{"key": "val_auc", "value": 0.93, "timestamp": 7, "step": 0}]}}}`,
		api + "/metrics/get-history": `{"metrics": [
			{"key": "hist", "value": 0.5, "timestamp": 10, "step": 0},
			{"key": "hist", "value": "NaN", "timestamp": 11, "step": 1},
			{"key": "hist", "value": 0.7, "timestamp": 12, "step": 2},
			{"key": "hist", "value": 1.7976931348623157e+308, "timestamp": 13, "step": 3},
			{"key": "hist", "value": "-Infinity", "timestamp": 14, "step": 4}]}`,
		api + "/logged-models/m-0123": `{"model": {"info": {"model_id": "m-0123", "source_run_id": "r1"}, "data": {"metrics": [
			{"key": "lm_nan", "value": "NaN", "timestamp": 20, "step": 0, "model_id": "m-0123", "run_id": "r1", "dataset_name": "holdout", "dataset_digest": "d1"},
			{"key": "lm_inf", "value": 1.7976931348623157e+308, "timestamp": 21, "step": 0, "model_id": "m-0123", "run_id": "r1"},
			{"key": "lm_ninf", "value": "-Infinity", "timestamp": 22, "step": 0, "model_id": "m-0123", "run_id": "r1"},
			{"key": "acc", "value": 0.9, "timestamp": 23, "step": 1, "model_id": "m-0123", "run_id": "r1", "dataset_name": "holdout"}]}}}`,
	}
	srv := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		body, ok := bodies[r.URL.Path]
		if !ok {
			writeJSON(w, http.StatusNotFound, `{"error_code": "ENDPOINT_NOT_FOUND"}`)
			return
		}
		writeJSON(w, http.StatusOK, body)
	})
	c, _ := newTestClient(t, srv.URL, nil)
	ctx := t.Context()
	eq := equateNaN

	run, err := c.GetRun(ctx, "r1")
	if err != nil {
		t.Fatalf("GetRun: %v", err)
	}
	wantRun := []Metric{
		{Key: "nan_m", Value: nan, Timestamp: 1},
		{Key: "pinf", Value: inf, Timestamp: 2},
		{Key: "ninf", Value: -inf, Timestamp: 3},
		{Key: "file_pinf", Value: inf, Timestamp: 4, RunID: "r1"},
		{Key: "file_ninf", Value: -inf, Timestamp: 5, RunID: "r1"},
		{Key: "zero", Value: 0, Timestamp: 6},
		{Key: "val_auc", Value: 0.93, Timestamp: 7},
	}
	if diff := cmp.Diff(wantRun, run.Data.Metrics, eq); diff != "" {
		t.Errorf("GetRun metrics (-want +got):\n%s", diff)
	}

	hist, err := metricHistory(ctx, c, "r1", "hist")
	if err != nil {
		t.Fatalf("MetricHistoryPages: %v", err)
	}
	wantHist := []Metric{
		{Key: "hist", Value: 0.5, Timestamp: 10, Step: 0},
		{Key: "hist", Value: nan, Timestamp: 11, Step: 1},
		{Key: "hist", Value: 0.7, Timestamp: 12, Step: 2},
		{Key: "hist", Value: inf, Timestamp: 13, Step: 3},
		{Key: "hist", Value: -inf, Timestamp: 14, Step: 4},
	}
	if diff := cmp.Diff(wantHist, hist, eq); diff != "" {
		t.Errorf("metric history (-want +got):\n%s", diff)
	}

	lm, err := c.GetLoggedModel(ctx, "m-0123")
	if err != nil {
		t.Fatalf("GetLoggedModel: %v", err)
	}
	wantLM := []Metric{
		{Key: "lm_nan", Value: nan, Timestamp: 20, ModelID: "m-0123", RunID: "r1", DatasetName: "holdout", DatasetDigest: "d1"},
		{Key: "lm_inf", Value: inf, Timestamp: 21, ModelID: "m-0123", RunID: "r1"},
		{Key: "lm_ninf", Value: -inf, Timestamp: 22, ModelID: "m-0123", RunID: "r1"},
		{Key: "acc", Value: 0.9, Timestamp: 23, Step: 1, ModelID: "m-0123", RunID: "r1", DatasetName: "holdout"},
	}
	if diff := cmp.Diff(wantLM, lm.Data.Metrics, eq); diff != "" {
		t.Errorf("logged model metrics (-want +got):\n%s", diff)
	}
}

// A value that is no number makes the answer unreadable: a registry error
// that names the call and shows the value.
func TestMetricNotANumberInRun(t *testing.T) {
	t.Parallel()
	srv := newServer(t, func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, `{"run": {"info": {"run_id": "r1"}, "data": {"metrics": [
			{"key": "ok", "value": "NaN"}, {"key": "val_auc", "value": "high"}]}}}`)
	})
	c, _ := newTestClient(t, srv.URL, nil)
	_, err := c.GetRun(t.Context(), "r1")
	want := `failed to get run "r1": failed to decode response of GET /api/2.0/mlflow/runs/get`
	if err == nil || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), `metric value "high" is not a number`) {
		t.Errorf("GetRun error = %v, want one with %q showing the value", err, want)
	}
}

// A metric marshals as MLflow accepts it (protobuf JSON), and reads back.
func TestMetricValueRoundTrip(t *testing.T) {
	t.Parallel()
	for _, v := range []float64{0.871, 0, -3, 1e-05, 1e300, math.NaN(), math.Inf(1), math.Inf(-1)} {
		in := Metric{Key: "k", Value: MetricValue(v), Step: 2}
		b, err := json.Marshal(in)
		if err != nil {
			t.Fatalf("Marshal(%v): %v", v, err)
		}
		var out Metric
		if err := json.Unmarshal(b, &out); err != nil {
			t.Fatalf("Unmarshal(%s): %v", b, err)
		}
		if diff := cmp.Diff(in, out, equateNaN); diff != "" {
			t.Errorf("%s did not read back (-want +got):\n%s", b, diff)
		}
	}
	b, _ := json.Marshal([]MetricValue{MetricValue(math.NaN()), MetricValue(math.Inf(1)), MetricValue(math.Inf(-1)), 0.5})
	if want := `["NaN","Infinity","-Infinity",0.5]`; string(b) != want {
		t.Errorf("Marshal = %s, want %s", b, want)
	}
}
