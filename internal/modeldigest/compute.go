package modeldigest

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"slices"
	"sync"
)

// Defaults of Options.
const (
	// DefaultConcurrency is how many files are read and hashed at once.
	DefaultConcurrency = 4
	// DefaultBufferSize is the read buffer of each file being hashed; it
	// is model_signing's chunk size.
	DefaultBufferSize = 1 << 20
	// DefaultMaxFiles bounds a model's listing.
	DefaultMaxFiles = 100_000
)

// File is one file a Source lists.
type File struct {
	Path string // relative to the model root, "/"-separated
	Size int64  // bytes; negative when the source does not know
}

// Source is the files of one model. Implementations must be safe for
// concurrent use: Compute opens several files at once.
type Source interface {
	// List returns every regular file below the model root, recursively,
	// in any order. A symbolic link or a special file is an error wrapping
	// ErrUnsafePath, never skipped.
	List(ctx context.Context) ([]File, error)
	// Open returns the bytes of the file at path (as List named it).
	Open(ctx context.Context, path string) (io.ReadCloser, error)
}

// ErrEmpty is returned by Compute for a model without a file to hash: the
// digest of nothing proves nothing, and a store lists nothing at a location
// that does not exist.
var ErrEmpty = errors.New("the model has no files to hash: nothing is stored at its location")

// Options tunes Compute. The zero value is the defaults.
type Options struct {
	// Concurrency is how many files are read at once (0: DefaultConcurrency).
	Concurrency int
	// BufferSize is the read buffer of each file being hashed (0:
	// DefaultBufferSize). Memory is about Concurrency × BufferSize plus
	// what the source buffers, whatever the size of the model.
	BufferSize int
	// MaxFiles bounds the listing (0: DefaultMaxFiles).
	MaxFiles int
}

// Compute lists src, hashes every file that the digest covers and returns
// the manifest. It lists src again when every file is hashed, and fails
// (wrapping ErrChanged, naming the file) when the listing differs or a file
// did not hold the bytes it was listed with. The first failure stops the
// other reads; no manifest is returned with an error.
func Compute(ctx context.Context, src Source, opts Options) (*Manifest, error) {
	opts = opts.withDefaults()
	files, err := listModel(ctx, src, opts.MaxFiles)
	if err != nil {
		return nil, err
	}
	if len(files) == 0 {
		// model_signing signs an empty directory; for a registry source it
		// is almost always a location that holds nothing (a wrong path).
		return nil, ErrEmpty
	}
	digests, err := hashAll(ctx, src, files, opts)
	if err != nil {
		return nil, err
	}
	again, err := listModel(ctx, src, opts.MaxFiles)
	if err != nil {
		return nil, err
	}
	if err := sameListing(files, again); err != nil {
		return nil, err
	}
	return NewManifest(digests)
}

func (o Options) withDefaults() Options {
	if o.Concurrency <= 0 {
		o.Concurrency = DefaultConcurrency
	}
	if o.BufferSize <= 0 {
		o.BufferSize = DefaultBufferSize
	}
	if o.MaxFiles <= 0 {
		o.MaxFiles = DefaultMaxFiles
	}
	return o
}

// listModel lists src, checks every path, and leaves out what the digest
// does not cover. The files are in model_signing's order.
func listModel(ctx context.Context, src Source, maxFiles int) ([]File, error) {
	listed, err := src.List(ctx)
	if err != nil {
		return nil, fmt.Errorf("failed to list the model's files: %w", err)
	}
	if len(listed) > maxFiles {
		return nil, fmt.Errorf("failed to list the model's files: more than %d files", maxFiles)
	}
	seen := make(map[string]bool, len(listed))
	out := make([]File, 0, len(listed))
	for _, f := range listed {
		if err := CheckPath(f.Path); err != nil {
			return nil, err
		}
		if seen[f.Path] {
			return nil, &PathError{Path: f.Path, Err: errors.New("the file is listed twice")}
		}
		seen[f.Path] = true
		if !Ignored(f.Path) {
			out = append(out, f)
		}
	}
	sortFiles(out)
	return out, nil
}

