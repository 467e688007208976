package promote

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/mlreg/mlreg-action/internal/mlflow"
)

// finder answers artifacts/list and logged-models/search from fixed data.
type finder struct {
	files     []mlflow.FileInfo
	listErr   error
	models    []mlflow.LoggedModel
	searchErr error
	filters   []string
}

func (f *finder) ListArtifacts(_ context.Context, _, _ string) ([]mlflow.FileInfo, error) {
	return f.files, f.listErr
}

func (f *finder) SearchLoggedModels(_ context.Context, exps []string, filter string) ([]mlflow.LoggedModel, error) {
	f.filters = append(f.filters, strings.Join(exps, ",")+" "+filter)
	return f.models, f.searchErr
}

func lm(id, run string, created int64) mlflow.LoggedModel {
	return mlflow.LoggedModel{Info: mlflow.LoggedModelInfo{ModelID: id, Name: "model", SourceRunID: run, CreationTimestampMs: created}}
}

func TestResolveRunsURI(t *testing.T) {
	t.Parallel()
	run := &mlflow.Run{
		Info: mlflow.RunInfo{RunID: "r1", ExperimentID: "7", ArtifactURI: "mlflow-artifacts:/7/r1/artifacts/"},
		Outputs: mlflow.RunOutputs{ModelOutputs: []mlflow.ModelOutput{
			{ModelID: "m-a", Step: 0}, {ModelID: "m-b", Step: 5}, {ModelID: "m-c", Step: 2}, {ModelID: "m-d", Step: 5},
		}},
	}
	notFound := &mlflow.Error{StatusCode: 404, Code: mlflow.CodeEndpointNotFound}
	denied := &mlflow.Error{StatusCode: 403, Code: mlflow.CodePermissionDenied, Message: "Permission denied"}
	cases := []struct {
		name        string
		f           *finder
		wantSource  string
		wantModelID string
		wantWhy     string
		wantErr     string
		wantInvalid bool
	}{
		{
			name:       "MLmodel in the run's artifacts wins over a logged model",
			f:          &finder{files: []mlflow.FileInfo{{Path: "model/conda.yaml"}, {Path: "model/MLmodel"}}, models: []mlflow.LoggedModel{lm("m-a", "r1", 1)}},
			wantSource: "mlflow-artifacts:/7/r1/artifacts/model", wantWhy: "the run's artifacts hold model/MLmodel",
		},
		{
			name:       "a directory named MLmodel is not a model",
			f:          &finder{files: []mlflow.FileInfo{{Path: "model/MLmodel", IsDir: true}}, models: []mlflow.LoggedModel{lm("m-a", "r1", 1)}},
			wantSource: "models:/m-a", wantModelID: "m-a",
		},
		{
			name:       "the run's own logged model, not another run's of the same name",
			f:          &finder{models: []mlflow.LoggedModel{lm("m-x", "other", 9), lm("m-a", "r1", 1)}},
			wantSource: "models:/m-a", wantModelID: "m-a", wantWhy: `the run's artifacts hold no MLmodel under "model": registering the run's logged model "model", models:/m-a`,
		},
		{
			name:       "the highest step",
			f:          &finder{models: []mlflow.LoggedModel{lm("m-c", "r1", 3), lm("m-b", "r1", 2), lm("m-a", "r1", 1)}},
			wantSource: "models:/m-b", wantModelID: "m-b", wantWhy: "(the highest step of 3)",
		},
		{
			name:       "a tie at the highest step goes to the newest",
			f:          &finder{models: []mlflow.LoggedModel{lm("m-b", "r1", 2), lm("m-d", "r1", 4), lm("m-a", "r1", 1)}},
			wantSource: "models:/m-d", wantModelID: "m-d",
		},
		{
			name:    "several, none among the run's outputs",
			f:       &finder{models: []mlflow.LoggedModel{lm("m-y", "r1", 2), lm("m-z", "r1", 1)}},
			wantErr: `run r1 has 2 logged models named "model" and lists none of them among its outputs: set input source to the one to register (models:/m-y, models:/m-z)`, wantInvalid: true,
		},
		{
			name:    "nothing at the path",
			f:       &finder{files: []mlflow.FileInfo{{Path: "model/notes.txt"}}, models: []mlflow.LoggedModel{lm("m-x", "other", 1)}},
			wantErr: `failed to find a model at runs:/r1/model: the run's artifacts hold no MLmodel under "model" and the run has no logged model named "model"`,
		},
		{
			name:       "MLflow 2.x: no logged-models API, the runs:/ URI as given",
			f:          &finder{searchErr: notFound},
			wantSource: "runs:/r1/model", wantWhy: "the server has no logged-models API (MLflow 2.x): registering runs:/r1/model as given",
		},
		{
			name:       "listing fails, the logged model is found",
			f:          &finder{listErr: errors.New("500 INTERNAL_ERROR: no credentials"), models: []mlflow.LoggedModel{lm("m-a", "r1", 1)}},
			wantSource: "models:/m-a", wantModelID: "m-a", wantWhy: "the run's artifacts could not be listed (500 INTERNAL_ERROR: no credentials)",
		},
		{
			name:    "listing fails and no logged model",
			f:       &finder{listErr: errors.New("500 INTERNAL_ERROR: no credentials")},
			wantErr: "the run's artifacts could not be listed (500 INTERNAL_ERROR: no credentials) and the run has no logged model named \"model\"; set input source",
		},
		{
			name:    "search refused",
			f:       &finder{searchErr: denied},
			wantErr: `failed to find the logged model "model" of run r1`,
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := resolveRunsURI(t.Context(), tc.f, run, &runsURI{source: "runs:/r1/model", runID: "r1", path: "model"})
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error = %v, want %q", err, tc.wantErr)
				}
				if got := errors.Is(err, ErrInvalid); got != tc.wantInvalid {
					t.Errorf("errors.Is(err, ErrInvalid) = %v, want %v", got, tc.wantInvalid)
				}
				return
			}
			if err != nil {
				t.Fatalf("error: %v", err)
			}
			if got.source != tc.wantSource || got.modelID != tc.wantModelID || !strings.Contains(got.why, tc.wantWhy) {
				t.Errorf("resolved %+v, want source %q, model id %q, why containing %q", got, tc.wantSource, tc.wantModelID, tc.wantWhy)
			}
			for _, f := range tc.f.filters {
				if f != "7 name = 'model'" {
					t.Errorf("searched %q, want experiment 7 and name = 'model'", f)
				}
			}
		})
	}
}

func TestRegisterRequestRunsSource(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		req  RegisterRequest
		want string // "" = valid
	}{
		{"runs:/ source", RegisterRequest{Model: "m", Source: "runs:/r1/model"}, ""},
		{"runs:/ source and the same run-id", RegisterRequest{Model: "m", Source: "runs:/r1/model", RunID: "r1"}, ""},
		{"runs:/ source without a path", RegisterRequest{Model: "m", Source: "runs:/r1"}, `input source: "runs:/r1" is not runs:/<run_id>/<artifact path>`},
		{"runs:/ source without a run", RegisterRequest{Model: "m", Source: "runs://model"}, `is not runs:/<run_id>/<artifact path>`},
		{"another run-id", RegisterRequest{Model: "m", Source: "runs:/r1/model", RunID: "r2"}, `input run-id "r2" differs from the run of input source "runs:/r1/model"`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			err := tc.req.Validate(mlflow.Rules{})
			switch {
			case tc.want == "" && err != nil:
				t.Errorf("Validate() = %v, want nil", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want) || !errors.Is(err, ErrInvalid)):
				t.Errorf("Validate() = %v, want an invalid-input error containing %q", err, tc.want)
			}
		})
	}
}
