package modeldigest

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"
	"unicode/utf8"
)

// Prefix starts the string form of a root digest: "sha256:<64 hex>".
const Prefix = "sha256:"

// SignatureFile is the OpenSSF model signing bundle's default name in the
// model directory; it is never part of the digest.
const SignatureFile = "model.sig"

// ignoredRoots are the paths model_signing's default hashing configuration
// leaves out, relative to the model root (model_signing.hashing.Config with
// ignore_git_paths=True, plus the signature its CLI writes): a file is left
// out when its first path segment is one of them.
var ignoredRoots = []string{".git", ".gitattributes", ".github", ".gitignore", SignatureFile}

// Ignored reports whether path, relative to the model root, is left out of
// the digest.
func Ignored(path string) bool {
	first, _, _ := strings.Cut(path, "/")
	return slices.Contains(ignoredRoots, first)
}

// ErrUnsafePath is wrapped by the error for a path that is refused: a
// symbolic link, a special file, an absolute path, a "." or ".." segment, an
// empty segment, a NUL byte or a name that is not UTF-8.
var ErrUnsafePath = errors.New("refused")

// ErrChanged is wrapped by the error for a model whose files changed while
// they were hashed: a file whose size differs from its listed size, or a
// listing that differs when it is read again.
var ErrChanged = errors.New("the model changed while it was hashed")

// PathError is a problem with one file of a model.
type PathError struct {
	Path string
	Op   string // what failed ("open", "read"), "" when the path itself is the problem
	Err  error
}

func (e *PathError) Error() string {
	if e.Op == "" {
		return fmt.Sprintf("model file %q: %v", e.Path, e.Err)
	}
	return fmt.Sprintf("failed to %s model file %q: %v", e.Op, e.Path, e.Err)
}

func (e *PathError) Unwrap() error { return e.Err }

func unsafePath(path, why string) error {
	return &PathError{Path: path, Err: fmt.Errorf("%w: %s", ErrUnsafePath, why)}
}

// CheckPath refuses a path that cannot name a file inside a model root: it
// must be relative, "/"-separated, valid UTF-8, without NUL and without
// empty, "." or ".." segments.
func CheckPath(path string) error {
	switch {
	case path == "":
		return unsafePath(path, "the path is empty")
	case !utf8.ValidString(path):
		return unsafePath(path, "the name is not valid UTF-8")
	case strings.ContainsRune(path, 0):
		return unsafePath(path, "the name holds a NUL byte")
	case strings.HasPrefix(path, "/"):
		return unsafePath(path, "the path is absolute")
	}
	for seg := range strings.SplitSeq(path, "/") {
		switch seg {
		case "":
			return unsafePath(path, "the path has an empty segment")
		case ".", "..":
			return unsafePath(path, fmt.Sprintf("the path has a %q segment", seg))
		}
	}
	return nil
}

// FileDigest is one file of a Manifest.
type FileDigest struct {
	Path   string // relative to the model root, "/"-separated
	Size   int64  // bytes hashed; -1 when unknown (a manifest read from text)
	SHA256 [sha256.Size]byte
}

// Hex is the file's digest in lower-case hex.
func (f FileDigest) Hex() string { return hex.EncodeToString(f.SHA256[:]) }

// Manifest is the digest of a model: each file's digest, in model_signing's
// order, and the root digest over them.
type Manifest struct {
	files []FileDigest
	root  [sha256.Size]byte
}

// NewManifest builds the manifest of files (in any order): it checks each
// path, refuses a path given twice and files that the digest leaves out (see
// Ignored), orders them and computes the root digest. Use it for per-file
// digests recorded elsewhere (a signature's resources, an earlier manifest).
func NewManifest(files []FileDigest) (*Manifest, error) {
	out := slices.Clone(files)
	for _, f := range out {
		if err := CheckPath(f.Path); err != nil {
			return nil, err
		}
		if Ignored(f.Path) {
			return nil, &PathError{Path: f.Path, Err: errors.New("the digest leaves this path out")}
		}
	}
	slices.SortFunc(out, func(a, b FileDigest) int { return ComparePaths(a.Path, b.Path) })
	for i := 1; i < len(out); i++ {
		if out[i].Path == out[i-1].Path {
			return nil, &PathError{Path: out[i].Path, Err: errors.New("the file is listed twice")}
		}
	}
	m := &Manifest{files: out}
	h := sha256.New()
	for _, f := range out {
		h.Write(f.SHA256[:])
	}
	h.Sum(m.root[:0])
	return m, nil
}

// Files returns the manifest's files in order. The caller must not change
// the slice.
func (m *Manifest) Files() []FileDigest { return m.files }

// Root returns the root digest.
func (m *Manifest) Root() [sha256.Size]byte { return m.root }

// Digest returns the root digest as "sha256:<hex>", the form of the
// model-digest output and the promotion record's model_digest.
func (m *Manifest) Digest() string { return Prefix + hex.EncodeToString(m.root[:]) }

// Size returns the number of bytes hashed (unknown sizes count 0).
func (m *Manifest) Size() int64 {
	var n int64
	for _, f := range m.files {
		n += max(f.Size, 0)
	}
	return n
}

// ParseDigest checks that s is a root digest in the form Digest returns and
// returns it in lower case.
func ParseDigest(s string) (string, error) {
	h, ok := strings.CutPrefix(s, Prefix)
	if !ok {
		return "", fmt.Errorf("invalid model digest %q: it must start with %q", s, Prefix)
	}
	if b, err := hex.DecodeString(h); err != nil || len(b) != sha256.Size {
		return "", fmt.Errorf("invalid model digest %q: %q must be followed by %d hex digits", s, Prefix, 2*sha256.Size)
	}
	return Prefix + strings.ToLower(h), nil
}

// ComparePaths orders paths as model_signing does (Python's sorting of
// pathlib paths): segment by segment, each segment by its bytes (which for
// UTF-8 is the order of code points). It returns -1, 0 or +1.
func ComparePaths(a, b string) int {
	for i := 0; i < len(a) && i < len(b); i++ {
		ca, cb := a[i], b[i]
		if ca == cb {
			continue
		}
		// A segment ends before any byte that continues the other one.
		switch {
		case ca == '/':
			return -1
		case cb == '/':
			return +1
		case ca < cb:
			return -1
		default:
			return +1
		}
	}
	switch {
	case len(a) < len(b):
		return -1
	case len(a) > len(b):
		return +1
	}
	return 0
}

// Changes is how the files of a model differ from the files recorded for
// it. Each list is in model_signing's order.
type Changes struct {
	Changed []string // in both, with another digest
	Added   []string // only in the model
	Removed []string // only in the record
}

// Empty reports whether nothing differs.
func (c Changes) Empty() bool { return len(c.Changed)+len(c.Added)+len(c.Removed) == 0 }

// Compare lists how got (the files as they are) differs from want (as they
// were recorded).
func Compare(want, got *Manifest) Changes {
	var c Changes
	w, g := want.files, got.files
	for len(w) > 0 || len(g) > 0 {
		switch {
		case len(g) == 0 || (len(w) > 0 && ComparePaths(w[0].Path, g[0].Path) < 0):
			c.Removed = append(c.Removed, w[0].Path)
			w = w[1:]
		case len(w) == 0 || ComparePaths(w[0].Path, g[0].Path) > 0:
			c.Added = append(c.Added, g[0].Path)
			g = g[1:]
		default:
			if w[0].SHA256 != g[0].SHA256 {
				c.Changed = append(c.Changed, g[0].Path)
			}
			w, g = w[1:], g[1:]
		}
	}
	return c
}
