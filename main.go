// Command mlreg-action governs promotions of model versions in an MLflow Model
// Registry, as a GitHub Action (a container step) and as a command-line tool.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/mlreg/mlreg-action/internal/action"
)

// version is stamped at build time: -ldflags "-X main.version=v1.2.3".
var version = "dev"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := action.Main(ctx, action.Env{
		Args:    os.Args[1:],
		Getenv:  os.Getenv,
		Stdout:  os.Stdout,
		Stderr:  os.Stderr,
		Version: version,
	})
	stop()
	os.Exit(code)
}
