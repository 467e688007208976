package artifact_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"html"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/mlreg/mlreg-action/internal/artifact"
	"github.com/mlreg/mlreg-action/internal/modeldigest"
	"github.com/mlreg/mlreg-action/internal/testing/faultproxy"
	"github.com/mlreg/mlreg-action/internal/testing/mlflowtest"
	"github.com/mlreg/mlreg-action/internal/testing/pytools"
	"github.com/mlreg/mlreg-action/internal/testing/s3test"
)

const bucket = "mlflow"

// logS3Script logs models with MLflow's own Python API into S3 (SeaweedFS):
//
//   - "proxied": an experiment with the server's default artifact root,
//     mlflow-artifacts:/, which the server (--artifacts-destination
//     s3://mlflow/proxied) writes to S3 with MLflow's S3 artifact repository;
//   - "direct": an experiment whose artifact location is s3://mlflow/direct,
//     which the client writes to S3 itself (boto3), so the logged model's
//     artifact location is an s3:// URI;
//   - "direct-run": a model saved and logged as the run's artifacts (MLflow
//     2's layout) in the "direct" experiment: runs:/<run>/model is in S3.
//
// Each is downloaded with mlflow.artifacts.download_artifacts.
const logS3Script = `
import json, os, tempfile
import numpy as np
import mlflow
from sklearn.linear_model import LogisticRegression

dst, prefix = os.environ["DST"], os.environ["EXP"]
X = np.random.RandomState(1).rand(64, 3)
y = (X[:, 1] > 0.5).astype(int)
reqs = ["scikit-learn"]
client = mlflow.MlflowClient()
out = {}
proxied = client.create_experiment(prefix + "-proxied")
direct = client.create_experiment(prefix + "-direct", artifact_location=os.environ["DIRECT"])
for kind, exp in (("proxied", proxied), ("direct", direct)):
    with mlflow.start_run(experiment_id=exp):
        info = mlflow.sklearn.log_model(LogisticRegression().fit(X, y), name="model", pip_requirements=reqs)
    out[kind] = {"model_id": info.model_id, "uri": f"models:/{info.model_id}"}
with mlflow.start_run(experiment_id=direct) as run:
    d = os.path.join(tempfile.mkdtemp(), "model")
    mlflow.sklearn.save_model(LogisticRegression().fit(X, y), d, pip_requirements=reqs)
    os.makedirs(os.path.join(d, "extra", "nested"))
    with open(os.path.join(d, "extra", "nested", "ünï.bin"), "wb") as f:
        f.write(os.urandom(200000))
    mlflow.log_artifacts(d, artifact_path="model")
    out["direct-run"] = {"run": run.info.run_id, "artifact_uri": run.info.artifact_uri, "uri": f"runs:/{run.info.run_id}/model"}
for k, v in out.items():
    v["download"] = mlflow.artifacts.download_artifacts(artifact_uri=v["uri"], dst_path=os.path.join(dst, k))
print(json.dumps(out))
`

// s3World is SeaweedFS, an MLflow server whose artifact proxy writes to it,
// and the models of logS3Script, shared by the package's S3 tests.
type s3World struct {
	weed   *s3test.Server
	mlflow *mlflowtest.Server
	models map[string]logged
}

var (
	world   shared[*s3World]
	s3Stops []func()
)

// stopS3 stops what s3env started (TestMain calls it after the tests).
func stopS3() {
	for _, f := range s3Stops {
		f()
	}
}

func s3env(t *testing.T) *s3World {
	t.Helper()
	mlflowtest.RequireServer(t, srv) // the mlflow binary is there
	pytools.Require(t, "weed")
	return world.get(t, func() (*s3World, error) { return startS3World(t) })
}

