package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"time"
)

// buildSpawner builds bench/cmd/mlreg-bench-spawn into dir with the Go toolchain that built this harness,
// unless path already names an executable, and returns the spawner's path.
func buildSpawner(ctx context.Context, path, dir string) (string, error) {
	return buildTool(ctx, path, dir, "mlreg-bench-spawn")
}

// buildTool builds bench/cmd/<name> into dir (static, stripped, as make build builds mlreg-action) unless
// path already names an executable, and returns its path.
func buildTool(ctx context.Context, path, dir, name string) (string, error) {
	if path != "" {
		if info, err := os.Stat(path); err == nil && !info.IsDir() && info.Mode()&0o111 != 0 {
			return filepath.Abs(path)
		}
	}
	out := filepath.Join(dir, name)
	// go run built this harness on this machine, so the build's GOROOT is where its go command lives.
	goBin := filepath.Join(runtime.GOROOT(), "bin", "go") //nolint:staticcheck // SA1019: see above
	if _, err := os.Stat(goBin); err != nil {
		goBin = "go"
	}
	cmd := exec.CommandContext(ctx, goBin, "build", "-trimpath", "-ldflags=-s -w", "-o", out,
		"github.com/mlreg/mlreg-action/bench/cmd/"+name)
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("failed to build %s: %w\n%s", name, err, b)
	}
	return out, nil
}

// runChild runs one process to completion through the spawner (see bench/cmd/mlreg-bench-spawn) and
// measures it: wall time from fork to exit, user and system CPU time, peak RSS.
func (b *bench) runChild(ctx context.Context, dir string, argv []string) (*sample, string, error) {
	r, w, err := os.Pipe()
	if err != nil {
		return nil, "", fmt.Errorf("failed to create the result pipe: %w", err)
	}
	defer r.Close()                                     //nolint:errcheck // the read end of a pipe: nothing to lose on close
	cmd := exec.CommandContext(ctx, b.spawner, argv...) //nolint:gosec // the benchmark runs the configured tools
	cmd.Dir = dir
	cmd.Env = childEnv()
	cmd.ExtraFiles = []*os.File{w}
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	runErr := cmd.Run()
	_ = w.Close()
	line, _ := bufio.NewReader(r).ReadString('\n')
	var wall, user, sys, rss int64
	var code int
	if _, err := fmt.Sscan(line, &wall, &user, &sys, &rss, &code); err != nil {
		return nil, out.String(), fmt.Errorf("failed to run %s (spawner: %w): %w", filepath.Base(argv[0]), runErr, err)
	}
	s := &sample{Wall: time.Duration(wall), User: time.Duration(user), Sys: time.Duration(sys), MaxRSSKiB: rss}
	if code != 0 {
		return s, out.String(), fmt.Errorf("failed to run %s: exit status %d", filepath.Base(argv[0]), code)
	}
	if runErr != nil {
		return s, out.String(), fmt.Errorf("failed to run the spawner: %w", runErr)
	}
	return s, out.String(), nil
}
