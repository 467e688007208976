package artifact

import (
	"context"
	"fmt"
	"net/url"
	"path"
	"slices"

	"github.com/mlreg/mlreg-action/internal/modeldigest"
)

// localStore is a model in a local directory (a file: location).
type localStore struct {
	modeldigest.Source
	uri string
}

func (s *localStore) URI() string { return s.uri }

func newLocalStore(dir, uri string) Store {
	return &localStore{Source: modeldigest.Dir(dir), uri: uri}
}

// Local is the model in the local directory dir, e.g. the directory a
// deploy job downloaded (verify --path).
func Local(dir string) Store { return newLocalStore(dir, dir) }

// RegisteredModelMeta is the file MLflow's client writes at the root of a
// model it downloads from a models:/ URI (mlflow.artifacts.download_artifacts,
// mlflow.pyfunc.load_model), holding the model's name and version: it is
// not one of the registry's files.
const RegisteredModelMeta = "registered_model_meta"

// Download is the model that MLflow's client downloaded into dir, as a
// deploy job has it (verify --path): Local, without the
// registered_model_meta file that the download added beside MLmodel.
func Download(dir string) Store {
	return &downloadStore{localStore: localStore{Source: modeldigest.Dir(dir), uri: dir}}
}

type downloadStore struct{ localStore }

func (s *downloadStore) List(ctx context.Context) ([]modeldigest.File, error) {
	files, err := s.localStore.List(ctx)
	if err != nil {
		return nil, err //nolint:wrapcheck // modeldigest.Dir's, which names the directory
	}
	hasMLmodel := slices.ContainsFunc(files, func(f modeldigest.File) bool { return f.Path == "MLmodel" })
	return slices.DeleteFunc(files, func(f modeldigest.File) bool { return hasMLmodel && f.Path == RegisteredModelMeta }), nil
}

// localFromURI reads a file: URI as MLflow's local_file_uri_to_path does:
// file:///abs/path and file:/abs/path, on this machine only.
func localFromURI(loc string) (resolved, error) {
	u, err := url.Parse(loc)
	if err != nil {
		return resolved{}, fmt.Errorf("invalid model source %q: %w", redact(loc), err)
	}
	if u.Host != "" && u.Host != "localhost" {
		return resolved{}, &UnsupportedError{URI: redact(loc), Store: fmt.Sprintf("a file: URI of another host, %q", u.Host)}
	}
	if !path.IsAbs(u.Path) {
		return resolved{}, fmt.Errorf("invalid model source %q: a file: URI needs an absolute path", loc)
	}
	return resolved{store: newLocalStore(path.Clean(u.Path), "file://"+u.Path)}, nil
}
