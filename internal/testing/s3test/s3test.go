// Package s3test runs a real S3-compatible server for tests: SeaweedFS
// (`weed server` with its filer and S3 gateway, from the tools virtual
// environment, see internal/testing/pytools), on 127.0.0.1 and free ports,
// with its data in a temporary directory. Two identities are configured:
// Admin (read, write, list) and ListOnly (list, no read); anonymous
// requests may read and list, so that a test can put the fault proxy in
// front of the server (a proxy changes the Host header, which a signature
// covers).
//
//	s3, err := s3test.Start(ctx)
//	defer s3.Stop()
//	s3.CreateBucket(ctx, "mlflow")
//	// MLflow and the AWS SDKs reach it with s3.Env(s3.Admin)
package s3test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/mlreg/mlreg-action/internal/testing/pytools"
)

// Identity is an access key pair the server knows.
type Identity struct {
	Name, AccessKey, SecretKey string
	Actions                    []string
}

// The identities Start configures.
var (
	Admin    = Identity{Name: "admin", AccessKey: "MLREGADMINKEY", SecretKey: "mlreg-admin-secret", Actions: []string{"Admin", "Read", "Write", "List", "Tagging"}}
	ListOnly = Identity{Name: "lister", AccessKey: "MLREGLISTKEY", SecretKey: "mlreg-list-secret", Actions: []string{"List"}}
)

// Region is what the clients are configured with; SeaweedFS takes any.
const Region = "us-east-1"

// StartLimit bounds a start against a server that hangs (not an estimate).
const StartLimit = 5 * time.Minute

// Server is a running SeaweedFS.
type Server struct {
	// Endpoint is the S3 gateway, http://127.0.0.1:PORT.
	Endpoint string
	// LogPath receives the server's output.
	LogPath string

	cmd      *exec.Cmd
	dir      string
	exited   chan struct{}
	stopOnce sync.Once
}

// Start starts SeaweedFS and waits until its S3 gateway creates and deletes
// a bucket. It returns an error wrapping pytools.ErrMissing when weed is not
// installed.
func Start(ctx context.Context) (_ *Server, retErr error) {
	bin, err := pytools.Path("weed")
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "s3test-*")
	if err != nil {
		return nil, fmt.Errorf("failed to create the data directory: %w", err)
	}
	defer func() {
		if retErr != nil {
			_ = os.RemoveAll(dir)
		}
	}()
	conf, err := json.Marshal(map[string]any{"identities": []map[string]any{
		identityJSON(Admin), identityJSON(ListOnly),
		{"name": "anonymous", "actions": []string{"Read", "List"}},
	}})
	if err != nil {
		return nil, fmt.Errorf("failed to encode the S3 configuration: %w", err)
	}
	confPath := filepath.Join(dir, "s3.json")
	if err := os.WriteFile(confPath, conf, 0o600); err != nil {
		return nil, fmt.Errorf("failed to write the S3 configuration: %w", err)
	}
	ports, err := freePorts(8)
	if err != nil {
		return nil, err
	}
	data := filepath.Join(dir, "data")
	if err := os.MkdirAll(data, 0o755); err != nil {
		return nil, fmt.Errorf("failed to create the data directory: %w", err)
	}
	p := func(i int) string { return strconv.Itoa(ports[i]) }
	args := []string{
		"server", "-dir=" + data, "-ip=127.0.0.1", "-ip.bind=127.0.0.1", "-master.telemetry=false",
		"-master.port=" + p(0), "-master.port.grpc=" + p(1), "-master.volumeSizeLimitMB=256",
		"-volume.port=" + p(2), "-volume.port.grpc=" + p(3), "-volume.max=8", "-volume.preStopSeconds=0",
		"-filer", "-filer.port=" + p(4), "-filer.port.grpc=" + p(5),
		"-s3", "-s3.port=" + p(6), "-s3.port.grpc=" + p(7), "-s3.config=" + confPath,
		"-s3.port.iceberg=0", "-s3.port.lance=0",
	}
	logPath := filepath.Join(dir, "weed.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		return nil, fmt.Errorf("failed to create the server log: %w", err)
	}
	defer logFile.Close()             //nolint:errcheck // the child holds its own descriptor
	cmd := exec.Command(bin, args...) //nolint:gosec // the tools venv's weed
	cmd.Dir, cmd.Stdout, cmd.Stderr = dir, logFile, logFile
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("failed to start weed: %w", err)
	}
	s := &Server{Endpoint: "http://127.0.0.1:" + p(6), LogPath: logPath, cmd: cmd, dir: dir, exited: make(chan struct{})}
	go func() {
		_ = cmd.Wait()
		close(s.exited)
	}()
	if err := s.waitReady(ctx); err != nil {
		s.kill()
		log, _ := os.ReadFile(logPath)
		return nil, fmt.Errorf("failed to start SeaweedFS (%s %s): %w\n--- %s ---\n%s", bin, strings.Join(args, " "), err,
			logPath, tail(string(log), 40))
	}
	return s, nil
}

