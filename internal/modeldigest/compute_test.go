package modeldigest_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/mlreg/mlreg-action/internal/modeldigest"
)

// memSource is a model in memory whose listing and streams a test can
// change: what a store does when someone replaces a file while it is hashed.
type memSource struct {
	mu      sync.Mutex
	files   map[string][]byte
	lists   int
	onList  func(n int, files map[string][]byte) // called before the nth List answers (1-based)
	open    func(ctx context.Context, path string, data []byte) (io.ReadCloser, error)
	listErr error
}

func (s *memSource) List(context.Context) ([]modeldigest.File, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.lists++
	if s.onList != nil {
		s.onList(s.lists, s.files)
	}
	if s.listErr != nil {
		return nil, s.listErr
	}
	var out []modeldigest.File
	for p, b := range s.files {
		out = append(out, modeldigest.File{Path: p, Size: int64(len(b))})
	}
	return out, nil
}

func (s *memSource) Open(ctx context.Context, path string) (io.ReadCloser, error) {
	s.mu.Lock()
	data, ok := s.files[path]
	s.mu.Unlock()
	if !ok {
		return nil, os.ErrNotExist
	}
	if s.open != nil {
		return s.open(ctx, path, data)
	}
	return io.NopCloser(bytes.NewReader(data)), nil
}

func files(kv ...string) map[string][]byte {
	m := map[string][]byte{}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = []byte(kv[i+1])
	}
	return m
}

func sum(s string) [32]byte { return sha256.Sum256([]byte(s)) }

func TestComputeRootDigest(t *testing.T) {
	t.Parallel()
	src := &memSource{files: files("b", "2", "a/x", "1", ".gitignore", "ignored", "model.sig", "ignored")}
	m, err := modeldigest.Compute(t.Context(), src, modeldigest.Options{})
	if err != nil {
		t.Fatal(err)
	}
	// sha256 over the raw file digests in order: a/x, then b.
	ax, b := sum("1"), sum("2")
	want := sha256.Sum256(append(ax[:], b[:]...))
	if m.Root() != want {
		t.Errorf("root %x, want %x", m.Root(), want)
	}
	if got := m.Digest(); got != fmt.Sprintf("sha256:%x", want) {
		t.Errorf("Digest() = %s", got)
	}
	if m.Size() != 2 || len(m.Files()) != 2 {
		t.Errorf("size %d, files %v", m.Size(), m.Files())
	}
}

func TestComparePaths(t *testing.T) {
	t.Parallel()
	// Python: sorted(pathlib.PurePosixPath(p) for p in ...)
	ordered := []string{"A", "a", "a/b", "a/b/c", "a b", "a-c", "a_dir/f", "ab", "b", "é", "日本"}
	for i := range ordered {
		for j := range ordered {
			want := 0
			if i < j {
				want = -1
			} else if i > j {
				want = 1
			}
			if got := modeldigest.ComparePaths(ordered[i], ordered[j]); got != want {
				t.Errorf("ComparePaths(%q, %q) = %d, want %d", ordered[i], ordered[j], got, want)
			}
		}
	}
}

func TestComputeRefusesUnsafePaths(t *testing.T) {
	t.Parallel()
	for _, p := range []string{"../escape", "a/../../b", "/etc/passwd", "a//b", "./a", "a/.", "", "bad\x00name", "\xff\xfe"} {
		src := &memSource{files: files("ok", "1", p, "x")}
		m, err := modeldigest.Compute(t.Context(), src, modeldigest.Options{})
		var pe *modeldigest.PathError
		if !errors.Is(err, modeldigest.ErrUnsafePath) || !errors.As(err, &pe) || pe.Path != p || m != nil {
			t.Errorf("path %q: got %v, %v; want a refusal naming it", p, m, err)
		}
	}
}

