package artifact

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"path"
	"strings"
	"sync"

	"github.com/mlreg/mlreg-action/internal/mlflow"
	"github.com/mlreg/mlreg-action/internal/modeldigest"
)

// Store is the files of one model, where an artifact store keeps them.
type Store interface {
	modeldigest.Source
	// URI is the model's location as resolved (e.g. "s3://bucket/1/m-x/artifacts"),
	// without a password: for messages and reports.
	URI() string
}

// Tracking is what resolving a source asks the tracking server
// (*mlflow.Client).
type Tracking interface {
	GetRun(ctx context.Context, runID string) (*mlflow.Run, error)
	GetLoggedModel(ctx context.Context, modelID string) (*mlflow.LoggedModel, error)
	SearchLoggedModels(ctx context.Context, experimentIDs []string, filter string) ([]mlflow.LoggedModel, error)
}

// Proxy is the tracking server's artifact proxy (*mlflow.Client).
type Proxy interface {
	ListProxiedArtifacts(ctx context.Context, dir string) ([]mlflow.ProxyEntry, error)
	OpenProxiedArtifact(ctx context.Context, path string) (io.ReadCloser, error)
}

// Supported lists the sources Open reads, for messages.
const Supported = "mlflow-artifacts: (the tracking server's artifact proxy), models:/m-<id> (MLflow 3 logged models), " +
	"runs:/<run>/<path>, file: and s3://"

// UnsupportedError is a source in a store that mlreg-action cannot read.
type UnsupportedError struct {
	Store string // what it is, e.g. `"gs"`, or a sentence for a refused form
	URI   string // the source or resolved location, without a password
}

func (e *UnsupportedError) Error() string {
	return fmt.Sprintf("the model's files at %q are in an artifact store mlreg-action does not read (%s): it reads %s",
		e.URI, e.Store, Supported)
}

// IsUnsupported reports whether err is (or wraps) an *UnsupportedError.
func IsUnsupported(err error) bool {
	var u *UnsupportedError
	return errors.As(err, &u)
}

// maxHops bounds a chain of sources that name other sources (runs:/ to
// models:/ to mlflow-artifacts:).
const maxHops = 4

// Resolver opens the store of a model version's source. It is safe for
// concurrent use.
type Resolver struct {
	Tracking Tracking
	Proxy    Proxy
	// TrackingURI is the tracking server's URL: an mlflow-artifacts URI
	// naming another host is refused.
	TrackingURI string
	S3          S3Options

	s3once sync.Once
	s3     *s3Client
	s3err  error
}

// Open resolves source (a model version's source, as the registry stores
// it) and returns the store that holds its files.
func (r *Resolver) Open(ctx context.Context, source string) (Store, error) {
	loc := source
	for range maxHops {
		next, err := r.resolveOnce(ctx, loc)
		if err != nil {
			return nil, err
		}
		if next.store != nil {
			return next.store, nil
		}
		loc = next.uri
	}
	return nil, fmt.Errorf("failed to resolve model source %q: more than %d sources name each other", redact(source), maxHops)
}

type resolved struct {
	store Store  // the end of the chain
	uri   string // or another source to resolve
}

func (r *Resolver) resolveOnce(ctx context.Context, loc string) (resolved, error) {
	scheme, rest, ok := strings.Cut(loc, ":")
	if !ok || strings.HasPrefix(loc, "/") {
		if path.IsAbs(loc) {
			return resolved{store: newLocalStore(loc, "file://"+loc)}, nil
		}
		return resolved{}, fmt.Errorf("invalid model source %q: neither a URI nor an absolute path", redact(loc))
	}
	switch strings.ToLower(scheme) {
	case "models":
		return r.resolveModels(ctx, loc, rest)
	case "runs":
		return r.resolveRuns(ctx, loc, rest)
	case "mlflow-artifacts":
		return r.proxyStore(loc)
	case "file":
		return localFromURI(loc)
	case "s3":
		return r.s3Store(ctx, loc)
	}
	return resolved{}, &UnsupportedError{Store: fmt.Sprintf("%q", strings.ToLower(scheme)), URI: redact(loc)}
}

// resolveModels follows models:/m-<id> to the logged model's artifact
// location, as MLflow's ModelsArtifactRepository does for logged models.
func (r *Resolver) resolveModels(ctx context.Context, loc, rest string) (resolved, error) {
	id := strings.TrimPrefix(rest, "/")
	if !strings.HasPrefix(id, "m-") || strings.ContainsAny(id, "/@") {
		return resolved{}, &UnsupportedError{URI: redact(loc),
			Store: "a models:/<name>/<version> or models:/<name>@<alias> source, a version registered from another version"}
	}
	lm, err := r.Tracking.GetLoggedModel(ctx, id)
	if err != nil {
		return resolved{}, fmt.Errorf("failed to resolve model source %q: %w", loc, err)
	}
	if lm.Info.ArtifactURI == "" {
		return resolved{}, fmt.Errorf("failed to resolve model source %q: the logged model has no artifact location", loc)
	}
	return resolved{uri: lm.Info.ArtifactURI}, nil
}

