package mlflowtest

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
)

// CreateNamedLoggedModel creates an MLflow 3 logged model called name in the experiment, with sourceRunID as
// its source run, and finalizes it to LOGGED_MODEL_READY, as log_model(name=...) leaves one (without the model
// files: use RunPython and MLflow's own log_model for a model that loads). It returns the model id.
func (f *Fixtures) CreateNamedLoggedModel(ctx context.Context, experimentID, sourceRunID, name string) (string, error) {
	body := map[string]any{"experiment_id": experimentID, "source_run_id": sourceRunID, "name": name}
	var created struct {
		Model struct {
			Info struct {
				ModelID string `json:"model_id"`
			} `json:"info"`
		} `json:"model"`
	}
	if err := f.Do(ctx, http.MethodPost, "logged-models", nil, body, &created); err != nil {
		return "", fmt.Errorf("failed to create logged model %q: %w", name, err)
	}
	id := created.Model.Info.ModelID
	final := map[string]any{"model_id": id, "status": "LOGGED_MODEL_READY"}
	if err := f.Do(ctx, http.MethodPatch, "logged-models/"+url.PathEscape(id), nil, final, nil); err != nil {
		return "", fmt.Errorf("failed to finalize logged model %s: %w", id, err)
	}
	return id, nil
}