func TestDirRefusesLinksAndSpecialFiles(t *testing.T) {
	t.Parallel()
	outside := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(outside, []byte("secret"), 0o600); err != nil {
		t.Fatal(err)
	}
	cases := map[string]func(dir string) error{
		"weights.bin": func(dir string) error { return os.Symlink(outside, filepath.Join(dir, "weights.bin")) },
		"data":        func(dir string) error { return os.Symlink(filepath.Dir(outside), filepath.Join(dir, "data")) },
		"sub/inner":   func(dir string) error { return os.Symlink("../MLmodel", filepath.Join(dir, "sub", "inner")) },
		"fifo":        func(dir string) error { return syscall.Mkfifo(filepath.Join(dir, "fifo"), 0o600) },
	}
	for name, mk := range cases {
		dir := t.TempDir()
		writeTree(t, dir, map[string]string{"MLmodel": "x", "sub/ok": "y"})
		if err := mk(dir); err != nil {
			t.Fatal(err)
		}
		m, err := modeldigest.Compute(t.Context(), modeldigest.Dir(dir), modeldigest.Options{})
		if !errors.Is(err, modeldigest.ErrUnsafePath) || m != nil || !strings.Contains(err.Error(), fmt.Sprintf("%q", name)) {
			t.Errorf("%s: got %v; want a refusal naming it", name, err)
		}
	}
}

func TestDirOpenStaysInside(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	writeTree(t, dir, map[string]string{"MLmodel": "x"})
	if err := os.Symlink("/etc/hostname", filepath.Join(dir, "late")); err != nil {
		t.Fatal(err)
	}
	src := modeldigest.Dir(dir)
	for _, p := range []string{"late", "../" + filepath.Base(dir) + "/MLmodel", "/etc/hostname"} {
		if rc, err := src.Open(t.Context(), p); err == nil {
			rc.Close()
			t.Errorf("Open(%q) succeeded", p)
		}
	}
}

func TestComputeListingChanges(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name     string
		change   func(files map[string][]byte)
		wantPath string
		wantMsg  string
	}{
		{"added", func(f map[string][]byte) { f["sub/new.bin"] = []byte("n") }, "sub/new.bin", "the file was added"},
		{"removed", func(f map[string][]byte) { delete(f, "b") }, "b", "the file was removed"},
		{"resized", func(f map[string][]byte) { f["a"] = []byte("longer") }, "a", "its size went from 1 to 6 bytes"},
	}
	for _, tc := range cases {
		src := &memSource{files: files("a", "1", "b", "2"), onList: func(n int, f map[string][]byte) {
			if n == 2 {
				tc.change(f)
			}
		}}
		m, err := modeldigest.Compute(t.Context(), src, modeldigest.Options{})
		var pe *modeldigest.PathError
		if !errors.Is(err, modeldigest.ErrChanged) || !errors.As(err, &pe) || pe.Path != tc.wantPath ||
			!strings.Contains(err.Error(), tc.wantMsg) || m != nil {
			t.Errorf("%s: got %v", tc.name, err)
		}
	}
}

// TestComputeShortAndLongReads: a stream that ends early without an error (a
// store that closed it without saying so) or that holds more than listed.
func TestComputeShortAndLongReads(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name    string
		serve   func(data []byte) []byte
		wantMsg string
	}{
		{"short", func(d []byte) []byte { return d[:len(d)/2] }, "listed with 10 bytes, the download was cut short, or the file shrank (read 5)"},
		{"long", func(d []byte) []byte { return append(d, "more"...) }, "listed with 10 bytes, the file grew (read 11)"},
	} {
		src := &memSource{files: files("ok", "1", "weights.bin", "0123456789"),
			open: func(_ context.Context, path string, data []byte) (io.ReadCloser, error) {
				if path == "weights.bin" {
					data = tc.serve(data)
				}
				return io.NopCloser(bytes.NewReader(data)), nil
			}}
		_, err := modeldigest.Compute(t.Context(), src, modeldigest.Options{})
		want := `failed to read model file "weights.bin": the model changed while it was hashed: ` + tc.wantMsg
		if err == nil || err.Error() != want || !errors.Is(err, modeldigest.ErrChanged) {
			t.Errorf("%s: got %v\nwant %s", tc.name, err, want)
		}
	}
}

