//go:build linux

package mlflowtest

import "syscall"

// setParentDeathSignal makes the kernel send SIGTERM to the mlflow CLI if the test binary dies without Stop
// (a `go test -timeout` panic, a kill). The CLI forwards SIGTERM to its uvicorn server, so no server is left
// behind. Best effort: Linux sends it when the OS thread that started the process exits, which Go threads
// normally do not.
func setParentDeathSignal(attr *syscall.SysProcAttr) {
	attr.Pdeathsig = syscall.SIGTERM
}