func identityJSON(id Identity) map[string]any {
	return map[string]any{
		"name":        id.Name,
		"credentials": []map[string]string{{"accessKey": id.AccessKey, "secretKey": id.SecretKey}},
		"actions":     id.Actions,
	}
}

// waitReady creates and removes a bucket until the gateway, the filer and a
// volume server all answer (a write needs the three), every 250 ms.
func (s *Server) waitReady(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, StartLimit)
	defer cancel()
	cl := s.Client(Admin)
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	var last error
	for {
		probe := fmt.Sprintf("probe-%d", time.Now().UnixNano())
		_, err := cl.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(probe)})
		if err == nil {
			_, err = cl.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(probe), Key: aws.String("k"), Body: bytes.NewReader([]byte("v"))})
		}
		if err == nil {
			_, _ = cl.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(probe), Key: aws.String("k")})
			_, _ = cl.DeleteBucket(ctx, &s3.DeleteBucketInput{Bucket: aws.String(probe)})
			return nil
		}
		last = err
		select {
		case <-s.exited:
			return errors.New("weed exited")
		case <-ctx.Done():
			return fmt.Errorf("not ready: %w (last: %w)", ctx.Err(), last)
		case <-tick.C:
		}
	}
}

// Client is an S3 client of the server signing as id.
func (s *Server) Client(id Identity) *s3.Client {
	return s3.New(s3.Options{
		Region:       Region,
		BaseEndpoint: aws.String(s.Endpoint),
		UsePathStyle: true,
		Credentials:  credentials.NewStaticCredentialsProvider(id.AccessKey, id.SecretKey, ""),
		HTTPClient:   &http.Client{Timeout: time.Minute},
	})
}

// Config is an AWS configuration signing as id (what DefaultAWSConfig would
// load from the environment Env sets).
func (s *Server) Config(id Identity) aws.Config {
	return aws.Config{Region: Region, Credentials: credentials.NewStaticCredentialsProvider(id.AccessKey, id.SecretKey, "")}
}

// Env is what MLflow (and boto3) need to use the server as id.
func (s *Server) Env(id Identity) []string {
	return []string{
		"MLFLOW_S3_ENDPOINT_URL=" + s.Endpoint, "AWS_ACCESS_KEY_ID=" + id.AccessKey, "AWS_SECRET_ACCESS_KEY=" + id.SecretKey,
		"AWS_DEFAULT_REGION=" + Region, "AWS_EC2_METADATA_DISABLED=true",
	}
}

// CreateBucket creates a bucket.
func (s *Server) CreateBucket(ctx context.Context, name string) error {
	if _, err := s.Client(Admin).CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(name)}); err != nil {
		return fmt.Errorf("failed to create bucket %q: %w", name, err)
	}
	return nil
}

// Stop terminates the server (SIGTERM, then SIGKILL after 10 s) and removes
// its data. It is safe to call more than once.
func (s *Server) Stop() {
	if s == nil {
		return
	}
	s.stopOnce.Do(func() {
		s.kill()
		_ = os.RemoveAll(s.dir)
	})
}

func (s *Server) kill() {
	_ = s.cmd.Process.Signal(os.Interrupt)
	select {
	case <-s.exited:
	case <-time.After(10 * time.Second):
		_ = s.cmd.Process.Kill()
		<-s.exited
	}
}

// freePorts returns n distinct free loopback ports (SeaweedFS wants each of
// its servers' HTTP and gRPC ports given, or it derives them by adding
// 10000, which may not be free).
func freePorts(n int) ([]int, error) {
	var (
		out []int
		ls  []net.Listener
	)
	defer func() {
		for _, l := range ls {
			_ = l.Close()
		}
	}()
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("failed to find a free port: %w", err)
		}
		ls = append(ls, l)
		out = append(out, l.Addr().(*net.TCPAddr).Port)
	}
	return out, nil
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
