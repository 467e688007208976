package mlflowtest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/mlreg/mlreg-action/internal/testing/testutil"
)

// EnvPostgresBin names the environment variable that overrides the directory holding initdb, pg_ctl and
// createdb (e.g. /usr/lib/postgresql/15/bin).
const EnvPostgresBin = "MLREG_POSTGRES_BIN"

// ErrNoPostgres is returned (wrapped) by StartPostgres when the PostgreSQL server binaries are not installed
// (`apt-get install -y postgresql`).
var ErrNoPostgres = errors.New("postgresql server binaries not found")

const (
	pgStartTimeout = StartLimit
	pgUser         = "postgres"
)

// Postgres is a throwaway PostgreSQL cluster in a temporary directory, listening on 127.0.0.1 only, with
// trust authentication for the superuser "postgres" and fsync off. MLflow reaches it with URI(db) once
// psycopg2 (psycopg2-binary) is in the MLflow virtual environment.
type Postgres struct {
	// Port is the TCP port on 127.0.0.1.
	Port int
	// LogPath is the server log; it is removed with the cluster by Stop.
	LogPath string
	// StartupTime is how long initdb and pg_ctl start took.
	StartupTime time.Duration
	// BinDir holds the server binaries used (initdb, pg_ctl, postgres, createdb).
	BinDir string

	tmpDir  string
	dataDir string
	runAs   []string // "runuser -u postgres --" when we are root, else empty

	stopOnce sync.Once
	stopErr  error
}

// StartPostgres creates a cluster with initdb in a new temporary directory and starts it with pg_ctl on a free
// 127.0.0.1 port. PostgreSQL refuses to run as root, so as root both run as the "postgres" user (through
// runuser) in a directory that user owns. The caller must call Stop. A missing installation gives an error
// wrapping ErrNoPostgres, and so does -short, which starts no service.
func StartPostgres(ctx context.Context) (*Postgres, error) {
	binDir, err := postgresBinDir()
	if err != nil {
		return nil, err
	}
	var lastErr error
	for attempt := 0; attempt < portRetries; attempt++ {
		p, err := startPostgresOnce(ctx, binDir)
		if err == nil {
			return p, nil
		}
		lastErr = err
		if !errors.Is(err, errPortInUse) {
			break
		}
	}
	return nil, lastErr
}

func startPostgresOnce(ctx context.Context, binDir string) (_ *Postgres, retErr error) {
	began := time.Now()
	tmpDir, err := os.MkdirTemp("", "mlflowtest-pg-*")
	if err != nil {
		return nil, fmt.Errorf("failed to create temp dir: %w", err)
	}
	p := &Postgres{
		BinDir:  binDir,
		tmpDir:  tmpDir,
		dataDir: filepath.Join(tmpDir, "data"),
		LogPath: filepath.Join(tmpDir, "postgres.log"),
	}
	defer func() {
		if retErr != nil {
			_ = os.RemoveAll(tmpDir)
		}
	}()

	if os.Geteuid() == 0 {
		if err := chownToPostgres(tmpDir); err != nil {
			return nil, err
		}
		p.runAs = []string{"runuser", "-u", pgUser, "--"}
	}

	initdb := []string{filepath.Join(binDir, "initdb"), "-D", p.dataDir, "-U", pgUser, "-A", "trust",
		"-E", "UTF8", "--locale=C", "--no-sync"}
	if out, err := p.command(ctx, initdb...).CombinedOutput(); err != nil {
		return nil, fmt.Errorf("failed to run initdb: %w\n%s", err, strings.TrimSpace(string(out)))
	}

	port, err := freePort()
	if err != nil {
		return nil, err
	}
	p.Port = port
	// The socket directory is the temp dir: /var/run/postgresql may not exist or belong to us.
	opts := strings.Join([]string{
		"-c listen_addresses=127.0.0.1",
		"-c port=" + strconv.Itoa(port),
		"-c unix_socket_directories=" + tmpDir,
		"-c fsync=off",
		"-c synchronous_commit=off",
		"-c full_page_writes=off",
		"-c max_connections=200",
	}, " ")
	start := []string{filepath.Join(binDir, "pg_ctl"), "-D", p.dataDir, "-l", p.LogPath, "-o", opts,
		"-w", "-t", strconv.Itoa(int(pgStartTimeout.Seconds())), "start"}
	if out, err := p.command(ctx, start...).CombinedOutput(); err != nil {
		tail := logTail(p.LogPath, logTailLines)
		err = fmt.Errorf("failed to start postgres: %w\n%s\n--- last %d lines of %s ---\n%s",
			err, strings.TrimSpace(string(out)), logTailLines, p.LogPath, tail)
		_ = p.pgCtlStop()
		if strings.Contains(strings.ToLower(tail), "address already in use") {
			err = fmt.Errorf("%w: %w", errPortInUse, err)
		}
		return nil, err
	}
	if err := p.waitReady(ctx); err != nil {
		_ = p.pgCtlStop()
		return nil, err
	}
	p.StartupTime = time.Since(began)
	return p, nil
}

// URI returns the SQLAlchemy URI MLflow takes as --backend-store-uri for database db. It names the psycopg2
// driver: SQLAlchemy 2.1 maps a bare postgresql:// to psycopg 3, which the venv does not install.
func (p *Postgres) URI(db string) string {
	return fmt.Sprintf("postgresql+psycopg2://%s@127.0.0.1:%d/%s", pgUser, p.Port, db)
}

