package artifact

import (
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/mlreg/mlreg-action/internal/modeldigest"
)

// proxyStore is a model below the tracking server's artifact proxy.
type proxyStore struct {
	proxy Proxy
	root  string // below the proxy's root, no leading or trailing "/"
	uri   string
}

func (s *proxyStore) URI() string { return s.uri }

// List walks the directory tree below root, one listing per directory.
func (s *proxyStore) List(ctx context.Context) ([]modeldigest.File, error) {
	var (
		out  []modeldigest.File
		dirs = []string{""} // relative to root
	)
	for len(dirs) > 0 {
		dir := dirs[0]
		dirs = dirs[1:]
		entries, err := s.proxy.ListProxiedArtifacts(ctx, s.join(dir))
		if err != nil {
			return nil, fmt.Errorf("failed to list %q: %w", s.uri, err)
		}
		for _, e := range entries {
			// The proxy answers bare names; one with a "/" (or "..") would
			// point elsewhere than the directory listed.
			if e.Name == "" || strings.Contains(e.Name, "/") {
				return nil, &modeldigest.PathError{Path: joinRel(dir, e.Name),
					Err: fmt.Errorf("%w: the artifact proxy listed a name that is not one path segment", modeldigest.ErrUnsafePath)}
			}
			rel := joinRel(dir, e.Name)
			if err := modeldigest.CheckPath(rel); err != nil {
				return nil, err
			}
			if e.IsDir {
				dirs = append(dirs, rel)
				continue
			}
			out = append(out, modeldigest.File{Path: rel, Size: e.Size})
			if len(out) > modeldigest.DefaultMaxFiles {
				return nil, fmt.Errorf("failed to list %q: more than %d files", s.uri, modeldigest.DefaultMaxFiles)
			}
		}
	}
	return out, nil
}

func (s *proxyStore) Open(ctx context.Context, path string) (io.ReadCloser, error) {
	if err := modeldigest.CheckPath(path); err != nil {
		return nil, err
	}
	rc, err := s.proxy.OpenProxiedArtifact(ctx, s.join(path))
	if err != nil {
		return nil, err //nolint:wrapcheck // it names the file; Compute adds which model's
	}
	return rc, nil
}

func (s *proxyStore) join(rel string) string { return joinRel(s.root, rel) }

func joinRel(dir, name string) string {
	if dir == "" {
		return name
	}
	if name == "" {
		return dir
	}
	return dir + "/" + name
}