func startS3World(t *testing.T) (*s3World, error) {
	ctx, cancel := context.WithTimeout(context.Background(), mlflowtest.StartLimit)
	defer cancel()
	weed, err := s3test.Start(ctx)
	if err != nil {
		return nil, err
	}
	s3Stops = append(s3Stops, weed.Stop)
	if err := weed.CreateBucket(ctx, bucket); err != nil {
		return nil, err
	}
	ml, err := mlflowtest.Start(ctx, mlflowtest.Options{
		ExtraArgs: []string{"--artifacts-destination", "s3://" + bucket + "/proxied"},
		Env:       weed.Env(s3test.Admin),
	})
	if err != nil {
		return nil, err
	}
	s3Stops = append(s3Stops, func() { _ = ml.Stop() })
	env := append([]string{"MLFLOW_TRACKING_URI=" + ml.URL, "EXP=" + mlflowtest.UniqueName(t, "s3"), "DST=" + scratch + "/s3",
		"DIRECT=s3://" + bucket + "/direct"}, weed.Env(s3test.Admin)...)
	out := mlflowtest.RunPython(t.Context(), t, logS3Script, env...)
	var models map[string]logged
	if err := lastJSON(out, &models); err != nil {
		return nil, err
	}
	return &s3World{weed: weed, mlflow: ml, models: models}, nil
}

// s3Resolver reads the world's tracking server and S3 as id.
func (w *s3World) resolver(t *testing.T, id s3test.Identity) *artifact.Resolver {
	t.Helper()
	r := resolver(client(t, w.mlflow.URL))
	r.S3 = artifact.S3Options{
		LoadConfig:  func(context.Context) (aws.Config, error) { return w.weed.Config(id), nil },
		EndpointURL: w.weed.Endpoint,
	}
	return r
}

// TestS3Digest hashes models that MLflow wrote to S3, read directly from S3
// (s3:// locations) and through the tracking server's proxy (whose
// destination is S3), and compares with MLflow's own download of each.
func TestS3Digest(t *testing.T) {
	t.Parallel()
	w := s3env(t)
	r := w.resolver(t, s3test.Admin)
	for _, tc := range []struct{ kind, wantStore string }{
		{"direct", "s3://mlflow/direct/"},
		{"direct-run", "s3://mlflow/direct/"},
		{"proxied", "mlflow-artifacts:/"},
	} {
		m := w.models[tc.kind]
		st, err := r.Open(t.Context(), m.URI)
		if err != nil {
			t.Fatalf("%s: %v", tc.kind, err)
		}
		if !strings.HasPrefix(st.URI(), tc.wantStore) {
			t.Errorf("%s: store %s, want %s...", tc.kind, st.URI(), tc.wantStore)
		}
		got, err := modeldigest.Compute(t.Context(), st, modeldigest.Options{})
		if err != nil {
			t.Fatalf("%s: %v", tc.kind, err)
		}
		want, err := modeldigest.Compute(t.Context(), artifact.Download(m.Download), modeldigest.Options{})
		if err != nil {
			t.Fatal(err)
		}
		if got.Digest() != want.Digest() || len(got.Files()) < 4 {
			t.Errorf("%s: digest %s of %v; MLflow's download hashes to %s (%v)", tc.kind, got.Digest(), fileList(got),
				want.Digest(), fileList(want))
		}
	}
	if got := fileList(mustDigest(t, r, w.models["direct-run"].URI)); !strings.Contains(strings.Join(got, "\n"), "extra/nested/ünï.bin ") {
		t.Errorf("direct-run: nested file missing from %v", got)
	}
}