// CreateDatabase creates database db (createdb over TCP as the superuser).
func (p *Postgres) CreateDatabase(ctx context.Context, db string) error {
	args := []string{"-h", "127.0.0.1", "-p", strconv.Itoa(p.Port), "-U", pgUser, db}
	cmd := exec.CommandContext(ctx, filepath.Join(p.BinDir, "createdb"), args...) //nolint:gosec // test harness
	cmd.Env = append(os.Environ(), "PGCONNECT_TIMEOUT=10")
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("failed to create database %q: %w: %s", db, err, strings.TrimSpace(string(out)))
	}
	return nil
}

// Stop shuts the cluster down (pg_ctl stop -m fast) and removes its directory. It is safe to call more than once.
func (p *Postgres) Stop() error {
	if p == nil {
		return nil
	}
	p.stopOnce.Do(func() {
		err := p.pgCtlStop()
		if rerr := os.RemoveAll(p.tmpDir); rerr != nil && err == nil {
			err = fmt.Errorf("failed to remove postgres temp dir: %w", rerr)
		}
		p.stopErr = err
	})
	return p.stopErr
}

func (p *Postgres) pgCtlStop() error {
	if _, err := os.Stat(filepath.Join(p.dataDir, "postmaster.pid")); err != nil {
		return nil // never started, or already stopped
	}
	ctx, cancel := context.WithTimeout(context.Background(), pgStartTimeout)
	defer cancel()
	stop := []string{filepath.Join(p.BinDir, "pg_ctl"), "-D", p.dataDir, "-m", "fast", "-w", "stop"}
	if out, err := p.command(ctx, stop...).CombinedOutput(); err != nil {
		return fmt.Errorf("failed to stop postgres: %w: %s", err, strings.TrimSpace(string(out)))
	}
	return nil
}

// waitReady dials the port until it accepts a connection: pg_ctl -w has already waited for the server to
// accept connections, so this is a cheap guard against a cluster that answers on the socket only.
func (p *Postgres) waitReady(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, pgStartTimeout)
	defer cancel()
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(p.Port))
	for {
		conn, err := (&net.Dialer{Timeout: time.Second}).DialContext(ctx, "tcp", addr)
		if err == nil {
			_ = conn.Close()
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("failed to reach postgres on %s: %w", addr, err)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// command runs a server binary, as the postgres user when we are root.
func (p *Postgres) command(ctx context.Context, args ...string) *exec.Cmd {
	full := append(append([]string{}, p.runAs...), args...)
	cmd := exec.CommandContext(ctx, full[0], full[1:]...) //nolint:gosec // test harness runs the PostgreSQL binaries
	cmd.Dir = p.tmpDir
	cmd.Env = append(os.Environ(), "LC_ALL=C")
	return cmd
}

func chownToPostgres(dir string) error {
	u, err := user.Lookup(pgUser)
	if err != nil {
		return fmt.Errorf("%w: failed to look up user %q (running as root needs it): %w", ErrNoPostgres, pgUser, err)
	}
	uid, err := strconv.Atoi(u.Uid)
	if err != nil {
		return fmt.Errorf("failed to parse uid of %q: %w", pgUser, err)
	}
	gid, err := strconv.Atoi(u.Gid)
	if err != nil {
		return fmt.Errorf("failed to parse gid of %q: %w", pgUser, err)
	}
	if err := os.Chown(dir, uid, gid); err != nil {
		return fmt.Errorf("failed to chown %s to %s: %w", dir, pgUser, err)
	}
	return nil
}

// postgresBinDir finds the directory holding initdb and pg_ctl: $MLREG_POSTGRES_BIN, then `pg_config
// --bindir`, then the newest /usr/lib/postgresql/<major>/bin, then PATH.
func postgresBinDir() (string, error) {
	if testutil.Short() {
		return "", fmt.Errorf("%w: go test -short starts no PostgreSQL", ErrNoPostgres)
	}
	has := func(dir string) bool {
		for _, b := range []string{"initdb", "pg_ctl", "createdb"} {
			if info, err := os.Stat(filepath.Join(dir, b)); err != nil || info.IsDir() {
				return false
			}
		}
		return true
	}
	if dir := os.Getenv(EnvPostgresBin); dir != "" {
		if has(dir) {
			return dir, nil
		}
		return "", fmt.Errorf("%w in $%s=%s", ErrNoPostgres, EnvPostgresBin, dir)
	}
	var candidates []string
	if out, err := exec.Command("pg_config", "--bindir").Output(); err == nil {
		candidates = append(candidates, strings.TrimSpace(string(out)))
	}
	versions, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Slice(versions, func(i, j int) bool { return pgMajor(versions[i]) > pgMajor(versions[j]) })
	candidates = append(candidates, versions...)
	if initdb, err := exec.LookPath("initdb"); err == nil {
		if real, err := filepath.EvalSymlinks(initdb); err == nil {
			candidates = append(candidates, filepath.Dir(real))
		}
	}
	for _, dir := range candidates {
		if dir != "" && has(dir) {
			return dir, nil
		}
	}
	return "", fmt.Errorf("%w (apt-get install -y postgresql, or set %s)", ErrNoPostgres, EnvPostgresBin)
}

// pgMajor extracts <major> from /usr/lib/postgresql/<major>/bin (0 when it is not a number).
func pgMajor(binDir string) int {
	n, _ := strconv.Atoi(filepath.Base(filepath.Dir(binDir)))
	return n
}
