package artifact_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/mlreg/mlreg-action/internal/artifact"
	"github.com/mlreg/mlreg-action/internal/mlflow"
	"github.com/mlreg/mlreg-action/internal/modeldigest"
	"github.com/mlreg/mlreg-action/internal/testing/faultproxy"
	"github.com/mlreg/mlreg-action/internal/testing/mlflowtest"
)

func resolver(c *mlflow.Client) *artifact.Resolver {
	return &artifact.Resolver{Tracking: c, Proxy: c, TrackingURI: c.BaseURL()}
}

func digestOf(ctx context.Context, r *artifact.Resolver, source string, opts modeldigest.Options) (*modeldigest.Manifest, error) {
	st, err := r.Open(ctx, source)
	if err != nil {
		return nil, err
	}
	return modeldigest.Compute(ctx, st, opts)
}

func fileList(m *modeldigest.Manifest) []string {
	var out []string
	for _, f := range m.Files() {
		out = append(out, f.Path+" "+f.Hex())
	}
	return out
}

// TestDigestThroughProxy hashes models that MLflow's Python API logged,
// reading each source as MLflow resolves it, and compares with the digest of
// the directory MLflow's own client downloaded for the same model.
func TestDigestThroughProxy(t *testing.T) {
	t.Parallel()
	s := mlflowtest.RequireServer(t, srv)
	ms := models(t)
	c := client(t, s.URL)
	mv, err := c.GetModelVersion(t.Context(), fixtureName, ms["sklearn"].Version)
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name, source, download, wantURI string
	}{
		{"version source models:/m-<id>", mv.Source, ms["sklearn"].Download, "mlflow-artifacts:/"},
		{"pyfunc logged model", "models:/" + ms["pyfunc"].ModelID, ms["pyfunc"].Download, "mlflow-artifacts:/"},
		{"runs:/ (MLflow 2 layout)", ms["mlflow2"].URI, ms["mlflow2"].Download, "mlflow-artifacts:/"},
		{"runs:/ of a log_model(name=...)", ms["sklearn-run"].URI, ms["sklearn-run"].Download, "runs:/"},
		{"runs:/ with run artifacts and a logged model", ms["mixed"].URI, ms["mixed"].Download, "runs:/"},
		{"mlflow-artifacts:/", ms["mlflow2"].ArtifactURI + "/model", ms["mlflow2"].Download, "mlflow-artifacts:/"},
		{"file: (the download)", "file://" + ms["pyfunc"].Download, ms["pyfunc"].Download, "file://"},
	}
	if mv.Source != "models:/"+ms["sklearn"].ModelID {
		t.Fatalf("version source %q, want models:/%s", mv.Source, ms["sklearn"].ModelID)
	}
	r := resolver(c)
	for _, tc := range cases {
		st, err := r.Open(t.Context(), tc.source)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if !strings.HasPrefix(st.URI(), tc.wantURI) {
			t.Errorf("%s: store %s, want %s...", tc.name, st.URI(), tc.wantURI)
		}
		got, err := modeldigest.Compute(t.Context(), st, modeldigest.Options{})
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		// MLflow's download adds registered_model_meta, which a file: location holds like any other file.
		dl := artifact.Download(tc.download)
		if strings.HasPrefix(tc.source, "file:") {
			dl = artifact.Local(tc.download)
		}
		want, err := modeldigest.Compute(t.Context(), dl, modeldigest.Options{})
		if err != nil {
			t.Fatal(err)
		}
		if got.Digest() != want.Digest() {
			t.Errorf("%s: digest %s, MLflow's download hashes to %s", tc.name, got.Digest(), want.Digest())
		}
		if diff := cmp.Diff(fileList(want), fileList(got)); diff != "" {
			t.Errorf("%s: files (-download +store):\n%s", tc.name, diff)
		}
		if !strings.Contains(strings.Join(fileList(got), "\n"), "MLmodel ") {
			t.Errorf("%s: no MLmodel among %v", tc.name, fileList(got))
		}
	}
	// runs:/ of a log_model(name=...) is that logged model's files; with run artifacts at the same path
	// too, the union.
	if a, b := mustDigest(t, r, ms["sklearn-run"].URI), mustDigest(t, r, mv.Source); a.Digest() != b.Digest() {
		t.Errorf("runs:/ of the logged model hashes to %s, the version's source to %s", a.Digest(), b.Digest())
	}
	if got := fileList(mustDigest(t, r, ms["mixed"].URI)); !strings.Contains(strings.Join(got, "\n"), "only-in-the-run.txt ") {
		t.Errorf("mixed: the run's own file is missing from %v", got)
	}
	// The pyfunc model's artifacts: nested, empty and non-ASCII names, all hashed.
	py, err := digestOf(t.Context(), r, cases[1].source, modeldigest.Options{})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, f := range py.Files() {
		if strings.HasPrefix(f.Path, "artifacts/") {
			names = append(names, f.Path)
		}
	}
	want := []string{"artifacts/data/a b/c-d.txt", "artifacts/data/empty.txt", "artifacts/data/nested/deeper/weights.bin", "artifacts/data/ünïcödé/日本語.json"}
	if diff := cmp.Diff(want, names); diff != "" {
		t.Errorf("pyfunc artifacts (-want +got):\n%s", diff)
	}
}

