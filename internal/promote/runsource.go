package promote

import (
	"context"
	"fmt"
	"path"
	"strings"

	"github.com/mlreg/mlreg-action/internal/registry"
)

// mlmodelFile is the file that makes a directory an MLflow model.
const mlmodelFile = "MLmodel"

// modelFinder is what resolveRunsURI reads.
type modelFinder interface {
	ListArtifacts(ctx context.Context, runID, path string) ([]registry.FileInfo, error)
	SearchLoggedModels(ctx context.Context, experimentIDs []string, filter string) ([]registry.LoggedModel, error)
}

// resolvedSource is what a runs:/ URI registers.
type resolvedSource struct {
	source  string
	modelID string // set when the source is a logged model
	why     string // which source was chosen, and why
}

// resolveRunsURI resolves runs:/<run>/<path> as MLflow's own register_model
// does (_register_model in mlflow/tracking/_model_registry/fluent.py), so that
// the version it registers loads with mlflow.pyfunc.load_model:
//
//   - when the run's artifacts hold MLmodel at path (a model logged the MLflow
//     2 way), the source is the run's artifact URI of path;
//   - otherwise it is the MLflow 3 logged model named path whose source run is
//     the run (log_model(name=...) stores the model under the logged model's
//     own artifact location, not in the run's artifacts); with several, the
//     one the run output at the highest step.
//
// A server without the logged-models API (MLflow 2.x) keeps the runs:/ URI as
// the source, as before: MLflow 2 resolves it when the version is loaded.
func resolveRunsURI(ctx context.Context, reg modelFinder, run *registry.Run, u *runsURI) (resolvedSource, error) {
	files, listErr := reg.ListArtifacts(ctx, u.runID, u.path)
	if listErr == nil {
		for _, f := range files {
			if path.Base(f.Path) == mlmodelFile && !f.IsDir {
				src := strings.TrimRight(run.Info.ArtifactURI, "/") + "/" + u.path
				return resolvedSource{source: src, why: fmt.Sprintf(
					"the run's artifacts hold %s/%s: registering the run's artifact URI %s", u.path, mlmodelFile, src)}, nil
			}
		}
	}

	q, err := registry.QuoteFilterValue(u.path)
	if err != nil {
		return resolvedSource{}, invalidf("input artifact-path: %v", err)
	}
	models, err := reg.SearchLoggedModels(ctx, []string{run.Info.ExperimentID}, "name = "+q)
	switch {
	case registry.IsEndpointNotFound(err):
		why := fmt.Sprintf("the server has no logged-models API (MLflow 2.x): registering %s as given", u.source)
		if listErr != nil {
			why += fmt.Sprintf(" (the run's artifacts could not be listed: %v)", listErr)
		}
		return resolvedSource{source: u.source, why: why}, nil
	case err != nil:
		return resolvedSource{}, fmt.Errorf("failed to find the logged model %q of run %s: %w", u.path, u.runID, err)
	}
	var own []registry.LoggedModel
	for _, m := range models {
		if m.Info.SourceRunID == u.runID {
			own = append(own, m)
		}
	}
	if len(own) == 0 {
		if listErr != nil {
			return resolvedSource{}, fmt.Errorf("failed to find a model at %s: the run's artifacts could not be listed "+
				"(%w) and the run has no logged model named %q; set input source to the model's URI instead",
				u.source, listErr, u.path)
		}
		return resolvedSource{}, fmt.Errorf("failed to find a model at %s: the run's artifacts hold no %s under %q "+
			"and the run has no logged model named %q (MLflow 3's log_model(name=%q))", u.source, mlmodelFile, u.path, u.path, u.path)
	}
	chosen, err := highestStep(run, own)
	if err != nil {
		return resolvedSource{}, err
	}
	src := "models:/" + chosen.Info.ModelID
	why := fmt.Sprintf("the run's artifacts hold no %s under %q: registering the run's logged model %q, %s",
		mlmodelFile, u.path, u.path, src)
	if len(own) > 1 {
		why += fmt.Sprintf(" (the highest step of %d)", len(own))
	}
	if listErr != nil {
		why = fmt.Sprintf("the run's artifacts could not be listed (%v): registering the run's logged model %q, %s",
			listErr, u.path, src)
	}
	return resolvedSource{source: src, modelID: chosen.Info.ModelID, why: why}, nil
}

// highestStep picks, among a run's logged models of one name, the one the run
// output at the highest step, as MLflow does; a tie goes to the newest, which
// is MLflow's too (its search lists the newest first).
func highestStep(run *registry.Run, models []registry.LoggedModel) (*registry.LoggedModel, error) {
	if len(models) == 1 {
		return &models[0], nil
	}
	step := map[string]int64{}
	for _, o := range run.Outputs.ModelOutputs {
		step[o.ModelID] = o.Step
	}
	var best *registry.LoggedModel
	for i := range models {
		m := &models[i]
		s, ok := step[m.Info.ModelID]
		if !ok {
			continue
		}
		if best == nil || s > step[best.Info.ModelID] ||
			(s == step[best.Info.ModelID] && m.Info.CreationTimestampMs > best.Info.CreationTimestampMs) {
			best = m
		}
	}
	if best == nil {
		ids := make([]string, len(models))
		for i, m := range models {
			ids[i] = "models:/" + m.Info.ModelID
		}
		return nil, invalidf("run %s has %d logged models named %q and lists none of them among its outputs: "+
			"set input source to the one to register (%s)", run.Info.RunID, len(models), models[0].Info.Name, strings.Join(ids, ", "))
	}
	return best, nil
}
