// Package mlflowtest runs a real MLflow tracking server for integration tests and creates fixtures in it
// through the REST API only.
//
// One server per test binary is enough; tests isolate themselves by unique names (see UniqueName):
//
//	var srv *mlflowtest.Server
//
//	func TestMain(m *testing.M) { os.Exit(mlflowtest.Main(m, &srv)) }
//
//	func TestPromote(t *testing.T) {
//		t.Parallel()
//		s := mlflowtest.RequireServer(t, srv)
//		f := s.Fixtures()
//		...
//	}
package mlflowtest

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mlreg/mlreg-action/internal/testing/testutil"
)

const (
	// EnvMLflow names the environment variable that overrides the path of the mlflow binary.
	EnvMLflow = "MLREG_MLFLOW"

	// SkipMessage is printed by Main and passed to t.Skip by RequireServer when no server could be started
	// because the mlflow binary is missing.
	SkipMessage = "integration tests skipped: no MLflow server (run `make venv` or set MLREG_MLFLOW)"

	// shortSkip is SkipMessage under -short.
	shortSkip = "integration tests skipped: go test -short starts no MLflow server"

	healthPoll   = 500 * time.Millisecond
	stopGrace    = 10 * time.Second
	logTailLines = 40
	portRetries  = 3
)

// StartLimit bounds a start of the MLflow server (or of PostgreSQL) against
// one that hangs; it is no estimate of how long a start takes. A server that
// is still starting is waited for until it answers GET /health or exits: on
// a loaded machine a start takes minutes (1m33s was seen for the first
// start, with its migrations, beside a parallel test run), and a tighter
// limit would fail tests because the machine is busy.
const StartLimit = 15 * time.Minute

// ErrNoMLflow is returned (wrapped) by Start when the mlflow binary does not exist, and under go test -short,
// which starts no server.
var ErrNoMLflow = errors.New("mlflow binary not found")

// Options configures Start. The zero value is a SQLite store and an artifact root in a fresh temporary directory.
type Options struct {
	// BackendURI is the --backend-store-uri; default sqlite:///<tmp>/mlflow.db.
	BackendURI string
	// ExtraArgs are appended to the `mlflow server` command line (e.g. "--app-name", "basic-auth").
	ExtraArgs []string
	// Env holds extra KEY=VALUE entries added to the server's environment, which inherits the test's and has
	// MLFLOW_SERVER_ENABLE_JOB_EXECUTION=false unless Env sets it.
	Env []string
	// LogDir is where the server log (stdout and stderr) is written; default the temporary directory, which
	// Stop removes. Set it to keep the log after Stop.
	LogDir string
}

// Server is a running `mlflow server` process group.
type Server struct {
	// URL is the tracking URI, http://127.0.0.1:PORT (no trailing slash).
	URL string
	// LogPath is the file that receives the server's stdout and stderr.
	LogPath string
	// StartupTime is how long Start took from spawning the process to the first healthy /health.
	StartupTime time.Duration

	cmd      *exec.Cmd
	logFile  *os.File
	tmpDir   string
	exited   chan struct{} // closed when cmd.Wait returns
	waitErr  error         // valid after exited is closed
	stopOnce sync.Once
	stopErr  error
}

// Start starts `mlflow server` on a free 127.0.0.1 port with one worker, waits until GET /health answers 200
// (polling every 0.5 s until then, until the server exits, or until ctx ends: give it StartLimit) and returns
// it. The caller must call Stop.
func Start(ctx context.Context, opts Options) (*Server, error) {
	bin, err := mlflowBinary()
	if err != nil {
		return nil, err
	}

	var lastErr error
	for attempt := 0; attempt < portRetries; attempt++ {
		s, err := startOnce(ctx, bin, opts)
		if err == nil {
			return s, nil
		}
		lastErr = err
		// Another process may take the free port between our probe and the server's bind; try a new one.
		if !errors.Is(err, errPortInUse) {
			break
		}
	}
	return nil, lastErr
}

var errPortInUse = errors.New("port already in use")