// TestProxyFaults breaks the server's answers with the fault proxy: each
// failure is an error naming the file or the listing, no digest comes back,
// and a rerun without the fault gives the digest.
func TestProxyFaults(t *testing.T) {
	t.Parallel()
	s := mlflowtest.RequireServer(t, srv)
	ms := models(t)
	source := ms["mlflow2"].URI
	clean, err := digestOf(t.Context(), resolver(client(t, s.URL)), source, modeldigest.Options{})
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name  string
		rule  faultproxy.Rule
		want  []string // in the error
		count int      // requests the rule's path saw
	}{
		{
			name: "403 on a download",
			rule: faultproxy.Rule{Method: "GET", Path: "/model/requirements.txt", Fault: faultproxy.Status(http.StatusForbidden)},
			want: []string{`failed to open model file "requirements.txt"`, "403", "/api/2.0/mlflow-artifacts/artifacts/"},
		},
		{
			name: "truncated download",
			rule: faultproxy.Rule{Method: "GET", Path: "/model/MLmodel", Fault: faultproxy.Truncate()},
			want: []string{`failed to read model file "MLmodel"`, "unexpected EOF"},
		},
		{
			name: "403 on the listing",
			rule: faultproxy.Rule{Method: "GET", Path: "/mlflow-artifacts/artifacts", Fault: faultproxy.Status(http.StatusForbidden)},
			want: []string{"failed to list the model's files", `failed to list "mlflow-artifacts:/`, "403"},
		},
		{
			name: "the artifact proxy is off (--no-serve-artifacts)",
			rule: faultproxy.Rule{Method: "GET", Path: "/mlflow-artifacts/artifacts", Fault: faultproxy.Status(http.StatusNotFound)},
			want: []string{`failed to list "mlflow-artifacts:/`, "404"},
		},
	}
	for _, tc := range cases {
		p := faultproxy.New(t, s.URL)
		p.Add(tc.rule)
		r := resolver(client(t, p.URL))
		got, err := digestOf(t.Context(), r, source, modeldigest.Options{})
		if err == nil || got != nil {
			t.Errorf("%s: got %v, %v; want an error", tc.name, got, err)
			continue
		}
		for _, w := range tc.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s: error %q does not say %q", tc.name, err, w)
			}
		}
		p.Clear()
		again, err := digestOf(t.Context(), r, source, modeldigest.Options{})
		if err != nil || again.Digest() != clean.Digest() {
			t.Errorf("%s: rerun: %v, %v; want %s", tc.name, again, err, clean.Digest())
		}
	}

	// A 503 burst on a download is retried as a read, as MLflow's client retries it.
	p := faultproxy.New(t, s.URL)
	p.Add(faultproxy.Rule{Method: "GET", Path: "/model/requirements.txt", Times: 2, Fault: faultproxy.Status(http.StatusServiceUnavailable)})
	got, err := digestOf(t.Context(), resolver(client(t, p.URL)), source, modeldigest.Options{})
	if err != nil || got.Digest() != clean.Digest() {
		t.Errorf("503 twice: %v, %v; want %s", got, err, clean.Digest())
	}
	if n := p.Count("GET", "/model/requirements.txt"); n != 3 {
		t.Errorf("requirements.txt was requested %d times, want 3", n)
	}
}

// upload puts a file into the tracking server's artifact store through the
// proxy's upload endpoint (as MLflow's client logs an artifact).
func upload(t *testing.T, base, path string, data []byte) {
	t.Helper()
	proxyRequest(t, http.MethodPut, base, path, bytes.NewReader(data))
}

// remove deletes a file of the tracking server's artifact store through the proxy.
func remove(t *testing.T, base, path string) {
	t.Helper()
	proxyRequest(t, http.MethodDelete, base, path, nil)
}

