package modeldigest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
)

// Dir is the model in the local directory root: the directory a deploy job
// downloaded, or a file: artifact location. Symbolic links and special
// files below root are refused (root itself may be a link), and files are
// opened through os.Root, so nothing outside root is ever read.
func Dir(root string) Source { return dirSource{root: root} }

type dirSource struct{ root string }

func (d dirSource) String() string { return d.root }

func (d dirSource) List(ctx context.Context) ([]File, error) {
	info, err := os.Stat(d.root)
	if err != nil {
		return nil, fmt.Errorf("failed to read model directory %q: %w", d.root, bare(err))
	}
	if !info.IsDir() {
		return nil, fmt.Errorf("failed to read model directory %q: not a directory", d.root)
	}
	var out []File
	err = fs.WalkDir(os.DirFS(d.root), ".", func(p string, e fs.DirEntry, err error) error {
		if err != nil {
			return fmt.Errorf("failed to read model directory %q at %q: %w", d.root, p, bare(err))
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		switch t := e.Type(); {
		case p == ".", t.IsDir():
			return nil
		case t&fs.ModeSymlink != 0:
			return unsafePath(p, "it is a symbolic link")
		case !t.IsRegular():
			return unsafePath(p, fmt.Sprintf("it is not a regular file (%s)", t))
		}
		info, err := e.Info()
		if err != nil {
			return &PathError{Path: p, Op: "read", Err: bare(err)}
		}
		out = append(out, File{Path: p, Size: info.Size()})
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

func (d dirSource) Open(_ context.Context, path string) (io.ReadCloser, error) {
	if err := CheckPath(path); err != nil {
		return nil, err
	}
	r, err := os.OpenRoot(d.root)
	if err != nil {
		return nil, fmt.Errorf("failed to open model directory %q: %w", d.root, bare(err))
	}
	defer r.Close() //nolint:errcheck // the file opened below stays valid
	name := filepath.FromSlash(path)
	if info, err := r.Lstat(name); err != nil {
		return nil, bare(err)
	} else if !info.Mode().IsRegular() {
		return nil, fmt.Errorf("%w: it is not a regular file (%s)", ErrUnsafePath, info.Mode().Type())
	}
	f, err := r.Open(name)
	if err != nil {
		return nil, bare(err)
	}
	return f, nil
}

// bare drops the path an *fs.PathError repeats: the caller names the file.
func bare(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}