func startOnce(ctx context.Context, bin string, opts Options) (_ *Server, retErr error) {
	tmpDir, err := os.MkdirTemp("", "mlflowtest-*")
	if err != nil {
		return nil, fmt.Errorf("failed to create temp dir: %w", err)
	}
	defer func() {
		if retErr != nil {
			_ = os.RemoveAll(tmpDir)
		}
	}()

	logDir := opts.LogDir
	if logDir == "" {
		logDir = tmpDir
	} else if err := os.MkdirAll(logDir, 0o755); err != nil {
		return nil, fmt.Errorf("failed to create log dir: %w", err)
	}
	logFile, err := os.CreateTemp(logDir, "mlflow-server-*.log")
	if err != nil {
		return nil, fmt.Errorf("failed to create server log: %w", err)
	}
	defer func() {
		if retErr != nil {
			_ = logFile.Close()
		}
	}()

	port, err := freePort()
	if err != nil {
		return nil, err
	}

	artifacts := filepath.Join(tmpDir, "artifacts")
	if err := os.MkdirAll(artifacts, 0o755); err != nil {
		return nil, fmt.Errorf("failed to create artifact dir: %w", err)
	}
	backend := opts.BackendURI
	if backend == "" {
		backend = "sqlite:///" + filepath.ToSlash(filepath.Join(tmpDir, "mlflow.db"))
	}

	args := []string{
		"server",
		"--backend-store-uri", backend,
		// Artifacts are proxied by the server, so run artifact URIs are mlflow-artifacts:/<exp>/<run>/artifacts.
		"--serve-artifacts",
		"--artifacts-destination", artifacts,
		"--host", "127.0.0.1",
		"--port", strconv.Itoa(port),
		"--workers", "1",
	}
	args = append(args, opts.ExtraArgs...)

	cmd := exec.Command(bin, args...) //nolint:gosec // test harness runs the configured mlflow binary
	cmd.Dir = tmpDir                  // anything the server writes relative to its cwd stays in the temp dir
	// The job runner (huey consumers, about ten processes, and a /dev/shm queue dir) is not needed to serve the
	// registry and tracking APIs; opts.Env can turn it back on.
	cmd.Env = append(append(os.Environ(), "MLFLOW_SERVER_ENABLE_JOB_EXECUTION=false"), opts.Env...)
	cmd.Stdout = logFile
	cmd.Stderr = logFile
	setProcessGroup(cmd)

	began := time.Now()
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("failed to start mlflow server: %w", err)
	}
	s := &Server{
		URL:     "http://127.0.0.1:" + strconv.Itoa(port),
		LogPath: logFile.Name(),
		cmd:     cmd,
		logFile: logFile,
		tmpDir:  tmpDir,
		exited:  make(chan struct{}),
	}
	go func() {
		s.waitErr = cmd.Wait()
		close(s.exited)
	}()

	if err := s.waitHealthy(ctx); err != nil {
		_ = s.kill()
		tail := logTail(s.LogPath, logTailLines)
		if strings.Contains(strings.ToLower(tail), "address already in use") {
			err = fmt.Errorf("%w: %w", errPortInUse, err)
		}
		return nil, fmt.Errorf("failed to start mlflow server (%s %s): %w\n--- last %d lines of %s ---\n%s",
			bin, strings.Join(args, " "), err, logTailLines, s.LogPath, tail)
	}
	s.StartupTime = time.Since(began)
	return s, nil
}

// waitHealthy waits until the server answers GET /health, exits, or ctx ends.
func (s *Server) waitHealthy(ctx context.Context) error {
	client := &http.Client{Timeout: 2 * time.Second}
	ticker := time.NewTicker(healthPoll)
	defer ticker.Stop()
	for {
		if ok := s.healthy(ctx, client); ok {
			return nil
		}
		select {
		case <-s.exited:
			return fmt.Errorf("server exited before it was healthy: %w", s.waitErr)
		case <-ctx.Done():
			return fmt.Errorf("failed to get healthy /health: %w", ctx.Err())
		case <-ticker.C:
		}
	}
}

func (s *Server) healthy(ctx context.Context, client *http.Client) bool {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.URL+"/health", nil)
	if err != nil {
		return false
	}
	resp, err := client.Do(req)
	if err != nil {
		return false
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<10))
	return resp.StatusCode == http.StatusOK
}

// Stop ends the Python process of its Corpus if there is one, terminates the server's whole process group
// (SIGTERM, then SIGKILL after 10 s), waits for it, and removes the temporary directory. It is safe to call
// more than once.
func (s *Server) Stop() error {
	if s == nil {
		return nil
	}
	s.stopOnce.Do(func() {
		stopCorpus(s) // the corpus's Python process talks to this server and works in its temporary directory
		err := s.kill()
		if cerr := s.logFile.Close(); cerr != nil && err == nil {
			err = fmt.Errorf("failed to close server log: %w", cerr)
		}
		if rerr := os.RemoveAll(s.tmpDir); rerr != nil && err == nil {
			err = fmt.Errorf("failed to remove server temp dir: %w", rerr)
		}
		s.stopErr = err
	})
	return s.stopErr
}

// kill signals the process group, waits for the leader, then makes sure no member of the group survives.
func (s *Server) kill() error {
	select {
	case <-s.exited:
	default:
		if err := signalGroup(s.cmd, terminateSignal); err != nil {
			return fmt.Errorf("failed to signal mlflow server: %w", err)
		}
		select {
		case <-s.exited:
		case <-time.After(stopGrace):
		}
	}
	// uvicorn workers are children in the same group; they may outlive the leader.
	if err := signalGroup(s.cmd, killSignal); err != nil {
		return fmt.Errorf("failed to kill mlflow server: %w", err)
	}
	<-s.exited
	return nil
}