// TestComputeFirstErrorStops: when one file fails, the reads in flight are
// cancelled and Compute returns that file's error, not a cancellation.
func TestComputeFirstErrorStops(t *testing.T) {
	t.Parallel()
	broken := errors.New("403 Forbidden")
	var started sync.WaitGroup
	started.Add(3)
	src := &memSource{files: files("a", "1", "b", "2", "c", "3", "d", "4"),
		open: func(ctx context.Context, path string, data []byte) (io.ReadCloser, error) {
			if path == "d" {
				return nil, broken
			}
			started.Done()
			<-ctx.Done() // blocks until the failure of d cancels the others
			return nil, ctx.Err()
		}}
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute) // a hang fails the test instead
	defer cancel()
	_, err := modeldigest.Compute(ctx, src, modeldigest.Options{Concurrency: 4})
	if !errors.Is(err, broken) || err.Error() != `failed to open model file "d": 403 Forbidden` {
		t.Errorf("got %v", err)
	}
	if ctx.Err() != nil {
		t.Error("Compute waited for the deadline")
	}
}

// TestComputeConcurrency: files are read Concurrency at a time, never more.
func TestComputeConcurrency(t *testing.T) {
	t.Parallel()
	const n = 3
	kv := []string{}
	for i := range 20 {
		kv = append(kv, fmt.Sprintf("f%02d", i), strings.Repeat("x", i))
	}
	var (
		mu             sync.Mutex
		inflight, peak int
		ready          = make(chan struct{})
	)
	src := &memSource{files: files(kv...),
		open: func(ctx context.Context, _ string, data []byte) (io.ReadCloser, error) {
			mu.Lock()
			inflight++
			peak = max(peak, inflight)
			if inflight == n && ready != nil {
				close(ready) // the first n reads wait for each other: n run at once
				ready = nil
			}
			wait := ready
			mu.Unlock()
			if wait != nil {
				select {
				case <-wait:
				case <-ctx.Done():
					return nil, ctx.Err()
				}
			}
			return &closer{Reader: bytes.NewReader(data), close: func() {
				mu.Lock()
				inflight--
				mu.Unlock()
			}}, nil
		}}
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	if _, err := modeldigest.Compute(ctx, src, modeldigest.Options{Concurrency: n}); err != nil {
		t.Fatal(err)
	}
	if peak != n {
		t.Errorf("peak concurrency %d, want %d", peak, n)
	}
}

type closer struct {
	io.Reader
	close func()
}

func (c *closer) Close() error { c.close(); return nil }

// patternReader streams n bytes without holding them.
type patternReader struct{ left int64 }

func (r *patternReader) Read(p []byte) (int, error) {
	if r.left == 0 {
		return 0, io.EOF
	}
	n := int(min(int64(len(p)), r.left)) // the bytes are whatever p holds: only their count matters
	r.left -= int64(n)
	return n, nil
}

type streamSource struct {
	n    int
	size int64
}

func (s streamSource) List(context.Context) ([]modeldigest.File, error) {
	var out []modeldigest.File
	for i := range s.n {
		out = append(out, modeldigest.File{Path: fmt.Sprintf("shard-%02d.bin", i), Size: s.size})
	}
	return out, nil
}

func (s streamSource) Open(context.Context, string) (io.ReadCloser, error) {
	return io.NopCloser(&patternReader{left: s.size}), nil
}