func sortFiles(fs []File) {
	slices.SortFunc(fs, func(a, b File) int { return ComparePaths(a.Path, b.Path) })
}

// hashAll hashes files with opts.Concurrency workers, each with its own
// buffer. The first error cancels the other reads and is returned.
func hashAll(ctx context.Context, src Source, files []File, opts Options) ([]FileDigest, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		mu       sync.Mutex
		firstErr error
		out      = make([]FileDigest, len(files))
		next     = make(chan int)
		wg       sync.WaitGroup
	)
	fail := func(err error) {
		mu.Lock()
		if firstErr == nil {
			firstErr = err
		}
		mu.Unlock()
		cancel()
	}
	for range min(opts.Concurrency, len(files)) {
		wg.Go(func() {
			buf := make([]byte, opts.BufferSize)
			for i := range next {
				d, err := hashFile(ctx, src, files[i], buf)
				if err != nil {
					fail(err)
					continue
				}
				out[i] = d
			}
		})
	}
feed:
	for i := range files {
		select {
		case next <- i:
		case <-ctx.Done():
			break feed
		}
	}
	close(next)
	wg.Wait()
	if firstErr != nil {
		return nil, firstErr
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("failed to hash the model's files: %w", err)
	}
	return out, nil
}

func hashFile(ctx context.Context, src Source, f File, buf []byte) (FileDigest, error) {
	if err := ctx.Err(); err != nil {
		return FileDigest{}, &PathError{Path: f.Path, Op: "read", Err: err}
	}
	rc, err := src.Open(ctx, f.Path)
	if err != nil {
		return FileDigest{}, &PathError{Path: f.Path, Op: "open", Err: err}
	}
	defer rc.Close() //nolint:errcheck // read only: what was read is hashed, a close error loses nothing
	var r io.Reader = rc
	if f.Size >= 0 {
		r = io.LimitReader(rc, f.Size+1) // one byte more tells a file that grew
	}
	h := sha256.New()
	// The struct hides any WriterTo of r, so the copy goes through buf.
	n, err := io.CopyBuffer(h, struct{ io.Reader }{r}, buf)
	if err != nil {
		return FileDigest{}, &PathError{Path: f.Path, Op: "read", Err: err}
	}
	if f.Size >= 0 && n != f.Size {
		what := "the download was cut short, or the file shrank"
		if n > f.Size {
			what = "the file grew"
		}
		return FileDigest{}, &PathError{Path: f.Path, Op: "read",
			Err: fmt.Errorf("%w: listed with %d bytes, %s (read %d)", ErrChanged, f.Size, what, n)}
	}
	d := FileDigest{Path: f.Path, Size: n}
	h.Sum(d.SHA256[:0])
	return d, nil
}

// sameListing fails when the listing after hashing differs from the one
// before: a file added, removed, or listed with another size.
func sameListing(before, after []File) error {
	i, j := 0, 0
	for i < len(before) || j < len(after) {
		switch {
		case j == len(after) || (i < len(before) && ComparePaths(before[i].Path, after[j].Path) < 0):
			return &PathError{Path: before[i].Path, Err: fmt.Errorf("%w: the file was removed", ErrChanged)}
		case i == len(before) || ComparePaths(before[i].Path, after[j].Path) > 0:
			return &PathError{Path: after[j].Path, Err: fmt.Errorf("%w: the file was added", ErrChanged)}
		}
		b, a := before[i], after[j]
		if b.Size >= 0 && a.Size >= 0 && b.Size != a.Size {
			return &PathError{Path: b.Path,
				Err: fmt.Errorf("%w: its size went from %d to %d bytes", ErrChanged, b.Size, a.Size)}
		}
		i, j = i+1, j+1
	}
	return nil
}
