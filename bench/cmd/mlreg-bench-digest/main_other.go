//go:build !linux

// Command mlreg-bench-digest measures the model digest against curl | sha256sum; it reads peak RSS from
// Linux's rusage, so it runs on Linux only.
package main

import (
	"fmt"
	"os"
)

func main() {
	fmt.Fprintln(os.Stderr, "mlreg-bench-digest: Linux only")
	os.Exit(1)
}
