//go:build !unix

package main

import "os"

func main() {
	os.Stderr.WriteString("mlreg-bench-spawn: needs a Unix system (wait4 rusage)\n")
	os.Exit(2)
}