func proxyRequest(t *testing.T, method, base, path string, body io.Reader) {
	t.Helper()
	req, err := http.NewRequestWithContext(context.Background(), method, base+"/api/2.0/mlflow-artifacts/artifacts/"+path, body)
	if err != nil {
		t.Error(err)
		return
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Error(err)
		return
	}
	res.Body.Close()
	if res.StatusCode != http.StatusOK {
		t.Errorf("%s %s: %s", method, path, res.Status)
	}
}

// TestProxyModelChangesWhileHashed changes the model in the tracking
// server's store at an exact point of the hashing (when a file's download
// reaches the server): each change is an error naming the file.
func TestProxyModelChangesWhileHashed(t *testing.T) {
	t.Parallel()
	s := mlflowtest.RequireServer(t, srv)
	f := s.Fixtures()
	exp, err := f.CreateExperiment(t.Context(), mlflowtest.UniqueName(t, "exp"))
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name   string
		change func(t *testing.T, dir string) // runs when z.bin's download reaches the server
		want   string
	}{
		{"a file added", func(t *testing.T, dir string) { upload(t, s.URL, dir+"/new/extra.bin", []byte("extra")) },
			`model file "new/extra.bin": the model changed while it was hashed: the file was added`},
		{"a hashed file removed", func(t *testing.T, dir string) { remove(t, s.URL, dir+"/a.bin") },
			`model file "a.bin": the model changed while it was hashed: the file was removed`},
		{"a hashed file replaced", func(t *testing.T, dir string) { upload(t, s.URL, dir+"/a.bin", []byte("evil bytes")) },
			`model file "a.bin": the model changed while it was hashed: its size went from 1 to 10 bytes`},
		{"the file being read replaced", func(t *testing.T, dir string) { upload(t, s.URL, dir+"/z.bin", []byte("zz")) },
			`failed to read model file "z.bin": the model changed while it was hashed: listed with 1 bytes, the file grew (read 2)`},
	}
	for _, tc := range cases {
		run, err := f.CreateRun(t.Context(), exp, mlflowtest.RunSpec{})
		if err != nil {
			t.Fatal(err)
		}
		src, err := f.RunArtifactSource(t.Context(), run, "model")
		if err != nil {
			t.Fatal(err)
		}
		dir := strings.TrimPrefix(src, "mlflow-artifacts:/")
		for _, name := range []string{"MLmodel", "a.bin", "z.bin"} {
			upload(t, s.URL, dir+"/"+name, []byte(name[:1]))
		}
		p := faultproxy.New(t, s.URL)
		p.Add(faultproxy.Rule{Method: "GET", Path: "/model/z.bin", Fault: faultproxy.Call(func() { tc.change(t, dir) })})
		// One file at a time, in order: z.bin is read last.
		got, err := digestOf(t.Context(), resolver(client(t, p.URL)), src, modeldigest.Options{Concurrency: 1})
		if !errors.Is(err, modeldigest.ErrChanged) || got != nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: got %v, %v\nwant %s", tc.name, got, err, tc.want)
		}
	}
}

// TestUnsupportedStores registers versions whose files are in stores
// mlreg-action does not read: each is an *UnsupportedError naming the store
// and the supported ones, before any file is read.
func TestUnsupportedStores(t *testing.T) {
	t.Parallel()
	s := mlflowtest.RequireServer(t, srv)
	f := s.Fixtures()
	model := mlflowtest.UniqueName(t, "unsupported")
	if err := f.CreateRegisteredModel(t.Context(), model); err != nil {
		t.Fatal(err)
	}
	c := client(t, s.URL)
	r := resolver(c)
	for source, store := range map[string]string{
		"gs://bucket/models/fraud":                          `"gs"`,
		"wasbs://models@acct.blob.core.windows.net/fraud":   `"wasbs"`,
		"dbfs:/databricks/mlflow-registry/123/models/fraud": `"dbfs"`,
		"oss://bucket/models/fraud":                         `"oss"`,
	} {
		v, err := f.CreateVersion(t.Context(), model, source, "", nil)
		if err != nil {
			t.Fatalf("%s: %v", source, err)
		}
		mv, err := c.GetModelVersion(t.Context(), model, v)
		if err != nil {
			t.Fatal(err)
		}
		_, err = r.Open(t.Context(), mv.Source)
		if !artifact.IsUnsupported(err) || !strings.Contains(err.Error(), store) || !strings.Contains(err.Error(), artifact.Supported) ||
			!strings.Contains(err.Error(), fmt.Sprintf("%q", mlflow.RedactURL(source))) { // wasbs' container is user info
			t.Errorf("%s: got %v", source, err)
		}
	}
	// Sources the server refuses to register (it would reach another host) but another registry may hold.
	for _, source := range []string{"models:/other-model/3", "models:/other-model@champion", "abfss://models@acct.dfs.core.windows.net/fraud",
		"https://example.com/models/fraud", "hdfs://namenode:8020/models/fraud",
		"mlflow-artifacts://other.example:5000/1/r/artifacts", "uc-volumes:/Volumes/main/default/models"} {
		if _, err := r.Open(t.Context(), source); !artifact.IsUnsupported(err) {
			t.Errorf("%s: got %v, want unsupported", source, err)
		}
	}
}

