package modeldigest_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/mlreg/mlreg-action/internal/modeldigest"
	"github.com/mlreg/mlreg-action/internal/testing/pytools"
)

// signScript signs each model directory given on the command line with
// model_signing's own CLI, `model_signing sign key DIR --private_key KEY
// --signature DIR/model.sig` (default hashing options), and prints, per
// directory, the subject digest and the resources of the in-toto statement
// inside the bundle it wrote.
const signScript = `
import base64, json, sys, tempfile, os
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from model_signing._cli import main
import model_signing

key = os.path.join(tempfile.mkdtemp(), "key.pem")
with open(key, "wb") as f:
    f.write(ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
out = {"version": model_signing.__version__}
for d in sys.argv[1:]:
    sig = os.path.join(d, "model.sig")
    main(["sign", "key", d, "--private_key", key, "--signature", sig], standalone_mode=False)
    with open(sig) as f:
        bundle = json.load(f)
    st = json.loads(base64.b64decode(bundle["dsseEnvelope"]["payload"]))
    out[d] = {"subject": "sha256:" + st["subject"][0]["digest"]["sha256"],
              "files": [[r["name"], r["digest"]] for r in st["predicate"]["resources"]]}
print(json.dumps(out))
`

type signed struct {
	Subject string      `json:"subject"`
	Files   [][2]string `json:"files"`
}

// writeTree creates files (path → content) below dir.
func writeTree(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for p, content := range files {
		full := filepath.Join(dir, filepath.FromSlash(p))
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// TestDigestEqualsModelSigning hashes model directories with Compute and
// signs the same directories with PyPI's model-signing 1.1.1: the root
// digest equals the statement's subject digest, and every file's digest its
// resource, in the same order.
func TestDigestEqualsModelSigning(t *testing.T) {
	t.Parallel()
	python := filepath.Join(filepath.Dir(pytools.Require(t, "model_signing")), "python")
	big := strings.Repeat("0123456789abcdef", (3<<20)/16) + "tail" // crosses model_signing's 1 MiB chunks and ours
	cases := map[string]map[string]string{
		"mlflow-like": {
			"MLmodel": "artifact_path: model\nflavors: {}\n", "conda.yaml": "name: x\n", "python_env.yaml": "python: 3.11\n",
			"requirements.txt": "scikit-learn\n", "model.pkl": big, "metadata/MLmodel": "nested\n",
		},
		"names": {
			// Python orders pathlib paths segment by segment: "a/b" < "a b" < "a-c" < "a_dir/f", unlike strings.
			"a/b": "1", "a b": "2", "a-c": "3", "a_dir/f": "4", "ab": "5", "A": "6", "empty": "",
			"sub/ünïcödé.txt": "ü", "sub/日本語/モデル.bin": "j", "sub/emoji-🤖": "e", "deep/x/y/z/w.txt": "w",
		},
		"git-and-signature": {
			// Left out: .git, .gitattributes, .github, .gitignore and model.sig at the root.
			".git/HEAD": "ref", ".git/objects/ab/cd": "obj", ".gitattributes": "*.bin lfs", ".github/workflows/x.yml": "on: push",
			".gitignore": "*.pyc", "model.sig": "an old signature",
			// Hashed: other .git* names and anything nested.
			".gitmodules": "[submodule]", ".gitkeep": "", "sub/.git/HEAD": "nested", "sub/.gitignore": "nested",
			"sub/model.sig": "nested sig", "weights.bin": "w",
		},
	}
	root := t.TempDir()
	var dirs []string
	for name, files := range cases {
		dir := filepath.Join(root, name)
		writeTree(t, dir, files)
		// An empty directory holds no file: both leave it out.
		if err := os.MkdirAll(filepath.Join(dir, "empty-dir"), 0o755); err != nil {
			t.Fatal(err)
		}
		dirs = append(dirs, dir)
	}

	// Only files that the digest leaves out: model_signing signs the digest of nothing; Compute refuses it.
	onlyIgnored := filepath.Join(root, "only-ignored")
	writeTree(t, onlyIgnored, map[string]string{".gitignore": "x", "model.sig": "s"})
	if m, err := modeldigest.Compute(t.Context(), modeldigest.Dir(onlyIgnored), modeldigest.Options{}); !errors.Is(err, modeldigest.ErrEmpty) {
		t.Errorf("a model of ignored files only: got %v, %v; want ErrEmpty", m, err)
	}

	// Hash first: signing writes model.sig, which the digest leaves out anyway.
	got := map[string]*modeldigest.Manifest{}
	for _, dir := range dirs {
		m, err := modeldigest.Compute(t.Context(), modeldigest.Dir(dir), modeldigest.Options{Concurrency: 3, BufferSize: 4096})
		if err != nil {
			t.Fatalf("%s: %v", dir, err)
		}
		got[dir] = m
	}

	cmd := exec.CommandContext(t.Context(), python, append([]string{"-c", signScript}, dirs...)...) //nolint:gosec // the tools venv's Python
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	stdout, err := cmd.Output()
	if err != nil {
		t.Fatalf("model_signing: %v\n%s", err, stderr.String())
	}
	// The CLI prints "Signing succeeded" per model; the script's JSON is the last line.
	lines := strings.Split(strings.TrimSpace(string(stdout)), "\n")
	var ref map[string]json.RawMessage
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &ref); err != nil {
		t.Fatalf("model_signing output %q: %v", stdout, err)
	}
	if v := string(ref["version"]); v != `"1.1.1"` {
		t.Fatalf("model_signing version %s, want 1.1.1 (the pinned reference)", v)
	}
	for _, dir := range dirs {
		want := signed{Files: [][2]string{}}
		if err := json.Unmarshal(ref[dir], &want); err != nil {
			t.Fatal(err)
		}
		m := got[dir]
		if m.Digest() != want.Subject {
			t.Errorf("%s: digest %s, model_signing signed %s", filepath.Base(dir), m.Digest(), want.Subject)
		}
		files := [][2]string{}
		for _, f := range m.Files() {
			files = append(files, [2]string{f.Path, f.Hex()})
		}
		if diff := cmp.Diff(want.Files, files); diff != "" {
			t.Errorf("%s: files (-model_signing +Compute):\n%s", filepath.Base(dir), diff)
		}
	}
}