func mustDigest(t *testing.T, r *artifact.Resolver, source string) *modeldigest.Manifest {
	t.Helper()
	m, err := digestOf(t.Context(), r, source, modeldigest.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// TestS3Refusals: S3's refusals are errors naming the location or the file,
// and a rerun with what was missing gives the digest.
func TestS3Refusals(t *testing.T) {
	t.Parallel()
	w := s3env(t)
	source := w.models["direct"].URI
	clean := mustDigest(t, w.resolver(t, s3test.Admin), source)

	wrong := s3test.Admin
	wrong.SecretKey = "not-the-secret"
	_, err := digestOf(t.Context(), w.resolver(t, wrong), source, modeldigest.Options{})
	if err == nil || !strings.Contains(err.Error(), `failed to list "s3://mlflow/direct/`) || !strings.Contains(err.Error(), "403") ||
		strings.Contains(err.Error(), wrong.SecretKey) {
		t.Errorf("a wrong secret key: %v", err)
	}

	// May list the bucket, not read it.
	_, err = digestOf(t.Context(), w.resolver(t, s3test.ListOnly), source, modeldigest.Options{})
	if err == nil || !strings.Contains(err.Error(), `failed to open model file "`) || !strings.Contains(err.Error(), "403") {
		t.Errorf("no read permission: %v", err)
	}

	r := w.resolver(t, s3test.Admin)
	r.S3.LoadConfig = nil
	if _, err := r.Open(t.Context(), source); err == nil || !strings.Contains(err.Error(), "S3 is not configured") {
		t.Errorf("no S3 configuration: %v", err)
	}

	if again := mustDigest(t, w.resolver(t, s3test.Admin), source); again.Digest() != clean.Digest() {
		t.Errorf("rerun: %s, want %s", again.Digest(), clean.Digest())
	}
}

// anonymousThrough reads S3 anonymously through the fault proxy p (a
// signature covers the Host header, which the proxy changes).
func (w *s3World) anonymousThrough(t *testing.T, p *faultproxy.Proxy) *artifact.Resolver {
	t.Helper()
	r := w.resolver(t, s3test.Admin)
	r.S3 = artifact.S3Options{
		LoadConfig: func(context.Context) (aws.Config, error) {
			return aws.Config{Credentials: aws.AnonymousCredentials{}}, nil
		},
		EndpointURL: p.URL,
	}
	return r
}

// putModel writes files under key prefix dir of the bucket, as admin.
func (w *s3World) putModel(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for name, content := range files {
		if _, err := w.weed.Client(s3test.Admin).PutObject(context.Background(), &s3.PutObjectInput{
			Bucket: aws.String(bucket), Key: aws.String(dir + "/" + name), Body: bytes.NewReader([]byte(content)),
		}); err != nil {
			t.Errorf("put %s/%s: %v", dir, name, err)
		}
	}
}

// TestS3Faults: a truncated object, and a model changed in S3 while it is
// hashed, are errors naming the file.
func TestS3Faults(t *testing.T) {
	t.Parallel()
	w := s3env(t)
	dir := "faults/" + mlflowtest.UniqueName(t, "m")
	w.putModel(t, dir, map[string]string{"MLmodel": "flavors: {}\n", "model.pkl": strings.Repeat("w", 5000), "z.bin": "z"})
	source := "s3://" + bucket + "/" + dir

	p := faultproxy.New(t, w.weed.Endpoint)
	r := w.anonymousThrough(t, p)
	clean, err := digestOf(t.Context(), r, source, modeldigest.Options{})
	if err != nil {
		t.Fatalf("anonymous read through the proxy: %v", err)
	}
	p.Add(faultproxy.Rule{Method: "GET", Path: "/" + dir + "/model.pkl", Fault: faultproxy.Truncate()})
	_, err = digestOf(t.Context(), r, source, modeldigest.Options{})
	if err == nil || !strings.Contains(err.Error(), `failed to read model file "model.pkl"`) {
		t.Errorf("truncated object: %v", err)
	}
	p.Clear()
	if again, err := digestOf(t.Context(), r, source, modeldigest.Options{}); err != nil || again.Digest() != clean.Digest() {
		t.Errorf("rerun: %v, %v", again, err)
	}

	// A file added while z.bin, the last, is read.
	before := p.Count(http.MethodGet, "/"+dir+"/z.bin")
	p.Add(faultproxy.Rule{Method: "GET", Path: "/" + dir + "/z.bin", Fault: faultproxy.Call(func() {
		w.putModel(t, dir, map[string]string{"sub/late.bin": "late"})
	})})
	_, err = digestOf(t.Context(), r, source, modeldigest.Options{Concurrency: 1})
	if !errors.Is(err, modeldigest.ErrChanged) || !strings.Contains(err.Error(), `model file "sub/late.bin": the model changed while it was hashed: the file was added`) {
		t.Errorf("a file added while hashing: %v", err)
	}
	if n := p.Count(http.MethodGet, "/"+dir+"/z.bin") - before; n != 1 {
		t.Errorf("z.bin read %d times", n)
	}
}

// TestS3UnsafeKeys: S3 keys are any strings ("a/../b" included; SeaweedFS
// refuses such keys on the way in, AWS does not), so the listing of an
// S3-compatible server that holds them is served here: a key that is not a
// clean relative path below the model is refused, naming it, before any
// object is read.
func TestS3UnsafeKeys(t *testing.T) {
	t.Parallel()
	for _, key := range []string{"a/../../escape", "x//y", "./dot", "/abs"} {
		var gets atomic.Int32
		fake := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Query().Get("list-type") != "2" {
				gets.Add(1)
				http.Error(w, "not listed", http.StatusNotFound)
				return
			}
			w.Header().Set("Content-Type", "application/xml")
			fmt.Fprintf(w, `<?xml version="1.0" encoding="UTF-8"?>
<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Name>b</Name><Prefix>m/</Prefix><KeyCount>2</KeyCount><MaxKeys>1000</MaxKeys><IsTruncated>false</IsTruncated>
<Contents><Key>m/MLmodel</Key><Size>1</Size></Contents><Contents><Key>m/%s</Key><Size>4</Size></Contents></ListBucketResult>`, html.EscapeString(key))
		}))
		defer fake.Close()
		r := &artifact.Resolver{S3: artifact.S3Options{
			LoadConfig: func(context.Context) (aws.Config, error) {
				return aws.Config{Credentials: aws.AnonymousCredentials{}}, nil
			},
			EndpointURL: fake.URL,
		}}
		_, err := digestOf(t.Context(), r, "s3://b/m", modeldigest.Options{})
		if !errors.Is(err, modeldigest.ErrUnsafePath) || !strings.Contains(err.Error(), fmt.Sprintf("%q", key)) || gets.Load() != 0 {
			t.Errorf("key %q: %v (%d objects read)", key, err, gets.Load())
		}
	}
}

