package artifact

import (
	"context"
	"errors"
	"io"
	"io/fs"
	"sync"

	"github.com/mlreg/mlreg-action/internal/modeldigest"
)

// unionStore is two stores read as one, over's files hiding under's of the
// same path: a runs:/ location, the run's artifacts under its logged model's.
type unionStore struct {
	under, over Store
	uri         string

	mu   sync.Mutex
	from map[string]Store // the store each listed path is read from
}

func (s *unionStore) URI() string { return s.uri }

func (s *unionStore) List(ctx context.Context) ([]modeldigest.File, error) {
	under, err := s.under.List(ctx)
	if err != nil && !errors.Is(err, fs.ErrNotExist) { // a local run directory without the path holds nothing
		return nil, err //nolint:wrapcheck // the store names itself
	}
	over, err := s.over.List(ctx)
	if err != nil {
		return nil, err //nolint:wrapcheck // the store names itself
	}
	from := make(map[string]Store, len(under)+len(over))
	byPath := make(map[string]modeldigest.File, len(under)+len(over))
	for _, f := range under {
		from[f.Path], byPath[f.Path] = s.under, f
	}
	for _, f := range over {
		from[f.Path], byPath[f.Path] = s.over, f
	}
	out := make([]modeldigest.File, 0, len(byPath))
	for _, f := range byPath {
		out = append(out, f)
	}
	s.mu.Lock()
	s.from = from
	s.mu.Unlock()
	return out, nil
}

func (s *unionStore) Open(ctx context.Context, path string) (io.ReadCloser, error) {
	s.mu.Lock()
	st, ok := s.from[path]
	s.mu.Unlock()
	if !ok {
		st = s.over
	}
	return st.Open(ctx, path) //nolint:wrapcheck // the store names the file
}