// TestComputeStreams hashes 1 GiB and allocates a few buffers, not the files.
func TestComputeStreams(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("hashes 1 GiB")
	}
	src := streamSource{n: 8, size: 128 << 20}
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	m, err := modeldigest.Compute(t.Context(), src, modeldigest.Options{Concurrency: 4})
	runtime.ReadMemStats(&after)
	if err != nil {
		t.Fatal(err)
	}
	if m.Size() != 1<<30 {
		t.Fatalf("hashed %d bytes", m.Size())
	}
	// Four 1 MiB buffers plus small change; other tests of the package run in
	// parallel and allocate too, so the bound is loose but far below 1 GiB.
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 64<<20 {
		t.Errorf("allocated %d MiB to hash 1 GiB", alloc>>20)
	}
}

func TestCompare(t *testing.T) {
	t.Parallel()
	mk := func(kv ...string) *modeldigest.Manifest {
		var fs []modeldigest.FileDigest
		for i := 0; i+1 < len(kv); i += 2 {
			fs = append(fs, modeldigest.FileDigest{Path: kv[i], SHA256: sum(kv[i+1])})
		}
		m, err := modeldigest.NewManifest(fs)
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	recorded := mk("MLmodel", "1", "model.pkl", "2", "conda.yaml", "3", "a/b", "4")
	now := mk("MLmodel", "1", "model.pkl", "evil", "requirements.txt", "5", "a/b", "4", "a b", "6")
	got := modeldigest.Compare(recorded, now)
	want := modeldigest.Changes{Changed: []string{"model.pkl"}, Added: []string{"a b", "requirements.txt"}, Removed: []string{"conda.yaml"}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("changes (-want +got):\n%s", diff)
	}
	if !modeldigest.Compare(recorded, recorded).Empty() {
		t.Error("a manifest differs from itself")
	}
}

// TestManifestTextIsSha256sum: the text form round-trips, and GNU sha256sum
// checks it in the model directory.
func TestManifestTextIsSha256sum(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	writeTree(t, dir, map[string]string{"MLmodel": "m", "sub/a b.txt": "s", `back\slash`: "b", "line\nbreak": "l", "ü.bin": ""})
	m, err := modeldigest.Compute(t.Context(), modeldigest.Dir(dir), modeldigest.Options{})
	if err != nil {
		t.Fatal(err)
	}
	text, err := m.MarshalText()
	if err != nil {
		t.Fatal(err)
	}
	back, err := modeldigest.ParseManifest(text)
	if err != nil {
		t.Fatal(err)
	}
	if back.Digest() != m.Digest() || !modeldigest.Compare(m, back).Empty() {
		t.Errorf("round trip: %s vs %s", back.Digest(), m.Digest())
	}
	if _, err := exec.LookPath("sha256sum"); err != nil {
		t.Skip("no sha256sum")
	}
	cmd := exec.CommandContext(t.Context(), "sha256sum", "--strict", "-c", "-")
	cmd.Dir, cmd.Stdin = dir, bytes.NewReader(text)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Errorf("sha256sum -c: %v\n%s\n--- manifest ---\n%s", err, out, text)
	}
	for _, bad := range []string{"zz  a\n", strings.Repeat("0", 64) + " one-space\n", strings.Repeat("0", 64) + "  ../x\n"} {
		if _, err := modeldigest.ParseManifest([]byte(bad)); err == nil {
			t.Errorf("ParseManifest(%q) succeeded", bad)
		}
	}
}

func TestParseDigest(t *testing.T) {
	t.Parallel()
	ok := "sha256:" + strings.Repeat("AB", 32)
	if got, err := modeldigest.ParseDigest(ok); err != nil || got != strings.ToLower(ok) {
		t.Errorf("ParseDigest(%q) = %q, %v", ok, got, err)
	}
	for _, bad := range []string{"", "sha256:", "sha512:" + strings.Repeat("0", 64), "sha256:" + strings.Repeat("0", 63), strings.Repeat("0", 64)} {
		if _, err := modeldigest.ParseDigest(bad); err == nil {
			t.Errorf("ParseDigest(%q) succeeded", bad)
		}
	}
}