// resolveRuns follows runs:/<run>/<name>[/<rest>] as MLflow 3's
// RunsArtifactRepository reads it: the run's artifacts at <name>/<rest>,
// together with the files at <rest> of the run's logged model called <name>
// (log_model(name=...) keeps a model there, not in the run's artifacts);
// where both hold a file, the logged model's wins, as in MLflow's download.
func (r *Resolver) resolveRuns(ctx context.Context, loc, rest string) (resolved, error) {
	runID, sub, _ := strings.Cut(strings.TrimPrefix(rest, "/"), "/")
	sub = strings.Trim(sub, "/")
	if runID == "" {
		return resolved{}, fmt.Errorf("invalid model source %q: want runs:/<run_id>/<path>", loc)
	}
	if sub != "" {
		if err := modeldigest.CheckPath(sub); err != nil {
			return resolved{}, fmt.Errorf("invalid model source %q: %w", loc, err)
		}
	}
	run, err := r.Tracking.GetRun(ctx, runID)
	if err != nil {
		return resolved{}, fmt.Errorf("failed to resolve model source %q: %w", loc, err)
	}
	base := strings.TrimRight(run.Info.ArtifactURI, "/")
	if base == "" {
		return resolved{}, fmt.Errorf("failed to resolve model source %q: the run has no artifact URI", loc)
	}
	if sub == "" {
		return resolved{uri: base}, nil
	}
	runLoc := base + "/" + sub
	name, modelRest, _ := strings.Cut(sub, "/")
	lm, err := r.runModel(ctx, run, name)
	if err != nil {
		return resolved{}, fmt.Errorf("failed to resolve model source %q: %w", loc, err)
	}
	if lm == nil {
		return resolved{uri: runLoc}, nil
	}
	modelLoc := strings.TrimRight(lm.Info.ArtifactURI, "/")
	if modelRest != "" {
		modelLoc += "/" + modelRest
	}
	runStore, err := r.Open(ctx, runLoc)
	if err != nil {
		return resolved{}, err
	}
	modelStore, err := r.Open(ctx, modelLoc)
	if err != nil {
		return resolved{}, err
	}
	return resolved{store: &unionStore{under: runStore, over: modelStore, uri: redact(loc)}}, nil
}

// runModel is the logged model called name whose source run is run, as
// MLflow picks it (the first the search returns), or nil.
func (r *Resolver) runModel(ctx context.Context, run *mlflow.Run, name string) (*mlflow.LoggedModel, error) {
	quoted := "'" + name + "'"
	switch {
	case !strings.Contains(name, "'"):
	case !strings.Contains(name, `"`):
		quoted = `"` + name + `"`
	default:
		return nil, nil // MLflow's filter cannot name it, so MLflow finds no model either
	}
	models, err := r.Tracking.SearchLoggedModels(ctx, []string{run.Info.ExperimentID}, "name = "+quoted)
	if err != nil {
		return nil, err //nolint:wrapcheck // it says which search; the caller names the source
	}
	for i := range models {
		if models[i].Info.SourceRunID == run.Info.RunID && models[i].Info.Name == name {
			return &models[i], nil
		}
	}
	return nil, nil
}

// proxyStore is the tracking server's artifact proxy at an
// mlflow-artifacts URI, as MlflowArtifactsRepository.resolve_uri reads it.
func (r *Resolver) proxyStore(loc string) (resolved, error) {
	u, err := url.Parse(loc)
	if err != nil {
		return resolved{}, fmt.Errorf("invalid model source %q: %w", redact(loc), err)
	}
	if u.Host != "" {
		t, err := url.Parse(r.TrackingURI)
		if err != nil || !strings.EqualFold(u.Host, t.Host) {
			return resolved{}, &UnsupportedError{URI: redact(loc),
				Store: fmt.Sprintf("an artifact proxy on another server, %q, than the tracking server, to which the credentials are not sent", u.Host)}
		}
	}
	dir := strings.Trim(u.Path, "/")
	if dir != "" {
		if err := modeldigest.CheckPath(dir); err != nil {
			return resolved{}, fmt.Errorf("invalid model source %q: %w", redact(loc), err)
		}
	}
	return resolved{store: &proxyStore{proxy: r.Proxy, root: dir, uri: "mlflow-artifacts:/" + dir}}, nil
}

// redact hides what in a source may be a secret (user info, query values,
// the fragment), for messages: the tool's one URL redactor, mlflow.RedactURL.
func redact(s string) string { return mlflow.RedactURL(s) }
