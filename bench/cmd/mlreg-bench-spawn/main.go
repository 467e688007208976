//go:build unix

// Command mlreg-bench-spawn runs one command and writes its wall time, CPU time and peak RSS to file
// descriptor 3 as "wall_ns user_ns sys_ns maxrss_kib exit_code\n". mlreg-bench measures every tool through it.
//
// Why a separate, minimal program: Linux starts a child's ru_maxrss at the peak RSS of the memory image that
// exec replaced, and Go's os/exec forks with CLONE_VM, so that image is the parent's. A tool started
// straight from the harness (tens of MiB after the fixtures) or from any Go program that imports much would
// report the parent's peak instead of its own. This one imports only os, strconv, syscall and time: its own
// peak is about 2 MiB, below anything it measures. It also takes the wall time without its own start-up.
package main

import (
	"os"
	"strconv"
	"syscall"
	"time"
)

func main() {
	out := os.NewFile(3, "result")
	if out == nil || len(os.Args) < 2 {
		_, _ = os.Stderr.WriteString("usage: mlreg-bench-spawn COMMAND [ARG...] 3>RESULT\n")
		os.Exit(2)
	}
	argv := os.Args[1:]
	attr := &os.ProcAttr{Files: []*os.File{os.Stdin, os.Stdout, os.Stderr}}
	began := time.Now()
	p, err := os.StartProcess(argv[0], argv, attr)
	if err != nil {
		_, _ = os.Stderr.WriteString("mlreg-bench-spawn: failed to start " + argv[0] + ": " + err.Error() + "\n")
		os.Exit(2)
	}
	st, err := p.Wait()
	wall := time.Since(began)
	if err != nil {
		_, _ = os.Stderr.WriteString("mlreg-bench-spawn: failed to wait for " + argv[0] + ": " + err.Error() + "\n")
		os.Exit(2)
	}
	var maxRSS int64
	if ru, ok := st.SysUsage().(*syscall.Rusage); ok && ru != nil {
		maxRSS = int64(ru.Maxrss) // KiB on Linux
	}
	line := strconv.FormatInt(int64(wall), 10) + " " +
		strconv.FormatInt(int64(st.UserTime()), 10) + " " +
		strconv.FormatInt(int64(st.SystemTime()), 10) + " " +
		strconv.FormatInt(maxRSS, 10) + " " +
		strconv.Itoa(st.ExitCode()) + "\n"
	if _, err := out.WriteString(line); err != nil {
		os.Exit(2)
	}
}