func TestS3OptionsFromEnv(t *testing.T) {
	t.Parallel()
	env := func(kv map[string]string) func(string) string { return func(k string) string { return kv[k] } }
	o, err := artifact.S3OptionsFromEnv(env(map[string]string{
		"MLFLOW_S3_ENDPOINT_URL": "http://minio:9000", "MLFLOW_S3_IGNORE_TLS": "True",
		"MLFLOW_BOTO_CLIENT_ADDRESSING_STYLE": "virtual", "MLFLOW_S3_EXPECTED_BUCKET_OWNER": "123456789012",
	}))
	if err != nil || o.EndpointURL != "http://minio:9000" || !o.IgnoreTLS || o.AddressingStyle != "virtual" || o.ExpectedBucketOwner != "123456789012" {
		t.Errorf("got %+v, %v", o, err)
	}
	for k, v := range map[string]string{
		"MLFLOW_S3_IGNORE_TLS": "yes", "MLFLOW_BOTO_CLIENT_ADDRESSING_STYLE": "dns", "MLFLOW_S3_ENDPOINT_URL": "minio:9000",
	} {
		if _, err := artifact.S3OptionsFromEnv(env(map[string]string{k: v})); err == nil || !strings.Contains(err.Error(), k) {
			t.Errorf("%s=%s: %v", k, v, err)
		}
	}
}