// Main starts one server for a test package, runs the tests and stops the server. Use it from TestMain:
//
//	func TestMain(m *testing.M) { os.Exit(mlflowtest.Main(m, &srv)) }
//
// With -short (go test -short, make unit) it starts no server, even when the venv exists: *srv stays nil and
// the integration tests skip through RequireServer, on CI too. When the mlflow binary is missing, it fails
// (returns 1) if CI=true; otherwise it prints SkipMessage, leaves *srv nil and runs the tests, which skip
// through RequireServer. Any other start failure returns 1.
func Main(m *testing.M, srv **Server) int {
	if !flag.Parsed() {
		flag.Parse() // for -short; m.Run parses the flags again, to the same values
	}
	if testutil.Short() {
		fmt.Fprintf(os.Stderr, "mlflowtest: %s\n", shortSkip)
		*srv = nil
		return m.Run()
	}
	ctx, cancel := context.WithTimeout(context.Background(), StartLimit)
	s, err := Start(ctx, Options{})
	cancel()
	switch {
	case errors.Is(err, ErrNoMLflow):
		if testutil.Required() {
			fmt.Fprintf(os.Stderr, "mlflowtest: %v\nmlflowtest: CI=true, so a missing MLflow server is a failure "+
				"(run `make venv` or set %s)\n", err, EnvMLflow)
			return 1
		}
		fmt.Fprintf(os.Stderr, "mlflowtest: %v\nmlflowtest: %s\n", err, SkipMessage)
		*srv = nil
		return m.Run()
	case err != nil:
		fmt.Fprintf(os.Stderr, "mlflowtest: %v\n", err)
		return 1
	}

	fmt.Fprintf(os.Stderr, "mlflowtest: MLflow server %s healthy after %s (log %s)\n",
		s.URL, s.StartupTime.Round(10*time.Millisecond), s.LogPath)
	*srv = s
	code := m.Run()
	if err := s.Stop(); err != nil {
		fmt.Fprintf(os.Stderr, "mlflowtest: %v\n", err)
		if code == 0 {
			code = 1
		}
	}
	return code
}

// RequireServer returns s, or skips the test with SkipMessage when s is nil (no mlflow binary and not on CI,
// or -short).
func RequireServer(t testing.TB, s *Server) *Server {
	t.Helper()
	switch {
	case s == nil && testutil.Short():
		t.Skip(shortSkip)
	case s == nil:
		t.Skip(SkipMessage)
	}
	return s
}

// mlflowBinary returns $MLREG_MLFLOW, or <repo>/.venv/bin/mlflow, failing with ErrNoMLflow if it is missing,
// and under -short, which starts no server.
func mlflowBinary() (string, error) {
	if testutil.Short() {
		return "", fmt.Errorf("%w: go test -short starts no MLflow server", ErrNoMLflow)
	}
	bin := os.Getenv(EnvMLflow)
	if bin == "" {
		root, err := testutil.RepoRoot()
		if err != nil {
			return "", fmt.Errorf("%w: %w (set %s)", ErrNoMLflow, err, EnvMLflow)
		}
		bin = filepath.Join(root, ".venv", "bin", "mlflow")
	}
	info, err := os.Stat(bin)
	if err != nil {
		return "", fmt.Errorf("%w at %s: %w", ErrNoMLflow, bin, err)
	}
	if info.IsDir() || info.Mode()&0o111 == 0 {
		return "", fmt.Errorf("%w at %s: not an executable file", ErrNoMLflow, bin)
	}
	return bin, nil
}

// freePort returns a free port. On Linux it lies below the kernel's
// ephemeral range (ip_local_port_range), from which the kernel hands out
// ports to listeners on port 0 and to outgoing connections: there no other
// program is given the port while the server restarts on it (Restart), however
// many ports a busy machine hands out meanwhile. Elsewhere it is any free port.
func freePort() (int, error) {
	if low, ok := ephemeralLow(); ok && low > minPort+1000 {
		for range 100 {
			port := minPort + rand.IntN(low-minPort)
			if l, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(port)); err == nil {
				_ = l.Close()
				return port, nil
			}
		}
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("failed to find free port: %w", err)
	}
	defer l.Close() //nolint:errcheck // the listener only found a port
	return l.Addr().(*net.TCPAddr).Port, nil
}

// minPort is the lowest port freePort picks: above the registered services
// most machines run (PostgreSQL's 5432, ...).
const minPort = 10000

// ephemeralLow returns the first port of Linux's ephemeral range.
func ephemeralLow() (int, bool) {
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err != nil {
		return 0, false
	}
	f := strings.Fields(string(b))
	if len(f) != 2 {
		return 0, false
	}
	low, err := strconv.Atoi(f[0])
	return low, err == nil
}

// logTail returns the last n lines of the file at path (or a note saying why it could not be read).
func logTail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Sprintf("(failed to read server log: %v)", err)
	}
	var lines []string
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 64*1024), 1<<20)
	for sc.Scan() {
		lines = append(lines, sc.Text())
		if len(lines) > n {
			lines = lines[1:]
		}
	}
	return strings.Join(lines, "\n")
}