// TestResolveErrors: sources that name nothing are errors of the registry
// (a missing run or logged model), not unsupported stores.
func TestResolveErrors(t *testing.T) {
	t.Parallel()
	s := mlflowtest.RequireServer(t, srv)
	r := resolver(client(t, s.URL))
	for source, want := range map[string]string{
		"runs:/0123456789abcdef0123456789abcdef/model": `failed to resolve model source "runs:/0123456789abcdef0123456789abcdef/model"`,
		"models:/m-0123456789abcdef0123456789abcdef":   `failed to resolve model source "models:/m-0123456789abcdef0123456789abcdef"`,
		"runs:/r1/../../etc":                           `invalid model source "runs:/r1/../../etc"`,
		"mlflow-artifacts:/1/../../etc":                `invalid model source "mlflow-artifacts:/1/../../etc"`,
		"relative/path":                                `invalid model source "relative/path"`,
	} {
		_, err := r.Open(t.Context(), source)
		if err == nil || artifact.IsUnsupported(err) || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: got %v, want %s", source, err, want)
		}
	}
	// A location that holds nothing is no model.
	st, err := r.Open(t.Context(), "mlflow-artifacts:/"+url.PathEscape(mlflowtest.UniqueName(t, "nothing")))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := modeldigest.Compute(t.Context(), st, modeldigest.Options{}); !errors.Is(err, modeldigest.ErrEmpty) {
		t.Errorf("an empty location: got %v", err)
	}
}

// TestLocalStore reads file: locations, refusing links in them.
func TestLocalStore(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	for _, p := range []string{"MLmodel", "sub/model.pkl"} {
		full := filepath.Join(dir, p)
		mustWrite(t, full, p)
	}
	r := &artifact.Resolver{}
	for _, source := range []string{"file://" + dir, "file:" + dir, dir} {
		m, err := digestOf(t.Context(), r, source, modeldigest.Options{})
		if err != nil || len(m.Files()) != 2 {
			t.Errorf("%s: %v, %v", source, m, err)
		}
	}
	mustSymlink(t, "/etc/hostname", filepath.Join(dir, "sub", "link"))
	if _, err := digestOf(t.Context(), r, "file://"+dir, modeldigest.Options{}); !errors.Is(err, modeldigest.ErrUnsafePath) ||
		!strings.Contains(err.Error(), `"sub/link"`) {
		t.Errorf("a symbolic link: got %v", err)
	}
	if _, err := r.Open(t.Context(), "file://otherhost/models/x"); !artifact.IsUnsupported(err) {
		t.Errorf("file: of another host: got %v", err)
	}
}

// TestSourceCredentialsHidden: a source that carries credentials (user
// info, a signed query, a fragment) is named in the error without them,
// whether or not it parses as a URL (a bad port), as every URL the tool
// repeats is (mlflow.RedactURL).
func TestSourceCredentialsHidden(t *testing.T) {
	t.Parallel()
	s := mlflowtest.RequireServer(t, srv)
	f := s.Fixtures()
	model := mlflowtest.UniqueName(t, "credentials")
	if err := f.CreateRegisteredModel(t.Context(), model); err != nil {
		t.Fatal(err)
	}
	c := client(t, s.URL)
	r := resolver(c)
	for _, source := range []string{
		"gs://ci:s3cret@bucket/models/fraud?X-Goog-Signature=t0k3n#s3cret",
		"gs://ci:s3cret@bucket:badport/models/fraud",
		"ftp://ci:s3cret@files.example:21x/models/fraud?token=t0k3n",
	} {
		// As the registry holds it when it takes it; another registry may hold what this one refuses.
		if v, err := f.CreateVersion(t.Context(), model, source, "", nil); err == nil {
			mv, err := c.GetModelVersion(t.Context(), model, v)
			if err != nil {
				t.Fatal(err)
			}
			source = mv.Source
		}
		_, err := r.Open(t.Context(), source)
		if err == nil || strings.Contains(err.Error(), "s3cret") || strings.Contains(err.Error(), "t0k3n") {
			t.Errorf("%s: the error shows a credential: %v", source, err)
		}
	}
}
